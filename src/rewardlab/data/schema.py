"""The one in-memory form of preference data: `PreferencePair`, and how raw rows become one.

A pair is a shared conversation context (system/user/assistant turns ending with a user turn) plus two
candidate final assistant turns. Every reader and dataset converter produces this form; every trainer,
evaluator and labeller consumes it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

ROLES = ("system", "user", "assistant")


class DataError(ValueError):
    """Bad input data; the message names the file, row and field."""


class DropReason:
    """Reasons a row is dropped (counted, never silent)."""

    IDENTICAL = "identical responses"
    EMPTY = "empty response"
    CONTEXT_MISMATCH = "contexts differ"
    BAD_ROLES = "bad roles"
    MISSING_FIELD = "missing field"
    BAD_TYPE = "wrong field type"
    EQUAL_SCORES = "equal scores"
    UNKNOWN_FORMAT = "unknown format"
    MALFORMED = "malformed row"  # undecodable, or a row that raised an error nothing expected


@dataclasses.dataclass(frozen=True)
class PreferencePair:
    """A shared context and two final assistant turns, `chosen` preferred over `rejected`.

    `context` is a tuple of ``{"role", "content"}`` dicts ending with a user turn. `margin` (optional) is
    subtracted inside the Bradley-Terry loss: ``-logsigmoid(r_c - r_r - margin)``.
    """

    context: tuple[dict[str, str], ...]
    chosen: str
    rejected: str
    margin: float | None = None
    source: str = ""

    def chosen_messages(self) -> list[dict[str, str]]:
        return [*map(dict, self.context), {"role": "assistant", "content": self.chosen}]

    def rejected_messages(self) -> list[dict[str, str]]:
        return [*map(dict, self.context), {"role": "assistant", "content": self.rejected}]

    def to_record(self) -> dict[str, Any]:
        """Row form used in Arrow/parquet/JSONL files (explicit prompt + responses)."""
        return {
            "context": [dict(m) for m in self.context],
            "chosen": self.chosen,
            "rejected": self.rejected,
            "margin": self.margin,
            "source": self.source,
        }

    def to_trl_record(self) -> dict[str, Any]:
        """Conversational chosen/rejected message lists, the form TRL and most hub datasets use."""
        return {"chosen": self.chosen_messages(), "rejected": self.rejected_messages(), "margin": self.margin}

    @classmethod
    def from_record(cls, row: dict[str, Any]) -> PreferencePair:
        """Inverse of `to_record` (no validation: records written by `to_record` are already valid)."""
        margin = row.get("margin")
        return cls(
            context=tuple({"role": m["role"], "content": m["content"]} for m in row["context"]),
            chosen=row["chosen"],
            rejected=row["rejected"],
            margin=None if margin is None else float(margin),
            source=row.get("source") or "",
        )


class RowRejected(Exception):
    """Raised by a row parser: the row is invalid for `reason`; `field` names the offending field."""

    def __init__(self, reason: str, field: str, detail: str = ""):
        super().__init__(f"{reason} in field '{field}'" + (f": {detail}" if detail else ""))
        self.reason = reason
        self.field = field
        self.detail = detail


def unexpected_row_error(e: Exception) -> RowRejected:
    """An exception a row function did not expect, as a counted malformed-row drop naming its type and message."""
    message = " ".join(str(e).split())
    detail = f"{type(e).__name__}: {message}" if message else type(e).__name__
    return RowRejected(DropReason.MALFORMED, f"<row>: unexpected {detail[:160]}")


@dataclasses.dataclass
class DropReport:
    """Counts of rows kept and dropped by reason, with the first few examples of each reason."""

    kept: int = 0
    dropped: Counter = dataclasses.field(default_factory=Counter)
    examples: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    max_examples: int = 3

    def drop(self, reason: str, where: str) -> None:
        self.dropped[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < self.max_examples:
            ex.append(where)

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def merge(self, other: DropReport) -> None:
        self.kept += other.kept
        for reason, n in other.dropped.items():
            self.dropped[reason] += n
            ex = self.examples.setdefault(reason, [])
            ex.extend(other.examples.get(reason, [])[: max(0, self.max_examples - len(ex))])

    def summary(self) -> str:
        lines = [f"kept {self.kept} pairs, dropped {self.total_dropped}"]
        for reason, n in self.dropped.most_common():
            lines.append(f"  - {reason}: {n} (e.g. {'; '.join(self.examples.get(reason, []))})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"kept": self.kept, "dropped": dict(self.dropped), "examples": self.examples}


def _as_text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise RowRejected(DropReason.BAD_TYPE, field, f"expected a string, got {type(value).__name__}")
    return value


def normalize_messages(messages: Any, field: str) -> list[dict[str, str]]:
    """Validate a list of chat messages: dicts with a known `role` and a string `content`.

    Accepts ShareGPT-style ``{"from": "human"|"gpt"|"system", "value": ...}`` too.
    """
    if not isinstance(messages, list):
        raise RowRejected(DropReason.BAD_TYPE, field, f"expected a list of messages, got {type(messages).__name__}")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise RowRejected(DropReason.BAD_TYPE, f"{field}[{i}]", "expected a message object")
        if "role" in m:
            role, content = m.get("role"), m.get("content")
        elif "from" in m:
            speaker = m.get("from")
            if not isinstance(speaker, str):  # a list or dict here would be an unhashable lookup key
                raise RowRejected(DropReason.BAD_ROLES, f"{field}[{i}].from", f"expected a string, got {speaker!r}")
            role = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}.get(
                speaker, speaker
            )
            content = m.get("value")
        else:
            raise RowRejected(DropReason.MISSING_FIELD, f"{field}[{i}].role")
        if role not in ROLES:
            raise RowRejected(DropReason.BAD_ROLES, f"{field}[{i}].role", f"unknown role {role!r}")
        if content is None:
            raise RowRejected(DropReason.MISSING_FIELD, f"{field}[{i}].content")
        out.append({"role": role, "content": _as_text(content, f"{field}[{i}].content")})
    return out


def validate_context(context: list[dict[str, str]], field: str) -> None:
    """A context is non-empty, has `system` only first, and ends with a user turn; turns alternate."""
    if not context:
        raise RowRejected(DropReason.BAD_ROLES, field, "no user turn before the responses")
    body = context[1:] if context[0]["role"] == "system" else context
    if not body:
        raise RowRejected(DropReason.BAD_ROLES, field, "only a system message before the responses")
    for i, m in enumerate(body):
        expected = "user" if i % 2 == 0 else "assistant"
        if m["role"] != expected:
            raise RowRejected(DropReason.BAD_ROLES, field, f"turn {i} is {m['role']!r}, expected {expected!r}")
    if body[-1]["role"] != "user":
        raise RowRejected(DropReason.BAD_ROLES, field, "the context must end with a user turn")


def make_pair(
    context: list[dict[str, str]],
    chosen: Any,
    rejected: Any,
    margin: Any = None,
    source: str = "",
    context_field: str = "prompt",
) -> PreferencePair:
    """Build a validated `PreferencePair`; raises `RowRejected` naming the field at fault."""
    validate_context(context, context_field)
    chosen = _as_text(chosen, "chosen")
    rejected = _as_text(rejected, "rejected")
    if not chosen.strip():
        raise RowRejected(DropReason.EMPTY, "chosen")
    if not rejected.strip():
        raise RowRejected(DropReason.EMPTY, "rejected")
    if chosen == rejected:
        raise RowRejected(DropReason.IDENTICAL, "chosen/rejected")
    if margin is not None:
        if isinstance(margin, bool) or not isinstance(margin, (int, float)):
            raise RowRejected(DropReason.BAD_TYPE, "margin", f"expected a number, got {type(margin).__name__}")
        margin = float(margin)
        if margin != margin or margin in (float("inf"), float("-inf")):
            raise RowRejected(DropReason.BAD_TYPE, "margin", "not a finite number")
    return PreferencePair(tuple(context), chosen, rejected, margin, source)
