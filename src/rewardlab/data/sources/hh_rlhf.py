"""Anthropic/hh-rlhf: ``{"chosen", "rejected"}`` whole transcripts, one hub `data_dir` per subset.

The recipe's "base, rejection-sampled and online" subsets are the helpful ones (43,038 + 51,077 + 21,432 =
the 115,547 pairs of mixture v1); harmless-base is registered too (it is the subset with real rows here). The
only selection rule is "drop chosen == rejected", which `make_pair` applies (counted as identical responses).
"""

from __future__ import annotations

import functools
from typing import Any

import datasets

from rewardlab.data.readers import row_to_pair
from rewardlab.data.schema import DropReport, PreferencePair
from rewardlab.data.sources.streaming import ConvertContext, SourceInfo, map_to_pairs, require_columns

HUB_ID = "Anthropic/hh-rlhf"
#: registry name -> (hub data_dir, rows of its train split)
SUBSETS = {
    "hh-rlhf-harmless-base": ("harmless-base", 42537),
    "hh-rlhf-helpful-base": ("helpful-base", 43835),
    "hh-rlhf-helpful-rejection-sampled": ("helpful-rejection-sampled", 52421),
    "hh-rlhf-helpful-online": ("helpful-online", 22007),
}


def _row(row: dict[str, Any], idx: int, source: str) -> list[PreferencePair]:
    # The shared reader already splits transcripts and checks that only the final turn differs.
    return [row_to_pair({"chosen": row["chosen"], "rejected": row["rejected"]}, source)]


def convert(ds: datasets.Dataset, options: dict[str, Any], ctx: ConvertContext) -> tuple[datasets.Dataset, DropReport]:
    """hh-rlhf rows -> pairs (context = all turns before the final Assistant turn)."""
    require_columns(ds, ["chosen", "rejected"], ctx.label)
    return map_to_pairs(ds, functools.partial(_row, source=ctx.source), ctx)


SOURCES = [
    SourceInfo(name, HUB_ID, "train", convert, data_dir=data_dir, hub_rows=rows)
    for name, (data_dir, rows) in SUBSETS.items()
]
