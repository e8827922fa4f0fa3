"""stanfordnlp/SHP: one row per comment pair of a Reddit post (`history` = the post, `labels` 1 => A preferred).

Options:
- ``min_score_ratio`` (2.0): keep pairs with ``score_ratio`` strictly above it (recipe: "ratio > 2").
- ``max_pairs_per_prompt`` (1): at most this many pairs per `post_id` (recipe v1: 1, v2: 5; null = no limit).
- ``pick`` ("random"): which pairs a post keeps when it has more: random (seeded per post), highest_ratio, first.
"""

from __future__ import annotations

import functools
from typing import Any

import datasets

from rewardlab.data.pairing import parse_rating, shp_select
from rewardlab.data.schema import DropReason, DropReport, PreferencePair, RowRejected, make_pair
from rewardlab.data.sources.streaming import (
    ConvertContext,
    Reason,
    SourceInfo,
    add_bulk_drops,
    empty_pairs,
    map_to_pairs,
    read_columns,
    require_columns,
)

COLUMNS = ["post_id", "history", "human_ref_A", "human_ref_B", "labels", "score_ratio"]


def _row(row: dict[str, Any], idx: int, source: str) -> list[PreferencePair]:
    if row["labels"] not in (0, 1) or isinstance(row["labels"], bool):
        raise RowRejected(DropReason.BAD_TYPE, "labels", f"expected 0 or 1, got {row['labels']!r}")
    if not isinstance(row["history"], str):
        raise RowRejected(DropReason.BAD_TYPE, "history", "expected a string")
    a, b = row["human_ref_A"], row["human_ref_B"]
    chosen, rejected = (a, b) if row["labels"] == 1 else (b, a)
    return [
        make_pair(
            [{"role": "user", "content": row["history"]}], chosen, rejected, source=source, context_field="history"
        )
    ]


def convert(ds: datasets.Dataset, options: dict[str, Any], ctx: ConvertContext) -> tuple[datasets.Dataset, DropReport]:
    """Select rows by score ratio and per-post limit (scores only, in memory), then convert the kept rows."""
    require_columns(ds, COLUMNS, ctx.label)
    cols = read_columns(ds, ["post_id", "score_ratio"])
    keep = shp_select(
        cols["post_id"],
        cols["score_ratio"],
        options["min_score_ratio"],
        options["max_pairs_per_prompt"],
        options["pick"],
        ctx.seed,
    )
    n_ratio_ok = sum(
        1 for r in cols["score_ratio"] if (v := parse_rating(r)) is not None and v > options["min_score_ratio"]
    )
    selected = ds.select(keep).add_column("_row", keep) if keep else None
    pairs, report = (
        map_to_pairs(selected, functools.partial(_row, source=ctx.source), ctx)
        if selected
        else (empty_pairs(), DropReport())
    )
    add_bulk_drops(
        report, Reason.LOW_RATIO, len(ds) - n_ratio_ok, f"{ctx.label}: score_ratio <= {options['min_score_ratio']}"
    )
    add_bulk_drops(report, Reason.OVER_LIMIT, n_ratio_ok - len(keep), f"{ctx.label}: post_id over the limit")
    return pairs, report


SOURCES = [
    SourceInfo(
        "shp",
        "stanfordnlp/SHP",
        "train",
        convert,
        hub_rows=348718,
        options={"min_score_ratio": 2.0, "max_pairs_per_prompt": 1, "pick": "random"},
    ),
]
