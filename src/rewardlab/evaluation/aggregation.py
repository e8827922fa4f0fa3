"""Pure scoring arithmetic: per-row outcomes, subset accuracies, section scores, the overall score.

Every function here takes numbers and returns numbers. Section and overall functions accept floats or numpy
arrays of bootstrap replicates (shape ``(B,)``) alike, so the same code yields point estimates and intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np

from rewardlab.evaluation.constants import LEADERBOARD_WEIGHTS, SECTIONS, TIE_POLICIES
from rewardlab.metrics import pair_outcomes

Score = TypeVar("Score", float, np.ndarray)


def tie_credit(tie_policy: str) -> float:
    if tie_policy not in TIE_POLICIES:
        raise ValueError(f"tie_policy must be one of {sorted(TIE_POLICIES)}, got {tie_policy!r}")
    return TIE_POLICIES[tie_policy]


def pairwise_outcomes(chosen: Sequence[float], rejected: Sequence[float], tie_policy: str = "wrong") -> np.ndarray:
    """(n,) credits: 1 if r_chosen > r_rejected, 0 if lower; a tie is 0 ('wrong', official) or 0.5 ('half')."""
    return pair_outcomes(chosen, rejected, tie_credit(tie_policy))


def best_of_n_outcome(scores: Sequence[float]) -> float:
    """RewardBench 2 row credit; ``scores[0]`` is the chosen response, the rest are rejected.

    1 / (number of responses tied at the maximum) when the chosen is at the maximum, else 0.
    """
    s = np.asarray(scores, dtype=np.float64)
    top = s.max()
    return float(1.0 / np.count_nonzero(s == top)) if s[0] == top else 0.0


def mean_or_nan(values: Sequence[float] | np.ndarray) -> float:
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()) if v.size else float("nan")


def section_scores(
    metrics: Mapping[str, Score],
    weights: Mapping[str, float] = LEADERBOARD_WEIGHTS,
    sections: Mapping[str, Sequence[str]] = SECTIONS,
) -> dict[str, Score]:
    """Weighted mean of the subset scores in each section (upstream `calculate_scores_per_section`).

    Subsets absent from `metrics` are left out of their section's average, as upstream does. A section with no
    subset present is omitted (upstream reports 0 for it, which would drag the overall score down).
    """
    out: dict[str, Score] = {}
    for section, subsets in sections.items():
        present = [s for s in subsets if s in metrics]
        if not present:
            continue
        total = sum(weights[s] for s in present)
        out[section] = sum(metrics[s] * weights[s] for s in present) / total
    return out


def overall_score(sections: Mapping[str, Score], section_weights: Mapping[str, float] | None = None) -> Score:
    """Mean of the section scores: unweighted (RewardBench v1/v2) or weighted, over the sections present.

    The old leaderboard weighted Chat, Chat Hard, Safety, Reasoning, Prior Sets as 2, 2, 2, 2, 1.
    """
    if not sections:
        raise ValueError("no section scores to average")
    w = {k: 1.0 if section_weights is None else float(section_weights[k]) for k in sections}
    return sum(sections[k] * w[k] for k in sections) / sum(w.values())


# --- RewardBench 2, Ties subset ---------------------------------------------------------------------------------
# As upstream (allenai/reward-bench `rewardbench/utils.py` `process_single_model` and `_compute_prompt_stats`, at
# 05a9005): row ids are "ref:<pid>" (the prompt with one reference answer) and "tied:<pid>" (several equally valid
# answers); in each row the first `num_correct` scores are correct answers, the rest incorrect. Rows sharing an id
# are pooled into one prompt. Per prompt: margin m = worst correct - best incorrect, accurate = m > 0, spread
# d = best correct - worst correct (with more than one correct answer). Score = 0.3 acc(tied) + 0.3 acc(ref)
# + 0.2 P[m_tied > d] + 0.2 P[min(m_ref, m_tied) > d] + 0.01 mean tanh(min(m_ref, m_tied) / d - 1), the last
# three over the prompts having both a ref and a tied row; where d = 0 the tanh term is the sign of the margin
# (numpy's x / 0 = +-inf, and 0 / 0 = nan counted 0).


def ties_row_id(row_id: str) -> tuple[str, int]:
    """("ref" | "tied", prompt id) of a Ties row id such as "tied:17"."""
    parts = str(row_id).split(":")
    try:
        if len(parts) != 2 or parts[0] not in ("ref", "tied"):
            raise ValueError
        return parts[0], int(parts[1])
    except ValueError:
        raise ValueError(f"Ties row id {row_id!r} is not of the form 'ref:<int>' or 'tied:<int>'") from None


def _prompt_stats(samples: Sequence[tuple[bool, float]], key: str) -> tuple[bool, float | None, float]:
    """(accurate, spread of the correct answers or None, correct-incorrect margin) of one pooled Ties prompt."""
    correct = [s for is_correct, s in samples if is_correct]
    incorrect = [s for is_correct, s in samples if not is_correct]
    if not correct or not incorrect:
        raise ValueError(
            f"Ties row {key}: needs at least one correct and one incorrect answer, got {len(correct)} correct "
            f"and {len(incorrect)} incorrect (check num_correct)"
        )
    worst_correct = min(correct)
    margin = worst_correct - max(incorrect)
    spread = max(correct) - worst_correct if len(correct) > 1 else None
    return margin > 0, spread, margin


def _margin_term(margin: float, spread: float) -> float:
    """tanh(margin / spread - 1) in float64 as upstream computes it: +-1 for spread 0 (margin != 0), else 0."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        value = np.tanh(np.float64(margin) / np.float64(spread) - 1.0)
    return 0.0 if np.isnan(value) else float(value)


