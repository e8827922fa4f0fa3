"""Orca DPO pairs, two schemas:

- ``orca-dpo-pairs`` = argilla/distilabel-intel-orca-dpo-pairs (the recipe's): `system`, `input`, `chosen`,
  `rejected` (strings, already ordered by the GPT-4 `rating` pair), `rating` (2 floats, null in 42 rows),
  `status` ("tie", "unchanged", "swapped"), `chosen_score`, `in_gsm8k_train`, plus generation metadata.
  Options: ``drop_equal_scores`` (true; a tie or a missing rating drops the row), ``min_chosen_score`` (null;
  the dataset card suggests 8), ``drop_gsm8k_train`` (false; the card suggests true).
- ``intel-orca-dpo-pairs`` = Intel/orca_dpo_pairs, its upstream: `system`, `question`, `chosen` (GPT-4),
  `rejected` (Llama-2-13B-chat); no ratings, so no options.
"""

from __future__ import annotations

import functools
from typing import Any

import datasets

from rewardlab.data.pairing import parse_rating
from rewardlab.data.readers import row_to_pair
from rewardlab.data.schema import DropReason, DropReport, PreferencePair, RowRejected
from rewardlab.data.sources.streaming import ConvertContext, Reason, SourceInfo, map_to_pairs, require_columns

ARGILLA_COLUMNS = ["system", "input", "chosen", "rejected", "rating", "status", "chosen_score", "in_gsm8k_train"]
INTEL_COLUMNS = ["system", "question", "chosen", "rejected"]


def _system(value: Any) -> str | None:
    # CSV copies give NaN/None for an empty system prompt; both mean "no system turn".
    return value if isinstance(value, str) and value.strip() else None


def _argilla_row(row: dict[str, Any], idx: int, source: str, options: dict[str, Any]) -> list[PreferencePair]:
    if options["drop_equal_scores"]:
        rating = row["rating"]
        if not isinstance(rating, list) or len(rating) != 2 or any(parse_rating(r) is None for r in rating):
            raise RowRejected(DropReason.MISSING_FIELD, "rating", "no rating pair")
        if row["status"] == "tie" or parse_rating(rating[0]) == parse_rating(rating[1]):
            raise RowRejected(DropReason.EQUAL_SCORES, "rating")
    if options["min_chosen_score"] is not None:
        score = parse_rating(row["chosen_score"])
        if score is None or score < options["min_chosen_score"]:
            raise RowRejected(Reason.LOW_CHOSEN_SCORE, "chosen_score")
    if options["drop_gsm8k_train"] and row["in_gsm8k_train"]:
        raise RowRejected(Reason.IN_GSM8K_TRAIN, "in_gsm8k_train")
    record = {
        "prompt": row["input"],
        "system": _system(row["system"]),
        "chosen": row["chosen"],
        "rejected": row["rejected"],
    }
    return [row_to_pair(record, source)]


def _intel_row(row: dict[str, Any], idx: int, source: str) -> list[PreferencePair]:
    record = {
        "prompt": row["question"],
        "system": _system(row["system"]),
        "chosen": row["chosen"],
        "rejected": row["rejected"],
    }
    return [row_to_pair(record, source)]


def convert_argilla(
    ds: datasets.Dataset, options: dict[str, Any], ctx: ConvertContext
) -> tuple[datasets.Dataset, DropReport]:
    """argilla's relabelled pairs; ties (equal GPT-4 ratings) dropped as the recipe says."""
    require_columns(ds, ARGILLA_COLUMNS, ctx.label)
    return map_to_pairs(ds, functools.partial(_argilla_row, source=ctx.source, options=options), ctx)


def convert_intel(
    ds: datasets.Dataset, options: dict[str, Any], ctx: ConvertContext
) -> tuple[datasets.Dataset, DropReport]:
    """Intel's original pairs: GPT-4 answer chosen over the Llama-2 one."""
    require_columns(ds, INTEL_COLUMNS, ctx.label)
    return map_to_pairs(ds, functools.partial(_intel_row, source=ctx.source), ctx)


SOURCES = [
    SourceInfo(
        "orca-dpo-pairs",
        "argilla/distilabel-intel-orca-dpo-pairs",
        "train",
        convert_argilla,
        hub_rows=12859,
        options={"drop_equal_scores": True, "min_chosen_score": None, "drop_gsm8k_train": False},
    ),
    SourceInfo("intel-orca-dpo-pairs", "Intel/orca_dpo_pairs", "train", convert_intel, hub_rows=12859),
]
