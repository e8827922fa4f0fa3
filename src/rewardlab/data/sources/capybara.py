"""argilla/distilabel-capybara-dpo-7k-binarized: multi-turn; `chosen`/`rejected` are whole conversations
(message lists sharing every turn but the last), rated 1-5 by GPT-4 in `rating_chosen`/`rating_rejected`.

Options:
- ``drop_equal_scores`` (true): drop rows whose two ratings are equal (recipe: 7,563 rows -> 7,562).
"""

from __future__ import annotations

import functools
from typing import Any

import datasets

from rewardlab.data.pairing import parse_rating
from rewardlab.data.readers import row_to_pair
from rewardlab.data.schema import DropReason, DropReport, PreferencePair, RowRejected
from rewardlab.data.sources.streaming import ConvertContext, SourceInfo, map_to_pairs, require_columns

COLUMNS = ["chosen", "rejected", "rating_chosen", "rating_rejected"]


def _row(row: dict[str, Any], idx: int, source: str, options: dict[str, Any]) -> list[PreferencePair]:
    if options["drop_equal_scores"]:
        c, r = parse_rating(row["rating_chosen"]), parse_rating(row["rating_rejected"])
        if c is None or r is None:
            raise RowRejected(DropReason.MISSING_FIELD, "rating_chosen" if c is None else "rating_rejected")
        if c == r:
            raise RowRejected(DropReason.EQUAL_SCORES, "rating_chosen/rating_rejected")
    return [row_to_pair({"chosen": row["chosen"], "rejected": row["rejected"]}, source)]


def convert(ds: datasets.Dataset, options: dict[str, Any], ctx: ConvertContext) -> tuple[datasets.Dataset, DropReport]:
    """Whole conversations -> shared context + final assistant turns."""
    require_columns(ds, COLUMNS, ctx.label)
    return map_to_pairs(ds, functools.partial(_row, source=ctx.source, options=options), ctx)


SOURCES = [
    SourceInfo(
        "capybara",
        "argilla/distilabel-capybara-dpo-7k-binarized",
        "train",
        convert,
        hub_rows=7563,
        options={"drop_equal_scores": True},
    ),
]
