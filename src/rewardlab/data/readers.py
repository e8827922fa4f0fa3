"""Read preference data from files, `datasets` folders or the hub, and turn rows into `PreferencePair`s.

Supported containers: ``.json`` (a list of rows), ``.jsonl``, ``.jsonl.gz``/``.json.gz``, ``.parquet``,
``.csv``, a `datasets.save_to_disk` folder, and a hub id (``load_dataset(id, split=...)``).

Supported row formats (detected per row):
- conversational: ``chosen``/``rejected`` are full message lists sharing all but the last assistant turn;
- explicit prompt: ``prompt`` (string or messages) + ``chosen``/``rejected`` (strings or messages);
- hh-rlhf transcripts: ``chosen``/``rejected`` strings of ``\\n\\nHuman: ...\\n\\nAssistant: ...`` turns;
- ShareGPT: ``conversations`` (``from``/``value`` messages) + ``chosen``/``rejected``;
- rewardlab records: ``context`` + ``chosen`` + ``rejected`` (what `PreferencePair.to_record` writes).
An optional numeric ``margin`` column is carried through.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rewardlab.data.schema import (
    DataError,
    DropReason,
    DropReport,
    PreferencePair,
    RowRejected,
    make_pair,
    normalize_messages,
    unexpected_row_error,
)

MALFORMED = DropReason.MALFORMED
_HH_TURN = re.compile(r"\n\n(Human|Assistant):")


# ----------------------------------------------------------------------------------------------- containers
def _is_hub_id(spec: str) -> bool:
    return not os.path.exists(spec) and re.fullmatch(r"[\w.-]+(/[\w.-]+)?", spec) is not None


def iter_rows(spec: str, split: str = "train") -> Iterator[tuple[str, Any]]:
    """Yield ``(where, row)`` for every row of `spec`; `where` is ``file:row`` for error messages.

    A row that cannot be decoded (broken JSON, invalid UTF-8) is yielded as a `RowRejected` instance so
    the caller can count or raise it with its location.
    """
    path = Path(spec)
    if path.is_dir():
        yield from _iter_datasets_folder(path, split)
        return
    if not path.exists():
        if _is_hub_id(spec):
            yield from _iter_hub(spec, split)
            return
        raise DataError(f"{spec}: no such file or folder (and not a hub dataset id)")
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")):
        yield from _iter_jsonl(path)
    elif name.endswith(".json"):
        yield from _iter_json(path)
    elif name.endswith(".parquet"):
        yield from _iter_parquet(path)
    elif name.endswith((".csv", ".csv.gz")):
        yield from _iter_csv(path)
    else:
        raise DataError(f"{spec}: unknown file type (expected .json, .jsonl, .jsonl.gz, .parquet or .csv)")


def _open_text_bytes(path: Path) -> io.BufferedIOBase:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _iter_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        with _open_text_bytes(path) as fh:
            for lineno, raw in enumerate(fh, start=1):
                where = f"{path}:{lineno}"
                if not raw.strip():
                    continue
                try:
                    yield where, json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as e:
                    yield where, RowRejected(MALFORMED, "<line>", f"invalid UTF-8 at byte {e.start}")
                except json.JSONDecodeError as e:
                    yield where, RowRejected(MALFORMED, "<line>", f"invalid JSON: {e.msg} at column {e.colno}")
    except (OSError, EOFError) as e:  # truncated gzip, unreadable file
        raise DataError(f"{path}: cannot read: {e}") from e


def _iter_json(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: invalid UTF-8 at byte {e.start}") from e
    if not text.strip():
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        # Many ".json" files on the hub are really JSON lines.
        if text.lstrip().startswith("{") and "\n" in text.strip():
            yield from _iter_jsonl(path)
            return
        raise DataError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    if isinstance(data, dict):
        for key in ("data", "rows", "train"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            data = [data]
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of rows, got {type(data).__name__}")
    for i, row in enumerate(data):
        yield f"{path}:row {i}", row


def _iter_parquet(path: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise DataError(f"{path}: not a readable parquet file: {e}") from e
    i = 0
    for batch in pf.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            yield f"{path}:row {i}", row
            i += 1


def _iter_csv(path: Path) -> Iterator[tuple[str, Any]]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                yield f"{path}:row {i}", row
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: invalid UTF-8: {e}") from e


def _iter_dataset(ds: Any, label: str) -> Iterator[tuple[str, Any]]:
    for i, row in enumerate(ds):
        yield f"{label}:row {i}", row


def _iter_datasets_folder(path: Path, split: str) -> Iterator[tuple[str, Any]]:
    import datasets

    saved = any((path / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json"))
    if not saved:  # a folder laid out like a hub dataset repo: the hub code path, with local files
        yield from _iter_hub(str(path), split)
        return
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:
        raise DataError(f"{path}: not a datasets folder (save_to_disk output): {e}") from e
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise DataError(f"{path}: no split {split!r}; available: {', '.join(ds)}")
        ds = ds[split]
    yield from _iter_dataset(ds, f"{path}[{split}]")


def _iter_hub(repo_id: str, split: str) -> Iterator[tuple[str, Any]]:
    import datasets

    try:
        ds = datasets.load_dataset(repo_id, split=split)
    except Exception as e:
        raise DataError(f"{repo_id}: could not load split {split!r} with datasets.load_dataset: {e}") from e
    yield from _iter_dataset(ds, f"{repo_id}[{split}]")


# ----------------------------------------------------------------------------------------------- row formats
def parse_hh_transcript(text: Any, field: str) -> list[dict[str, str]]:
    """Split an hh-rlhf transcript into messages (content stripped of edge whitespace)."""
    if not isinstance(text, str):
        raise RowRejected(DropReason.BAD_TYPE, field, f"expected a transcript string, got {type(text).__name__}")
    parts = _HH_TURN.split(text)
    if parts[0].strip():
        raise RowRejected(DropReason.BAD_ROLES, field, "text before the first 'Human:' turn")
    messages = []
    for speaker, content in zip(parts[1::2], parts[2::2]):
        messages.append({"role": "user" if speaker == "Human" else "assistant", "content": content.strip()})
    if not messages:
        raise RowRejected(DropReason.BAD_ROLES, field, "no 'Human:'/'Assistant:' turns")
    return messages


def _split_final_turn(messages: list[dict[str, str]], field: str) -> tuple[list[dict[str, str]], str]:
    if not messages or messages[-1]["role"] != "assistant":
        raise RowRejected(DropReason.BAD_ROLES, field, "the last turn must be an assistant turn")
    return messages[:-1], messages[-1]["content"]


def _pair_from_full_conversations(chosen: list, rejected: list, margin: Any, source: str) -> PreferencePair:
    c_ctx, c_text = _split_final_turn(chosen, "chosen")
    r_ctx, r_text = _split_final_turn(rejected, "rejected")
    if c_ctx != r_ctx:
        raise RowRejected(DropReason.CONTEXT_MISMATCH, "chosen/rejected", "the turns before the responses differ")
    return make_pair(c_ctx, c_text, r_text, margin, source, context_field="chosen")


def _response_text(value: Any, field: str) -> str:
    """A response given as a string, a message dict, or a list of messages ending with the assistant turn."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = [value]
    messages = normalize_messages(value, field)
    if not messages or messages[-1]["role"] != "assistant":
        raise RowRejected(DropReason.BAD_ROLES, field, "the response must end with an assistant turn")
    return messages[-1]["content"]


