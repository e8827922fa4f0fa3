"""argilla/ultrafeedback-binarized-preferences-cleaned: already binarized (best by mean rating vs a random lower
one), TruthfulQA prompts removed. Columns: `source`, `prompt`, `chosen`/`rejected` ([user, assistant]
messages), `chosen-rating`, `rejected-rating`, `chosen-model`, `rejected-model`.

Options:
- ``drop_equal_scores`` (true): drop rows whose chosen and rejected ratings are equal.
"""

from __future__ import annotations

import functools
from typing import Any

import datasets

from rewardlab.data.pairing import parse_rating
from rewardlab.data.readers import row_to_pair
from rewardlab.data.schema import DropReason, DropReport, PreferencePair, RowRejected
from rewardlab.data.sources.streaming import ConvertContext, SourceInfo, map_to_pairs, require_columns

COLUMNS = ["prompt", "chosen", "rejected", "chosen-rating", "rejected-rating"]


def _row(row: dict[str, Any], idx: int, source: str, options: dict[str, Any]) -> list[PreferencePair]:
    if options["drop_equal_scores"]:
        c, r = parse_rating(row["chosen-rating"]), parse_rating(row["rejected-rating"])
        if c is None or r is None:
            raise RowRejected(DropReason.MISSING_FIELD, "chosen-rating" if c is None else "rejected-rating")
        if c == r:
            raise RowRejected(DropReason.EQUAL_SCORES, "chosen-rating/rejected-rating")
    return [row_to_pair({"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"]}, source)]


def convert(ds: datasets.Dataset, options: dict[str, Any], ctx: ConvertContext) -> tuple[datasets.Dataset, DropReport]:
    """Rows are pairs already; keep those with a rating difference."""
    require_columns(ds, COLUMNS, ctx.label)
    return map_to_pairs(ds, functools.partial(_row, source=ctx.source, options=options), ctx)


SOURCES = [
    SourceInfo(
        "ultrafeedback-binarized-cleaned",
        "argilla/ultrafeedback-binarized-preferences-cleaned",
        "train",
        convert,
        hub_rows=60917,
        options={"drop_equal_scores": True},
    ),
]
