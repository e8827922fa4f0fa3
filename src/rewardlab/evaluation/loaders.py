"""Benchmark rows: RewardBench v1 (`filtered`), RewardBench 2 (`test`) and held-out preference pairs.

Each loader accepts a hub id, a local ``.json``/``.jsonl``/``.parquet`` file or a `datasets` folder in the hub
schema, and returns `BenchmarkRow`s: the prompt as ``[{"role": "user", ...}]`` and the candidate responses as
assistant turns (the judge applies the chat template).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rewardlab.data.readers import iter_rows, read_pairs
from rewardlab.data.schema import DataError, DropReport, RowRejected, normalize_messages
from rewardlab.evaluation.constants import (
    REWARDBENCH2_DATASET,
    REWARDBENCH2_SPLIT,
    REWARDBENCH_DATASET,
    REWARDBENCH_SPLIT,
)

Message = dict[str, str]


@dataclasses.dataclass(frozen=True)
class BenchmarkRow:
    """One prompt and its candidates: `chosen` (correct answers, first = the reference) then `rejected`."""

    id: str
    subset: str
    context: tuple[Message, ...]
    chosen: tuple[str, ...]
    rejected: tuple[str, ...]

    @property
    def responses(self) -> list[str]:
        return [*self.chosen, *self.rejected]


def _rows(spec: str, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, row in iter_rows(spec, split):
        if isinstance(row, RowRejected):
            raise DataError(f"{where}: {row}")
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected an object per row, got {type(row).__name__}")
        yield where, row


def _field(row: dict[str, Any], name: str, where: str) -> Any:
    if name not in row or row[name] is None:
        raise DataError(f"{where}: missing field '{name}' (columns: {', '.join(sorted(row))})")
    return row[name]


def _text(value: Any, field: str, where: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{field}' must be a string, got {type(value).__name__}")
    return value


def _texts(value: Any, field: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise DataError(f"{where}: field '{field}' must be a non-empty list of strings")
    return tuple(_text(v, f"{field}[{i}]", where) for i, v in enumerate(value))


def _context(prompt: Any, where: str) -> tuple[Message, ...]:
    if isinstance(prompt, str):
        return ({"role": "user", "content": prompt},)
    try:  # prior preference sets store earlier turns as a message list
        return tuple(normalize_messages(prompt, "prompt"))
    except RowRejected as e:
        raise DataError(f"{where}: {e}") from None


def load_rewardbench(
    data: str | None = None, split: str = REWARDBENCH_SPLIT, limit: int | None = None
) -> list[BenchmarkRow]:
    """Rows of allenai/reward-bench (`prompt, chosen, chosen_model, rejected, rejected_model, subset, id`)."""
    out = []
    for where, row in _rows(data or REWARDBENCH_DATASET, split):
        out.append(
            BenchmarkRow(
                id=str(row.get("id", len(out))),
                subset=_text(_field(row, "subset", where), "subset", where),
                context=_context(_field(row, "prompt", where), where),
                chosen=(_text(_field(row, "chosen", where), "chosen", where),),
                rejected=(_text(_field(row, "rejected", where), "rejected", where),),
            )
        )
        if limit is not None and len(out) >= limit:
            break
    return out


def load_rewardbench2(
    data: str | None = None, split: str = REWARDBENCH2_SPLIT, limit: int | None = None
) -> list[BenchmarkRow]:
    """Rows of allenai/reward-bench-2 (`id, prompt, chosen: [str], rejected: [str], num_correct, num_incorrect,
    total_completions, models, subset, additional_metadata`). Ties rows hold several chosen answers."""
    out = []
    for where, row in _rows(data or REWARDBENCH2_DATASET, split):
        chosen = _texts(_field(row, "chosen", where), "chosen", where)
        rejected = _texts(_field(row, "rejected", where), "rejected", where)
        num_correct = row.get("num_correct")
        if num_correct is not None and int(num_correct) != len(chosen):
            raise DataError(f"{where}: num_correct={num_correct} but 'chosen' holds {len(chosen)} responses")
        total = row.get("total_completions")
        if total is not None and int(total) != len(chosen) + len(rejected):
            raise DataError(
                f"{where}: total_completions={total} but there are {len(chosen) + len(rejected)} responses"
            )
        out.append(
            BenchmarkRow(
                id=str(_field(row, "id", where)),
                subset=_text(_field(row, "subset", where), "subset", where),
                context=_context(_field(row, "prompt", where), where),
                chosen=chosen,
                rejected=rejected,
            )
        )
        if limit is not None and len(out) >= limit:
            break
    return out


def load_pairs(data: str, split: str = "train", limit: int | None = None) -> tuple[list[BenchmarkRow], DropReport]:
    """Held-out preference pairs in any format `rewardlab.data.readers` reads; subset = the file (source) name."""
    pairs, report = read_pairs(data, split=split, limit=limit)
    default = Path(data).name if Path(data).exists() else data
    rows = [
        BenchmarkRow(str(i), p.source or default, tuple(p.context), (p.chosen,), (p.rejected,))
        for i, p in enumerate(pairs)
    ]
    return rows, report
