"""Selection rules of recipe section 3, as small pure functions over scores.

The converters keep only scores and indices in memory and decide here which responses form a pair; the texts
stay in Arrow. Every random draw goes through `rng_for(seed, *key)`, keyed by the source and the row or prompt,
so the result does not depend on batch sizes, process counts or the order rows are visited in.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from typing import Any

PAIRING_MODES = ("best_vs_random", "all_pairs")
RANDOM_POOLS = ("others", "lower")
SHP_PICKS = ("random", "highest_ratio", "first")
PKU_PREFERENCES = ("safe_then_better", "safer", "better", "agree")


def rng_for(seed: int, *key: Any) -> random.Random:
    """A generator seeded by `seed` and `key` (str seeds hash with SHA-512, stable across runs and processes)."""
    return random.Random(":".join(map(str, (seed, *key))))


def parse_rating(value: Any) -> float | None:
    """A rating as a float; ``"N/A"``, empty, None or NaN mean "not rated" (UltraFeedback writes ``"N/A"``)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value or value.upper() == "N/A":
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def mean_rating(ratings: Iterable[Any]) -> float | None:
    """Mean of the ratings that are present; None when none is (so the response cannot be ranked)."""
    values = [v for v in map(parse_rating, ratings) if v is not None]
    return sum(values) / len(values) if values else None


def helpsteer_score(helpfulness: Any, correctness: Any) -> float | None:
    """HelpSteer rank key: the mean of helpfulness and correctness (recipe 3.2); None if either is missing."""
    h, c = parse_rating(helpfulness), parse_rating(correctness)
    return None if h is None or c is None else (h + c) / 2


def best_vs_random(scores: Sequence[float | None], rng: random.Random, pool: str = "others") -> list[tuple[int, int]]:
    """``[(best, other)]``: the top-scored response against one drawn at random.

    `pool` says what "random" draws from: ``"others"`` = any other rated response (the recipe's wording, "the
    random chosen one in the remaining samples"; equal-score draws are dropped afterwards), ``"lower"`` = only
    responses scored strictly lower (argilla's binarization). Ties for best go to the first. Unrated (None)
    responses take part in nothing.
    """
    if pool not in RANDOM_POOLS:
        raise ValueError(f"random pool must be one of {RANDOM_POOLS}, got {pool!r}")
    rated = [i for i, s in enumerate(scores) if s is not None]
    if len(rated) < 2:
        return []
    best = max(rated, key=lambda i: (scores[i], -i))
    candidates = [i for i in rated if i != best and (pool == "others" or scores[i] < scores[best])]
    if not candidates:
        return []
    return [(best, rng.choice(candidates))]


def all_pairs(scores: Sequence[float | None]) -> list[tuple[int, int]]:
    """Every pair of rated responses as ``(higher, lower)``; equal scores keep index order (drop them after)."""
    rated = [i for i, s in enumerate(scores) if s is not None]
    out = []
    for a_pos, a in enumerate(rated):
        for b in rated[a_pos + 1 :]:
            out.append((b, a) if scores[b] > scores[a] else (a, b))
    return out


def select_pairs(
    scores: Sequence[float | None], mode: str, rng: random.Random, pool: str = "others"
) -> list[tuple[int, int]]:
    """Dispatch to `best_vs_random` or `all_pairs` (the two multi-response rules of the recipe)."""
    if mode == "best_vs_random":
        return best_vs_random(scores, rng, pool)
    if mode == "all_pairs":
        return all_pairs(scores)
    raise ValueError(f"pairing must be one of {PAIRING_MODES}, got {mode!r}")


def is_equal_score(scores: Sequence[float | None], pair: tuple[int, int]) -> bool:
    """True when both sides of `pair` score the same: such a pair carries no preference and is dropped."""
    return scores[pair[0]] == scores[pair[1]]


def shp_select(
    post_ids: Sequence[Any],
    score_ratios: Sequence[Any],
    min_ratio: float = 2.0,
    max_per_prompt: int | None = 1,
    pick: str = "random",
    seed: int = 0,
) -> list[int]:
    """Row indices of SHP kept: ``score_ratio > min_ratio`` and at most `max_per_prompt` rows per post.

    Which rows a post keeps when it has more: ``"random"`` (seeded per post), ``"highest_ratio"`` (clearest
    preferences first, ties by row order) or ``"first"`` (row order). The result is in row order.
    """
    if pick not in SHP_PICKS:
        raise ValueError(f"pick must be one of {SHP_PICKS}, got {pick!r}")
    if max_per_prompt is not None and max_per_prompt < 1:
        raise ValueError(f"max_pairs_per_prompt must be >= 1 or null, got {max_per_prompt}")
    groups: dict[Any, list[int]] = {}
    for i, (post, ratio) in enumerate(zip(post_ids, score_ratios, strict=True)):
        r = parse_rating(ratio)
        if r is not None and r > min_ratio:
            groups.setdefault(post, []).append(i)
    kept: list[int] = []
    for post, rows in groups.items():
        if max_per_prompt is None or len(rows) <= max_per_prompt:
            kept.extend(rows)
        elif pick == "first":
            kept.extend(rows[:max_per_prompt])
        elif pick == "highest_ratio":
            kept.extend(sorted(rows, key=lambda i: (-float(score_ratios[i]), i))[:max_per_prompt])
        else:
            kept.extend(rng_for(seed, "shp", post).sample(rows, max_per_prompt))
    return sorted(kept)


def pku_pair(
    better_id: Any, safer_id: Any, preference: str = "safe_then_better", is_safe: Sequence[Any] | None = None
) -> tuple[int, int] | None:
    """``(chosen, rejected)`` response ids of a PKU-SafeRLHF row, or None when the row is not used.

    ``"safe_then_better"`` (the default): `safer_response_id` when exactly one response is safe (the
    ``is_response_<i>_safe`` flags, given as `is_safe`), else `better_response_id` -- two safe (or two unsafe)
    responses are ranked by helpfulness, not by a safety label that has nothing to tell apart. None when the
    flags say one is safe but `safer_response_id` points at the other. ``"safer"`` always follows
    `safer_response_id`, ``"better"`` always `better_response_id`, ``"agree"`` keeps only rows where both
    labels pick the same response.
    """
    if preference not in PKU_PREFERENCES:
        raise ValueError(f"preference must be one of {PKU_PREFERENCES}, got {preference!r}")
    ids = {"better": better_id, "safer": safer_id}
    for name, value in ids.items():
        if isinstance(value, bool) or value not in (0, 1):
            raise ValueError(f"{name}_response_id must be 0 or 1, got {value!r}")
    if preference == "safe_then_better":
        if is_safe is None or len(is_safe) != 2:
            raise ValueError("safe_then_better needs both is_response_<i>_safe flags")
        for i, flag in enumerate(is_safe):
            if not isinstance(flag, bool):
                raise ValueError(f"is_response_{i}_safe must be true or false, got {flag!r}")
        if is_safe[0] == is_safe[1]:
            winner = better_id
        elif is_safe[safer_id]:
            winner = safer_id
        else:
            return None
    elif preference == "agree":
        if better_id != safer_id:
            return None
        winner = better_id
    else:
        winner = ids[preference]
    return winner, 1 - winner
