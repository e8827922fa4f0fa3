"""nvidia/HelpSteer: one row per response (`prompt`, `response`, five 0-4 ratings); pairs come from grouping
rows by prompt and ranking by the mean of helpfulness and correctness (recipe 3.2).

Options:
- ``pairing`` ("all_pairs"): ``best_vs_random`` (v1) or ``all_pairs`` (v2: up to 6 pairs for 4 responses).
- ``random_pool`` ("others"): what the random opponent of the best is drawn from: any other response
  ("others", the recipe's wording; equal draws are then dropped) or only strictly lower-scored ones ("lower").
- ``drop_equal_scores`` (true): drop pairs whose two responses have the same mean score.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import datasets

from rewardlab.data.pairing import helpsteer_score, is_equal_score, rng_for, select_pairs
from rewardlab.data.schema import DropReason, DropReport, PreferencePair, make_pair
from rewardlab.data.sources.streaming import (
    ConvertContext,
    Reason,
    SourceInfo,
    add_bulk_drops,
    empty_pairs,
    gather_pairs,
    map_to_pairs,
    read_columns,
    require_columns,
)

COLUMNS = ["prompt", "response", "helpfulness", "correctness"]


def _prompt_key(prompt: Any) -> str:
    # Group by a digest, not the text: the planning step must not hold every prompt in memory.
    return hashlib.blake2b(str(prompt).encode("utf-8"), digest_size=16).hexdigest()


def plan_pairs(
    prompts: list[Any], scores: list[float | None], options: dict[str, Any], seed: int, source: str
) -> tuple[list[tuple[int, int]], list[tuple[str, int]]]:
    """``(chosen_row, rejected_row)`` pairs over prompt groups, and ``(reason, row)`` drops, in prompt order."""
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(prompts):
        groups.setdefault(_prompt_key(p), []).append(i)
    plan, drops = [], []
    for key, rows in groups.items():
        group_scores = [scores[i] for i in rows]
        pairs = select_pairs(group_scores, options["pairing"], rng_for(seed, source, key), options["random_pool"])
        if not pairs:
            drops.append((Reason.NO_PAIR, rows[0]))
        for a, b in pairs:
            if options["drop_equal_scores"] and is_equal_score(group_scores, (a, b)):
                drops.append((DropReason.EQUAL_SCORES, rows[a]))
            else:
                plan.append((rows[a], rows[b]))
    return plan, drops


def _row(row: dict[str, Any], idx: int, source: str) -> list[PreferencePair]:
    return [
        make_pair(
            [{"role": "user", "content": row["prompt"]}], row["response"], row["rejected_response"], source=source
        )
    ]


def convert(ds: datasets.Dataset, options: dict[str, Any], ctx: ConvertContext) -> tuple[datasets.Dataset, DropReport]:
    """Plan pairs from the scores (in memory: digests and floats), then gather and convert their texts."""
    require_columns(ds, COLUMNS, ctx.label)
    cols = read_columns(ds, COLUMNS[:1] + COLUMNS[2:])
    scores = [helpsteer_score(h, c) for h, c in zip(cols["helpfulness"], cols["correctness"], strict=True)]
    plan, drops = plan_pairs(cols["prompt"], scores, options, ctx.seed, ctx.source)
    del cols
    if plan:
        pairs, report = map_to_pairs(
            gather_pairs(ds, plan, ["prompt"], ["response"]), functools.partial(_row, source=ctx.source), ctx
        )
    else:
        pairs, report = empty_pairs(), DropReport()
    for reason in sorted({r for r, _ in drops}):
        rows = [i for r, i in drops if r == reason]
        add_bulk_drops(report, reason, len(rows), f"{ctx.label}:row {rows[0]} (prompt group)")
    return pairs, report


SOURCES = [
    SourceInfo(
        "helpsteer",
        "nvidia/HelpSteer",
        "train",
        convert,
        hub_rows=35331,
        options={"pairing": "all_pairs", "random_pool": "others", "drop_equal_scores": True},
    ),
]
