"""PKU-Alignment/PKU-SafeRLHF and PKU-SafeRLHF-30K: `prompt`, `response_0`, `response_1`,
`better_response_id`, `safer_response_id` (0/1), plus per-response safety labels and sources.

Options:
- ``preference`` ("safer"): which label picks `chosen`. The recipe does not say; the mixtures add PKU "to take
  safety into account", so the default follows `safer_response_id`. "better" follows `better_response_id`;
  "agree" keeps only rows where both labels pick the same response.
"""

from __future__ import annotations

import functools
from typing import Any

import datasets

from rewardlab.data.pairing import pku_pair
from rewardlab.data.schema import DropReason, DropReport, PreferencePair, RowRejected, make_pair
from rewardlab.data.sources.streaming import ConvertContext, Reason, SourceInfo, map_to_pairs, require_columns

COLUMNS = ["prompt", "response_0", "response_1", "better_response_id", "safer_response_id"]


def _row(row: dict[str, Any], idx: int, source: str, options: dict[str, Any]) -> list[PreferencePair]:
    try:
        ids = pku_pair(row["better_response_id"], row["safer_response_id"], options["preference"])
    except ValueError as e:
        raise RowRejected(DropReason.BAD_TYPE, "better_response_id/safer_response_id", str(e)) from None
    if ids is None:
        raise RowRejected(Reason.LABELS_DISAGREE, "better_response_id/safer_response_id")
    chosen, rejected = (row[f"response_{i}"] for i in ids)
    return [make_pair([{"role": "user", "content": row["prompt"]}], chosen, rejected, source=source)]


def convert(ds: datasets.Dataset, options: dict[str, Any], ctx: ConvertContext) -> tuple[datasets.Dataset, DropReport]:
    """One pair per row; the label used is the `preference` option."""
    require_columns(ds, COLUMNS, ctx.label)
    return map_to_pairs(ds, functools.partial(_row, source=ctx.source, options=options), ctx)


SOURCES = [
    SourceInfo("pku-saferlhf", "PKU-Alignment/PKU-SafeRLHF", "train", convert, options={"preference": "safer"}),
    SourceInfo(
        "pku-saferlhf-30k", "PKU-Alignment/PKU-SafeRLHF-30K", "train", convert, options={"preference": "safer"}
    ),
]
