"""openbmb/UltraFeedback: one row per instruction with (usually 4) `completions`, each rated by GPT-4 on four
aspects (``annotations.<aspect>.Rating``, a string that may be "N/A").

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

from rewardlab.data.pairing import is_equal_score, mean_rating, rng_for, select_pairs
from rewardlab.data.schema import DropReason, DropReport, PreferencePair, RowRejected, make_pair
from rewardlab.data.sources.streaming import ConvertContext, Reason, SourceInfo, map_to_pairs, require_columns

ASPECTS = ["helpfulness", "honesty", "instruction_following", "truthfulness"]


def completion_score(completion: dict[str, Any], aspects: list[str]) -> float | None:
    """Mean of a completion's aspect ratings (None when none is rated)."""
    annotations = completion.get("annotations") or {}
    return mean_rating((annotations.get(a) or {}).get("Rating") for a in aspects)


def _row(row: dict[str, Any], idx: int, source: str, seed: int, options: dict[str, Any]) -> list[Any]:
    completions = row["completions"]
    if not isinstance(completions, list):
        raise RowRejected(DropReason.BAD_TYPE, "completions", "expected a list")
    if not isinstance(row["instruction"], str):
        raise RowRejected(DropReason.BAD_TYPE, "instruction", "expected a string")
    scores = [completion_score(c or {}, options["aspects"]) for c in completions]
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
