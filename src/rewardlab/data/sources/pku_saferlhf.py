"""PKU-Alignment/PKU-SafeRLHF and PKU-SafeRLHF-30K: `prompt`, `response_0`, `response_1`,
`is_response_0_safe`, `is_response_1_safe`, `better_response_id`, `safer_response_id` (0/1); the 2024 release
adds per-response harm categories, severity levels and sources, which no rule here reads.

Revisions. The hub's PKU-SafeRLHF was replaced on 2024-06-13 ("Release new PKU-SafeRLHF dataset", commit
571c013): its main branch now holds ~73.9K train rows (Alpaca-7B/2-7B/3-8B answers), while the recipe (March
2024) used the first release, ~297K train rows, which the dataset card keeps loadable as
``load_dataset("PKU-Alignment/PKU-SafeRLHF", revision="v0")``. Mixture v4 draws 150K pairs, so it pins
``revision: v0``; on main it would come up ~76K short (the build says so in its report). PKU-SafeRLHF-30K has
not been re-released; "30K" counts its train and test splits together (26.9K + 3.0K rows), and only train is read.

Options:
- ``preference`` ("safe_then_better"): which label picks `chosen`. The recipe does not say; the mixtures add
  PKU "to take safety into account", so when exactly one response is safe the safe one (`safer_response_id`)
  is chosen, and otherwise (both safe or both unsafe: the safety label tells nothing apart) the more helpful
  one (`better_response_id`). "safer" always follows `safer_response_id`, "better" always
  `better_response_id`, "agree" keeps only rows where both labels pick the same response.
"""

from __future__ import annotations

import functools
from typing import Any

import datasets

from rewardlab.data.pairing import pku_pair
from rewardlab.data.schema import DropReason, DropReport, PreferencePair, RowRejected, make_pair
from rewardlab.data.sources.streaming import ConvertContext, Reason, SourceInfo, map_to_pairs, require_columns

COLUMNS = ["prompt", "response_0", "response_1", "better_response_id", "safer_response_id"]
SAFETY_FLAGS = ["is_response_0_safe", "is_response_1_safe"]
_LABELS = "better_response_id/safer_response_id"


def _row(row: dict[str, Any], idx: int, source: str, options: dict[str, Any]) -> list[PreferencePair]:
    preference = options["preference"]
    flags = [row[c] for c in SAFETY_FLAGS] if preference == "safe_then_better" else None
    try:
        ids = pku_pair(row["better_response_id"], row["safer_response_id"], preference, flags)
    except ValueError as e:
        field = "/".join(SAFETY_FLAGS) if "is_response" in str(e) else _LABELS
        raise RowRejected(DropReason.BAD_TYPE, field, str(e)) from None
    if ids is None:
        reason = Reason.LABELS_DISAGREE if preference == "agree" else Reason.SAFETY_CONFLICT
        raise RowRejected(reason, f"{'/'.join(SAFETY_FLAGS)}/safer_response_id")
    chosen, rejected = (row[f"response_{i}"] for i in ids)
    return [make_pair([{"role": "user", "content": row["prompt"]}], chosen, rejected, source=source)]


def convert(ds: datasets.Dataset, options: dict[str, Any], ctx: ConvertContext) -> tuple[datasets.Dataset, DropReport]:
    """One pair per row; the label used is the `preference` option."""
    needs_flags = options["preference"] == "safe_then_better"
    require_columns(ds, COLUMNS + (SAFETY_FLAGS if needs_flags else []), ctx.label)
    return map_to_pairs(ds, functools.partial(_row, source=ctx.source, options=options), ctx)


def describe(options: dict[str, Any]) -> str:
    """The chosen-response rule in words, for the cause column of the stats table."""
    return {
        "safe_then_better": "chosen = the safe response when exactly one is safe, else the more helpful one "
        "(preference: safe_then_better, the default)",
        "safer": "chosen = safer_response_id on every row (preference: safer)",
        "better": "chosen = better_response_id on every row (preference: better)",
        "agree": "only rows whose safer and better labels agree (preference: agree)",
    }[options["preference"]]


_DEFAULTS = {"preference": "safe_then_better"}
SOURCES = [
    SourceInfo("pku-saferlhf", "PKU-Alignment/PKU-SafeRLHF", "train", convert, options=_DEFAULTS, describe=describe),
    SourceInfo(
        "pku-saferlhf-30k", "PKU-Alignment/PKU-SafeRLHF-30K", "train", convert, options=_DEFAULTS, describe=describe
    ),
]