def ties_table(rows: Sequence[tuple[str, Sequence[float], int]]) -> dict[str, np.ndarray]:
    """Per-prompt indicator and value columns (each shape (P,)) for rows ``(id, scores, num_correct)``."""
    groups: dict[tuple[str, int], list[tuple[bool, float]]] = {}
    for row_id, scores, num_correct in rows:
        samples = groups.setdefault(ties_row_id(row_id), [])
        samples.extend((i < int(num_correct), float(s)) for i, s in enumerate(scores))
    stats: dict[str, dict[int, tuple[bool, float | None, float]]] = {"ref": {}, "tied": {}}
    for (kind, pid), samples in groups.items():
        stats[kind][pid] = _prompt_stats(samples, f"{kind}:{pid}")
    names = ("has_ref", "ref_acc", "has_tied", "tied_acc", "has_both", "preferred", "preferred_hard", "margin_score")
    cols: dict[str, list[float]] = {k: [] for k in names}
    for pid in sorted(set(stats["ref"]) | set(stats["tied"])):
        ref, tied = stats["ref"].get(pid), stats["tied"].get(pid)
        both = ref is not None and tied is not None
        if both and tied[1] is None:
            # upstream compares with None here and fails; real Ties data always has several correct answers
            raise ValueError(
                f"Ties prompt {pid}: the tied row holds a single correct answer, so the spread between correct "
                "answers that the margin terms use is undefined"
            )
        spread = tied[1] if both else 0.0
        margin = min(ref[2], tied[2]) if both else 0.0
        cols["has_ref"].append(ref is not None)
        cols["ref_acc"].append(bool(ref and ref[0]))
        cols["has_tied"].append(tied is not None)
        cols["tied_acc"].append(bool(tied and tied[0]))
        cols["has_both"].append(both)
        cols["preferred"].append(both and tied[2] > spread)
        cols["preferred_hard"].append(both and margin > spread)
        cols["margin_score"].append(_margin_term(margin, spread) if both else 0.0)
    return {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}


def _ratio(table: dict[str, np.ndarray], value: str, mask: str, idx: np.ndarray | None) -> float | np.ndarray:
    """mean of `value` over units with `mask`, for the sample (idx None) or each resample row of idx (B, P)."""
    num, den = table[value] * table[mask], table[mask]
    if idx is None:
        return float(num.sum() / den.sum()) if den.sum() else 0.0
    n, d = num[idx].sum(axis=1), den[idx].sum(axis=1)
    return np.divide(n, d, out=np.zeros_like(n), where=d > 0)


def ties_score_from_table(table: dict[str, np.ndarray], idx: np.ndarray | None = None) -> float | np.ndarray:
    """The Ties score of `ties_table` output; with `idx` (B, P) of resampled prompt indices, B scores.

    An empty average counts 0 (upstream's np.mean([]) would give nan; real Ties data never hits this).
    """
    return (
        0.3 * _ratio(table, "tied_acc", "has_tied", idx)
        + 0.3 * _ratio(table, "ref_acc", "has_ref", idx)
        + 0.2 * _ratio(table, "preferred", "has_both", idx)
        + 0.2 * _ratio(table, "preferred_hard", "has_both", idx)
        + 0.01 * _ratio(table, "margin_score", "has_both", idx)
    )


def ties_score(rows: Sequence[tuple[str, Sequence[float], int]]) -> float:
    """RewardBench 2 Ties subset score of rows ``(id, scores, num_correct)``."""
    return float(ties_score_from_table(ties_table(rows)))
