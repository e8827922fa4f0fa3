"""Arrow plumbing shared by the converters: load a source as a `datasets.Dataset`, map rows to pair records.

Rows stream through `Dataset.map` (batched, optionally in several processes) so memory stays bounded by the
batch size whatever the dataset size; results are Arrow files that `datasets` caches by fingerprint. A row
that cannot be used becomes a marker row (`_drop` = the reason, `_where` = ``label:row i (field)``) so drops
are counted into a `DropReport` even when the map ran in other processes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import datasets
import pyarrow.compute as pc

from rewardlab.data.schema import (
    DataError,
    DropReason,
    DropReport,
    PreferencePair,
    RowRejected,
    unexpected_row_error,
)

PAIR_FEATURES = datasets.Features(
    {
        "context": datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")}),
        "chosen": datasets.Value("string"),
        "rejected": datasets.Value("string"),
        "margin": datasets.Value("float64"),
        "source": datasets.Value("string"),
    }
)
_MARKERS = {"_drop": datasets.Value("string"), "_where": datasets.Value("string")}
_MARKED_FEATURES = datasets.Features({**PAIR_FEATURES, **_MARKERS})

#: A row function maps ``(row, index)`` to pairs and per-pair drops; raising `RowRejected` drops the row.
RowFn = Callable[[dict[str, Any], int], Iterable["PreferencePair | RowRejected"]]


class Reason:
    """Drop reasons of the selection rules (besides the parsing ones in `DropReason`)."""

    NO_PAIR = "fewer than two ranked responses"
    LOW_RATIO = "score ratio not above the minimum"
    OVER_LIMIT = "over the per-prompt pair limit"
    LABELS_DISAGREE = "preference labels disagree"
    LOW_CHOSEN_SCORE = "chosen score below the minimum"
    IN_GSM8K_TRAIN = "prompt in the gsm8k train set"
    SUBSAMPLED = "not drawn in the subsample (max_pairs)"
    SAFETY_CONFLICT = "safety labels contradict safer_response_id"


#: Drop reasons that mean "this row cannot be used at all" (empty, malformed or unexpected input), as opposed
#: to the selection rules a recipe applies on purpose; the stats table names them apart.
UNUSABLE = frozenset(
    {
        DropReason.EMPTY,
        DropReason.CONTEXT_MISMATCH,
        DropReason.BAD_ROLES,
        DropReason.MISSING_FIELD,
        DropReason.BAD_TYPE,
        DropReason.UNKNOWN_FORMAT,
        DropReason.MALFORMED,
    }
)


@dataclasses.dataclass(frozen=True)
class ConvertContext:
    """What a converter needs besides the rows: the `source` tag, the seed, processes, a label for messages."""

    source: str
    seed: int = 0
    num_proc: int = 1
    label: str = ""


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    """A registered source: where it lives on the hub, how its rows become pairs, and its option defaults."""

    name: str
    hub_id: str
    split: str
    convert: Callable[[datasets.Dataset, dict[str, Any], ConvertContext], tuple[datasets.Dataset, DropReport]]
    data_dir: str | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    hub_rows: int | None = None  # rows of the hub split at `revision`: tells a full copy from a partial one
    revision: str | None = None  # hub revision read by default (None: the repository's main branch)
    describe: Callable[[dict[str, Any]], str] | None = None  # the selection rule in words, for the stats cause

    def resolve_options(self, given: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults overlaid with `given`; an unknown option is an error naming the valid ones."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            valid = ", ".join(sorted(self.options)) or "none"
            raise DataError(f"source {self.name!r}: unknown option(s) {unknown}; valid options: {valid}")
        return {**self.options, **given}


def _data_builder(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson")):
        return "json"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise DataError(f"{path}: unknown file type (expected .json, .jsonl(.gz), .parquet or .csv)")


def load_source_dataset(
    hub_id: str,
    split: str,
    data_dir: str | None = None,
    path: str | None = None,
    cache_dir: str | None = None,
    revision: str | None = None,
) -> datasets.Dataset:
    """The rows of one source: a local file, a `save_to_disk` folder, a local copy of the hub repo, or the hub.

    A local repo copy (a folder holding e.g. ``helpful-base/train.jsonl.gz``) is read with the same
    `data_dir`/`split` as the hub id, so a user with the original files builds exactly what the hub would give.
    `revision` (a branch, tag or commit of the hub repo) only applies to the hub: a local copy is what it is.
    """
    try:
        if path is None:
            return datasets.load_dataset(
                hub_id, data_dir=data_dir, split=split, cache_dir=cache_dir, revision=revision
            )
        p = Path(path)
        if not p.exists():
            raise DataError(f"{path}: no such file or folder (local copy of {hub_id})")
        if p.is_dir():
            if (p / "state.json").exists() or (p / "dataset_dict.json").exists():
                ds = datasets.load_from_disk(str(p))
                if isinstance(ds, datasets.DatasetDict):
                    if split not in ds:
                        raise DataError(f"{path}: no split {split!r}; available: {', '.join(ds)}")
                    ds = ds[split]
                return ds
            return datasets.load_dataset(str(p), data_dir=data_dir, split=split, cache_dir=cache_dir)
        return datasets.load_dataset(_data_builder(p), data_files=str(p), split="train", cache_dir=cache_dir)
    except DataError:
        raise
    except Exception as e:  # datasets raises many types (FileNotFound, DatasetGenerationError, ValueError...)
        where = path or f"{hub_id} (data_dir={data_dir}, split={split}, revision={revision or 'main'})"
        raise DataError(f"{where}: cannot load: {e}") from e


def require_columns(ds: datasets.Dataset, columns: Iterable[str], label: str) -> None:
    """Fail early, naming the missing columns, when a source does not have the schema its converter reads."""
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise DataError(f"{label}: missing column(s) {missing}; found {ds.column_names}")


def _marked_batch(batch: dict[str, list], indices: list[int], row_fn: RowFn, label: str) -> dict[str, list]:
    out: dict[str, list] = {k: [] for k in _MARKED_FEATURES}
    keys = list(batch)
    for j, idx in enumerate(indices):
        row = {k: batch[k][j] for k in keys}
        idx = row.pop("_row", idx)  # the row number in the original source, when rows were selected first
        try:
            items = list(row_fn(row, idx))
        except RowRejected as e:
            items = [e]
        except Exception as e:  # noqa: BLE001 -- one odd row (a schema variant, a bad value) must not end a build
            items = [unexpected_row_error(e)]
        for item in items:
            if isinstance(item, RowRejected):
                out["context"].append([])
                out["chosen"].append("")
                out["rejected"].append("")
                out["margin"].append(None)
                out["source"].append("")
                out["_drop"].append(item.reason)
                out["_where"].append(f"{label}:row {idx} ({item.field})")
            else:
                rec = item.to_record()
                for k in PAIR_FEATURES:
                    out[k].append(rec[k])
                out["_drop"].append(None)
                out["_where"].append(None)
    return out


def _procs(num_proc: int, n_rows: int) -> int | None:
    n = min(num_proc, max(1, n_rows // 1000))  # a process per < 1000 rows costs more than it saves
    return n if n > 1 else None


def count_drops(marked: datasets.Dataset, report: DropReport) -> None:
    """Add the marker column counts to `report` (reads two small columns in Arrow batches)."""
    cols = marked.select_columns(["_drop", "_where"]).with_format("arrow")
    for batch in cols.iter(batch_size=65_536):
        dropped = pc.is_valid(batch["_drop"])
        n_dropped = pc.sum(dropped).as_py() or 0
        report.kept += len(batch) - n_dropped
        if n_dropped:
            for reason, where in zip(
                *(batch.filter(dropped)[c].to_pylist() for c in ("_drop", "_where")), strict=True
            ):
                report.drop(reason, where)


def _keep_mask(drops: list) -> list[bool]:
    return [d is None for d in drops]


def map_to_pairs(ds: datasets.Dataset, row_fn: RowFn, ctx: ConvertContext) -> tuple[datasets.Dataset, DropReport]:
    """Run `row_fn` over every row (batched Arrow map) and return the pair records and the drop report."""
    report = DropReport()
    marked = ds.map(
        _marked_batch,
        batched=True,
        batch_size=1000,
        with_indices=True,
        remove_columns=ds.column_names,
        features=_MARKED_FEATURES,
        fn_kwargs={"row_fn": row_fn, "label": ctx.label or ctx.source},
        num_proc=_procs(ctx.num_proc, len(ds)),
        desc=f"converting {ctx.source}",
    )
    count_drops(marked, report)
    kept = marked.filter(
        _keep_mask, input_columns=["_drop"], batched=True, batch_size=10_000, num_proc=_procs(ctx.num_proc, len(ds))
    )
    return kept.remove_columns(list(_MARKERS)), report


def gather_pairs(
    ds: datasets.Dataset, plan: list[tuple[int, int]], shared: list[str], per_response: list[str]
) -> datasets.Dataset:
    """One row per planned ``(chosen_row, rejected_row)`` of a one-response-per-row source (e.g. HelpSteer).

    Columns: `shared` and `per_response` from the chosen row, ``rejected_<col>`` for `per_response` from the
    rejected row, and ``_row`` (the chosen row number, for messages). Only index lists live in memory.
    """
    chosen_rows = [c for c, _ in plan]
    chosen = ds.select(chosen_rows).select_columns([*shared, *per_response]).flatten_indices()
    rejected = ds.select([r for _, r in plan]).select_columns(per_response).flatten_indices()
    rejected = rejected.rename_columns({c: f"rejected_{c}" for c in per_response})
    both = datasets.concatenate_datasets([chosen, rejected], axis=1)
    return both.add_column("_row", chosen_rows)


def read_columns(ds: datasets.Dataset, columns: list[str]) -> dict[str, list]:
    """Python lists of a few small columns (scores, ids), read in Arrow batches; the text columns stay on disk."""
    out: dict[str, list] = {c: [] for c in columns}
    for batch in ds.select_columns(columns).with_format("arrow").iter(batch_size=65_536):
        for c in columns:
            out[c].extend(batch[c].to_pylist())
    return out


def add_bulk_drops(report: DropReport, reason: str, count: int, example: str) -> None:
    """Count `count` drops of one reason decided in the planning step (one example location kept)."""
    if count:
        report.dropped[reason] += count
        report.examples.setdefault(reason, []).append(example)


def empty_pairs() -> datasets.Dataset:
    """A zero-row dataset with the pair schema (a source whose every row was dropped)."""
    return datasets.Dataset.from_dict({k: [] for k in PAIR_FEATURES}, features=PAIR_FEATURES)