def prompt_messages(prompt: Any, field: str, system: Any = None) -> list[dict[str, str]]:
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    else:
        messages = normalize_messages(prompt, field)
    if isinstance(system, str) and system.strip() and (not messages or messages[0]["role"] != "system"):
        messages = [{"role": "system", "content": system}, *messages]
    return messages


def row_to_pair(row: Any, source: str = "") -> PreferencePair:
    """Turn one raw row of any supported format into a `PreferencePair` (raises `RowRejected`)."""
    if isinstance(row, RowRejected):
        raise row
    if not isinstance(row, dict):
        raise RowRejected(MALFORMED, "<row>", f"expected an object, got {type(row).__name__}")
    for key in ("chosen", "rejected"):
        if row.get(key) is None:
            raise RowRejected(DropReason.MISSING_FIELD, key)
    margin = row.get("margin")
    src = row.get("source") if isinstance(row.get("source"), str) and row.get("source") else source
    chosen, rejected = row["chosen"], row["rejected"]
    if "context" in row and row["context"] is not None:
        ctx = normalize_messages(row["context"], "context")
        return make_pair(ctx, _response_text(chosen, "chosen"), _response_text(rejected, "rejected"), margin, src,
                         context_field="context")
    if "conversations" in row and row["conversations"] is not None:
        ctx = normalize_messages(row["conversations"], "conversations")
        return make_pair(ctx, _response_text(chosen, "chosen"), _response_text(rejected, "rejected"), margin, src,
                         context_field="conversations")
    if "prompt" in row and row["prompt"] is not None:
        ctx = prompt_messages(row["prompt"], "prompt", row.get("system"))
        if isinstance(chosen, list) and len(chosen) > 1:  # prompt repeated inside full conversations
            return _pair_from_full_conversations(
                normalize_messages(chosen, "chosen"), normalize_messages(rejected, "rejected"), margin, src
            )
        return make_pair(ctx, _response_text(chosen, "chosen"), _response_text(rejected, "rejected"), margin, src,
                         context_field="prompt")
    if isinstance(chosen, list) and isinstance(rejected, list):
        return _pair_from_full_conversations(
            normalize_messages(chosen, "chosen"), normalize_messages(rejected, "rejected"), margin, src
        )
    if isinstance(chosen, str) and isinstance(rejected, str) and "\n\nHuman:" in chosen:
        return _pair_from_full_conversations(
            parse_hh_transcript(chosen, "chosen"), parse_hh_transcript(rejected, "rejected"), margin, src
        )
    raise RowRejected(
        DropReason.UNKNOWN_FORMAT,
        "<row>",
        f"columns {sorted(row)}: expected chosen/rejected messages, prompt+chosen+rejected, hh-rlhf transcripts, "
        "or conversations+chosen+rejected",
    )


