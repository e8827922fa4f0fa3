"""openbmb/UltraFeedback: one row per instruction with (usually 4) `completions`, each rated by GPT-4 on four
aspects (``annotations.<aspect>.Rating``, a string that may be "N/A").

Two published shapes of ``annotations.<aspect>``: one ``{Rating, Rationale, ...}`` object (the hub dataset
today), or a list of them -- upstream's own annotate_preference.py (OpenBMB/UltraFeedback,
src/data_annotation/annotate_preference.py, commit e662fd29) starts each aspect as ``[]`` and appends one
object per shuffled annotation pass, and the first public copies kept that list. A list's ratings are averaged
(one pass, the upstream default: its single rating).

A completion's score is the mean of its fine-grained aspect ratings, "N/A" left out (recipe: "use the
fine-grained score instead of the overall one"); a completion with no rating takes part in no pair.

Options:
- ``pairing`` ("all_pairs"): ``best_vs_random`` (v1) or ``all_pairs`` (v2: up to 6 pairs per prompt).
- ``random_pool`` ("others"): the best's random opponent is drawn from every other rated completion
  ("others": recipe wording, equal draws dropped after) or only strictly lower-rated ones ("lower", argilla).
- ``drop_equal_scores`` (true): drop pairs whose two completions have the same mean rating.
- ``aspects``: which annotation aspects are averaged.
"""

from __future__ import annotations

import functools
from typing import Any

import datasets

from rewardlab.data.pairing import is_equal_score, mean_rating, parse_rating, rng_for, select_pairs
from rewardlab.data.schema import DropReason, DropReport, PreferencePair, RowRejected, make_pair
from rewardlab.data.sources.streaming import ConvertContext, Reason, SourceInfo, map_to_pairs, require_columns

ASPECTS = ["helpfulness", "honesty", "instruction_following", "truthfulness"]


def aspect_rating(annotation: Any, field: str) -> float | None:
    """One aspect's rating from either published shape (object, or list of objects); None when unrated."""
    if annotation is None:
        return None
    if isinstance(annotation, dict):
        return parse_rating(annotation.get("Rating"))
    if isinstance(annotation, list):
        if not all(isinstance(a, dict) for a in annotation):
            raise RowRejected(DropReason.BAD_TYPE, field, "expected a list of {Rating, Rationale} objects")
        return mean_rating(a.get("Rating") for a in annotation)
    raise RowRejected(DropReason.BAD_TYPE, field, f"expected an object or a list, got {type(annotation).__name__}")


def completion_score(completion: dict[str, Any], aspects: list[str], field: str = "completion") -> float | None:
    """Mean of a completion's aspect ratings (None when none is rated)."""
    annotations = completion.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise RowRejected(DropReason.BAD_TYPE, f"{field}.annotations", "expected an object of aspects")
    return mean_rating(aspect_rating(annotations.get(a), f"{field}.annotations.{a}") for a in aspects)


def _row(row: dict[str, Any], idx: int, source: str, seed: int, options: dict[str, Any]) -> list[Any]:
    completions = row["completions"]
    if not isinstance(completions, list):
        raise RowRejected(DropReason.BAD_TYPE, "completions", "expected a list")
    if not isinstance(row["instruction"], str):
        raise RowRejected(DropReason.BAD_TYPE, "instruction", "expected a string")
    if not all(isinstance(c, dict) or c is None for c in completions):
        raise RowRejected(DropReason.BAD_TYPE, "completions", "expected a list of completion objects")
    scores = [completion_score(c or {}, options["aspects"], f"completions[{i}]") for i, c in enumerate(completions)]
    pairs = select_pairs(scores, options["pairing"], rng_for(seed, source, idx), options["random_pool"])
    if not pairs:
        raise RowRejected(Reason.NO_PAIR, "completions")
    out: list[PreferencePair | RowRejected] = []
    for a, b in pairs:
        if options["drop_equal_scores"] and is_equal_score(scores, (a, b)):
            out.append(RowRejected(DropReason.EQUAL_SCORES, f"completions[{a}]/[{b}]"))
            continue
        try:
            out.append(
                make_pair(
                    [{"role": "user", "content": row["instruction"]}],
                    completions[a].get("response"),
                    completions[b].get("response"),
                    source=source,
                    context_field="instruction",
                )
            )
        except RowRejected as e:
            out.append(RowRejected(e.reason, f"completions[{a}]/[{b}].response", e.detail))
    return out


def convert(ds: datasets.Dataset, options: dict[str, Any], ctx: ConvertContext) -> tuple[datasets.Dataset, DropReport]:
    """Each row ranks its own completions, so rows convert independently (no grouping step)."""
    require_columns(ds, ["instruction", "completions"], ctx.label)
    return map_to_pairs(ds, functools.partial(_row, source=ctx.source, seed=ctx.seed, options=options), ctx)


SOURCES = [
    SourceInfo(
        "ultrafeedback",
        "openbmb/UltraFeedback",
        "train",
        convert,
        hub_rows=63967,
        options={"pairing": "all_pairs", "random_pool": "others", "drop_equal_scores": True, "aspects": list(ASPECTS)},
    ),
]
