"""Step-labelled solutions (process supervision): read TRL's stepwise-supervision rows and convert the known
process datasets into them.

One `StepExample` = a context (the problem, as chat messages), a solution cut into steps, and one label per step
(True = the step is correct). Row formats, detected per row:

- TRL stepwise supervision (``trl-lib/math_shepherd``, ``trl-lib/prm800k``): ``prompt`` (str or messages),
  ``completions`` (list of step strings), ``labels`` (one bool per step; 0/1 accepted);
- Math-Shepherd (``peiyi9979/Math-Shepherd``): ``input`` with a ``ки`` tag after each step and ``label`` the same
  text with each tag replaced by ``+`` or ``-``; converted as TRL's ``examples/datasets/math_shepherd.py`` does;
- PRM800K (``openai/prm800k`` phase files): ``question.problem`` + ``label.steps[]`` with rated completions,
  expanded as TRL's ``examples/datasets/prm800k.py`` does (one row per rejected alternative + the chosen path,
  so rows of one problem share their leading steps);
- ProcessBench (``Qwen/ProcessBench``): ``problem``, ``steps``, ``label`` (index of the first wrong step, -1 if
  none): the steps up to the first wrong one are labelled (later steps carry no label there, so they are left out).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

from rewardlab.data.schema import DataError, DropReason, RowRejected

Message = dict[str, str]
MATH_SHEPHERD_TAG = "ки"


@dataclasses.dataclass(frozen=True)
class StepExample:
    """One solution: its context messages, its steps and one label per step (True = correct)."""

    context: tuple[Message, ...]
    steps: tuple[str, ...]
    labels: tuple[bool, ...]

    @property
    def first_error(self) -> int:
        """Index of the first wrong step, -1 when every step is correct (ProcessBench's ``label``)."""
        return next((i for i, ok in enumerate(self.labels) if not ok), -1)

    @property
    def correct(self) -> bool:
        return all(self.labels)

    def to_trl_row(self) -> dict[str, Any]:
        """TRL's stepwise-supervision row (a single user turn becomes a plain ``prompt`` string)."""
        ctx = [dict(m) for m in self.context]
        prompt: Any = ctx[0]["content"] if len(ctx) == 1 and ctx[0]["role"] == "user" else ctx
        return {"prompt": prompt, "completions": list(self.steps), "labels": list(self.labels)}


def split_steps(text: str, separator: str) -> list[str]:
    """A response cut into steps at `separator`; empty pieces (a trailing separator, blank lines) are dropped."""
    if not separator:
        raise ValueError("the step separator is empty")
    return [s for s in text.split(separator) if s.strip()]


def _label(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise RowRejected(DropReason.BAD_TYPE, field, f"expected a bool (or 0/1), got {value!r}")


def _steps(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise RowRejected(DropReason.BAD_TYPE, field, "expected a non-empty list of step strings")
    for i, s in enumerate(value):
        if not isinstance(s, str) or not s.strip():
            raise RowRejected(DropReason.BAD_TYPE, f"{field}[{i}]", f"expected a non-empty string, got {s!r}")
    return value


def _context(prompt: Any, field: str) -> tuple[Message, ...]:
    from rewardlab.data.readers import prompt_messages

    if isinstance(prompt, str) and not prompt.strip():
        raise RowRejected(DropReason.EMPTY, field)
    if prompt is None:
        raise RowRejected(DropReason.MISSING_FIELD, field)
    return tuple(prompt_messages(prompt, field))


def math_shepherd_row(row: dict[str, Any]) -> dict[str, Any]:
    """A Math-Shepherd row (``input`` with ``ки`` tags, ``label`` with ``+``/``-``) as a TRL stepwise row.

    TRL's converter (huggingface/trl examples/datasets/math_shepherd.py) without its list of twelve hand-spotted
    annotation errors: a tag in the problem text is refused here, naming the row, instead of being skipped.
    """
    text, tagged = row.get("input"), row.get("label")
    if not isinstance(text, str) or not isinstance(tagged, str):
        raise RowRejected(DropReason.BAD_TYPE, "input", "Math-Shepherd rows need string 'input' and 'label'")
    single = text.replace(MATH_SHEPHERD_TAG, "\u2dbb")  # one character, so offsets match the label's
    if len(single) != len(tagged):
        raise RowRejected(DropReason.MALFORMED, "label", "is not 'input' with each tag replaced by + or -")
    indexes = [m.start() for m in re.finditer("\u2dbb", single)]
    if not indexes:
        raise RowRejected(DropReason.MALFORMED, "input", f"no {MATH_SHEPHERD_TAG!r} step tags")
    if any(tagged[i] not in "+-" for i in indexes):
        raise RowRejected(DropReason.MALFORMED, "label", "a step tag is not + or -")
    labels = [tagged[i] == "+" for i in indexes]
    pieces = [single[i:j] for i, j in zip(chain([0], indexes), chain(indexes, [None]))][:-1]
    prompt, completions = pieces[0], [p[1:].strip() for p in pieces[1:]]
    for marker in ("Step 1:", "step 1:"):
        if marker in prompt:
            prompt, first = prompt.split(marker, 1)
            completions = [(marker + first).strip(), *completions]
            break
    else:
        if "?" not in prompt:
            raise RowRejected(DropReason.MALFORMED, "input", "cannot find where the first step starts "
                                                             "(no 'Step 1:' and no '?')")
        prompt, first = prompt.split("?", 1)
        prompt += "?"
        completions = [first.strip(), *completions]
    if len(completions) != len(labels) or not all(completions):
        raise RowRejected(DropReason.MALFORMED, "input", f"{len(completions)} steps for {len(labels)} tags "
                                                         "(a tag inside the problem text?)")
    return {"prompt": prompt.strip(), "completions": completions, "labels": labels}


def prm800k_rows(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A PRM800K phase-file row as TRL stepwise rows (transcribed from huggingface/trl
    examples/datasets/prm800k.py ``process_example``): each rejected alternative of a step ends a row; the
    chosen (or human) completion extends the shared path; the full path is the last row. Rating 1 = correct."""
    question, label = row.get("question"), row.get("label")
    if not isinstance(question, dict) or not isinstance(question.get("problem"), str):
        raise RowRejected(DropReason.BAD_TYPE, "question.problem", "expected a string")
    if not isinstance(label, dict) or not isinstance(label.get("steps"), list):
        raise RowRejected(DropReason.BAD_TYPE, "label.steps", "expected a list")
    prompt, outputs, path, path_labels = question["problem"], [], [], []
    for k, step in enumerate(label["steps"]):
        completions = step.get("completions")
        chosen, human = step.get("chosen_completion"), step.get("human_completion")
        if completions is None and human is None and chosen is None:
            break
        for i, completion in enumerate(completions or []):
            if i != chosen:
                outputs.append({"prompt": prompt, "completions": [*path, completion["text"]],
                                "labels": [*path_labels, completion.get("rating") == 1]})
        if chosen is not None:
            picked = completions[chosen]
            ok = picked.get("rating") == 1
        elif human is not None:
            picked, ok = human, True
        else:
            break
        if not isinstance(picked.get("text"), str):
            raise RowRejected(DropReason.BAD_TYPE, f"label.steps[{k}]", "completion without a string 'text'")
        path.append(picked["text"])
        path_labels.append(ok)
    outputs.append({"prompt": prompt, "completions": path, "labels": path_labels})
    return [o for o in outputs if o["completions"]]  # TRL's script filters empty completions before training


def processbench_row(row: dict[str, Any]) -> dict[str, Any]:
    """A ProcessBench row as a TRL stepwise row: steps before ``label`` correct, step ``label`` wrong, rest out."""
    steps, first_error = _steps(row.get("steps"), "steps"), row.get("label")
    if isinstance(first_error, bool) or not isinstance(first_error, int) or not -1 <= first_error < len(steps):
        raise RowRejected(DropReason.BAD_TYPE, "label", f"expected -1 or a step index below {len(steps)}, "
                                                        f"got {first_error!r}")
    if first_error == -1:
        return {"prompt": row.get("problem"), "completions": steps, "labels": [True] * len(steps)}
    return {"prompt": row.get("problem"), "completions": steps[: first_error + 1],
            "labels": [True] * first_error + [False]}


def row_examples(row: Any) -> list[StepExample]:
    """The `StepExample`s of one row of any supported format (raises `RowRejected` naming the field)."""
    if isinstance(row, RowRejected):
        raise row
    if not isinstance(row, dict):
        raise RowRejected(DropReason.UNKNOWN_FORMAT, "<row>", f"expected an object, got {type(row).__name__}")
    if "completions" in row:
        trl_rows = [row]
    elif "input" in row and "label" in row:
        trl_rows = [math_shepherd_row(row)]
    elif "question" in row and "label" in row:
        trl_rows = prm800k_rows(row)
    elif "problem" in row and "steps" in row:
        trl_rows = [processbench_row(row)]
    else:
        raise RowRejected(DropReason.UNKNOWN_FORMAT, "<row>", "expected TRL stepwise rows (prompt, completions, "
                                                              "labels), Math-Shepherd, PRM800K or ProcessBench")
    out = []
    for r in trl_rows:
        steps = _steps(r.get("completions"), "completions")
        labels = r.get("labels")
        if not isinstance(labels, list) or len(labels) != len(steps):
            raise RowRejected(DropReason.BAD_TYPE, "labels", f"expected one label per step ({len(steps)}), got "
                                                             f"{labels!r}")
        out.append(StepExample(_context(r.get("prompt"), "prompt"), tuple(steps),
                               tuple(_label(x, f"labels[{i}]") for i, x in enumerate(labels))))
    return out


def iter_step_examples(spec: str, split: str = "train") -> Iterator[tuple[str, StepExample]]:
    from rewardlab.data.readers import iter_rows

    for where, row in iter_rows(spec, split):
        try:
            examples = row_examples(row)
        except RowRejected as e:
            raise DataError(f"{where}: {e}") from None
        for example in examples:
            yield where, example


def read_step_examples(spec: str, split: str = "train") -> list[StepExample]:
    """Every `StepExample` of a file, folder or hub dataset; a bad row stops the read naming file:row and field."""
    out = [e for _, e in iter_step_examples(spec, split)]
    if not out:
        raise DataError(f"{spec}: no step-labelled rows")
    return out


def group_by_context(examples: Sequence[StepExample]) -> list[list[StepExample]]:
    """Solutions grouped by their context (problem), in first-seen order: the candidates of best-of-n."""
    groups: dict[tuple, list[StepExample]] = {}
    for e in examples:
        groups.setdefault(tuple((m["role"], m["content"]) for m in e.context), []).append(e)
    return list(groups.values())


def process_demo_path(split: str) -> Path:
    """The bundled step-labelled demo set (arithmetic word problems; see data/demo/README.md): train or test."""
    from rewardlab.data.demo import DEMO_DIR, SPLITS

    if split not in SPLITS:
        raise ValueError(f"unknown demo split {split!r}; valid splits: {', '.join(SPLITS)}")
    return DEMO_DIR / f"process_{split}.jsonl"