def pairs_from_rows(
    rows: Iterable[tuple[str, Any]], on_invalid: str = "drop", source: str = "", report: DropReport | None = None
) -> Iterator[PreferencePair]:
    """Parse rows; invalid ones raise `DataError` (``on_invalid="error"``) or are counted in `report`."""
    if on_invalid not in ("drop", "error"):
        raise ValueError(f"on_invalid must be 'drop' or 'error', got {on_invalid!r}")
    report = report if report is not None else DropReport()
    for where, row in rows:
        try:
            pair = row_to_pair(row, source)
        except Exception as e:  # noqa: BLE001 -- an unexpected error on one row is a malformed row, not the end
            rejected = e if isinstance(e, RowRejected) else unexpected_row_error(e)
            if on_invalid == "error":
                raise DataError(f"{where}: {rejected}") from None
            report.drop(rejected.reason, f"{where} ({rejected.field})")
            continue
        report.kept += 1
        yield pair


def read_pairs(
    spec: str, split: str = "train", on_invalid: str = "drop", limit: int | None = None
) -> tuple[list[PreferencePair], DropReport]:
    """Read every pair of `spec` (file, folder or hub id); returns the pairs and the drop report."""
    report = DropReport()
    source = Path(spec).name if os.path.exists(spec) else spec
    pairs = []
    for pair in pairs_from_rows(iter_rows(spec, split), on_invalid, source, report):
        pairs.append(pair)
        if limit is not None and len(pairs) >= limit:
            break
    return pairs, report


def write_pairs_jsonl(pairs: Iterable[PreferencePair], path: str | Path, trl_format: bool = False) -> int:
    """Write pairs as JSONL atomically (temporary name, then rename); returns the number written."""
    from rewardlab.io_utils import atomic_write_text

    lines = [json.dumps(p.to_trl_record() if trl_format else p.to_record(), ensure_ascii=False) for p in pairs]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)
