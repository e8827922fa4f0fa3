"""Evaluation outputs: results JSON (upstream's flat layout plus extras), upstream's own flat file, Markdown,
model-card section."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from rewardlab.evaluation.constants import PRIOR_SETS_SECTION, RB2_SECTION
from rewardlab.evaluation.evaluator import EvalResult
from rewardlab.io_utils import atomic_write_json, atomic_write_text
from rewardlab.metrics import interval_note

# The flat file upstream's run writes (`scripts/run_rm.py` / `run_v2.py` -> `save_to_hub`, which also writes the
# same dict to Beaker's `metrics.json`): what upstream's `analysis/utils.py` `load_results` reads back.
UPSTREAM_RESULTS_FILE = "metrics.json"

BENCHMARK_TITLES = {"rewardbench": "RewardBench", "rewardbench2": "RewardBench 2", "pairs": "Held-out pairs"}
_RESERVED = {
    "model",
    "model_type",
    "chat_template",
    "benchmark",
    "sections",
    "score",
    "intervals",
    "counts",
    "tie_policy",
    "weights",
    "bootstrap",
    "warnings",
    "dropped",
}


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def upstream_results(
    result: EvalResult, model_type: str = "Seq. Classifier", chat_template: str = "tokenizer"
) -> dict[str, Any]:
    """Upstream's flat ``{"model", "model_type", "chat_template", <subset>: score, ...}`` (`results_grouped` in
    allenai/reward-bench `scripts/run_rm.py`), one float per subset. `model_type` is upstream's label for the
    model (the kind registry's `upstream_model_type`); `chat_template` is "tokenizer" as rewardlab always applies the
    tokenizer's own template."""
    out: dict[str, Any] = {"model": result.model, "model_type": model_type, "chat_template": chat_template}
    for name, value in result.subset_scores.items():
        if name in _RESERVED:
            raise ValueError(f"subset name {name!r} collides with a results key")
        out[name] = float(value)
    return out


def results_dict(
    result: EvalResult, model_type: str = "Seq. Classifier", chat_template: str = "tokenizer"
) -> dict[str, Any]:
    """`upstream_results`, then `sections`, `score` (the leaderboard number), `intervals`, `counts` and the
    settings used."""
    out = upstream_results(result, model_type, chat_template)
    iv = result.intervals
    out.update(
        {
            "benchmark": result.benchmark,
            "sections": dict(result.sections),
            "score": _num(result.overall),
            "intervals": {
                "confidence": result.confidence,
                "subsets": {k: [_num(a), _num(b)] for k, (a, b) in iv["subsets"].items()},
                "sections": {k: [_num(a), _num(b)] for k, (a, b) in iv["sections"].items()},
                "score": [_num(iv["overall"][0]), _num(iv["overall"][1])],
            },
            "counts": dict(result.counts),
            "tie_policy": result.tie_policy,
            "weights": result.weights,
            "bootstrap": {"samples": result.bootstrap_samples, "seed": result.seed, "unit": "row within subset"},
            "warnings": list(result.warnings),
        }
    )
    if result.dropped is not None:
        out["dropped"] = result.dropped
    return out


def _pct(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{100 * x:.1f}"


def _ci(pair: tuple[float, float]) -> str:
    lo, hi = pair
    return "–" if math.isnan(lo) else f"[{100 * lo:.1f}, {100 * hi:.1f}]"


def markdown_table(result: EvalResult) -> str:
    """Sections (with the overall score) and subsets as Markdown tables, scores in percent."""
    title = BENCHMARK_TITLES.get(result.benchmark, result.benchmark)
    level = round(100 * result.confidence)
    iv = result.intervals
    # a handful of rows: no interval (a bootstrap over 4 rows all right is "[100.0, 100.0]"), say why instead
    note = None if math.isnan(iv["overall"][0]) else interval_note(sum(result.counts.values()), *iv["overall"], "rows")
    lines = [
        f"**{title}** score: **{_pct(result.overall)}** ({note or f'{level}% CI ' + _ci(iv['overall'])}), "
        f"ties counted {'as wrong' if result.tie_policy == 'wrong' else 'as half'}, "
        f"{sum(result.counts.values())} rows"
        + (f", {result.weights} subset weights." if result.weights != "leaderboard" else "."),
        "",
    ]
    show_sections = not (len(result.sections) == 1 and next(iter(result.sections)) in (RB2_SECTION, "All"))
    if show_sections:
        lines += [f"| section | score | {level}% CI |", "|---|---|---|"]
        for name, value in result.sections.items():
            label = f"{name} (weight 0.5)" if name == PRIOR_SETS_SECTION else name
            lines.append(f"| {label} | {_pct(value)} | {_ci(iv['sections'][name])} |")
        lines.append("")
    lines += [f"| subset | score | {level}% CI | rows |", "|---|---|---|---|"]
    for name, value in result.subset_scores.items():
        lines.append(f"| {name} | {_pct(value)} | {_ci(iv['subsets'][name])} | {result.counts[name]} |")
    if result.warnings:
        lines += ["", *[f"> Note: {w}" for w in result.warnings]]
    return "\n".join(lines) + "\n"


def write_results(
    result: EvalResult,
    out_dir: str | Path,
    write_rows: bool = True,
    model_type: str = "Seq. Classifier",
    chat_template: str = "tokenizer",
) -> dict[str, Path]:
    """Write ``results.json``, ``results.md``, for RewardBench v1/v2 upstream's flat ``metrics.json``, and
    (optionally) ``scores.jsonl`` (one line per row), each atomically."""
    out = Path(out_dir)
    paths = {"json": out / "results.json", "markdown": out / "results.md"}
    atomic_write_json(paths["json"], results_dict(result, model_type, chat_template))
    if result.benchmark in ("rewardbench", "rewardbench2"):
        paths["upstream"] = out / UPSTREAM_RESULTS_FILE
        # upstream's save_to_hub: json.dumps(results, indent=4, sort_keys=True)
        flat = json.dumps(upstream_results(result, model_type, chat_template), indent=4, sort_keys=True)
        atomic_write_text(paths["upstream"], flat + "\n")
    atomic_write_text(paths["markdown"], markdown_table(result))
    if write_rows:
        paths["scores"] = out / "scores.jsonl"
        lines = (
            json.dumps(
                {"id": r.id, "subset": r.subset, "rewards": r.rewards, "num_chosen": r.num_chosen, "credit": r.credit}
            )
            for r in result.rows
        )
        atomic_write_text(paths["scores"], "".join(line + "\n" for line in lines))
    return paths


_HEADING = re.compile(r"^(#{1,6})\s")


def _section_span(lines: list[str], heading: str) -> tuple[int | None, int]:
    """(index of the heading line or None, index one past the section's last line)."""
    level = len(heading) - len(heading.lstrip("#"))
    start, in_fence = None, False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        m = _HEADING.match(line)
        if start is None and line.strip() == heading.strip():
            start = i
        elif start is not None and m and len(m.group(1)) <= level:
            return start, i
    return start, len(lines)


def read_section(text: str, heading: str) -> str:
    """Body of the Markdown section titled `heading` (without the heading line); "" when absent."""
    lines = text.splitlines(keepends=True)
    start, end = _section_span(lines, heading)
    return "" if start is None else "".join(lines[start + 1 : end]).strip("\n") + "\n"


def replace_section(text: str, heading: str, body: str) -> str:
    """Insert or replace the Markdown section titled `heading` ("## Evaluation"): it runs up to the next
    heading of the same or a higher level. Appended at the end when absent; fenced code is not parsed."""
    block = heading.rstrip() + "\n\n" + body.strip("\n") + "\n"
    lines = text.splitlines(keepends=True)
    start, end = _section_span(lines, heading)
    if start is None:
        sep = "" if not text or text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n"
        return text + sep + block
    tail = lines[end:]
    return "".join(lines[:start]) + block + ("\n" if tail else "") + "".join(tail)


def update_model_card(model_dir: str | Path, markdown_section: str, heading: str = "## Evaluation") -> Path:
    """Insert or replace the "## Evaluation" section of ``model_dir/README.md`` (created if missing), atomically."""
    path = Path(model_dir) / "README.md"
    if not Path(model_dir).is_dir():
        raise FileNotFoundError(f"{model_dir} is not a folder")
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    atomic_write_text(path, replace_section(text, heading, markdown_section))
    return path
