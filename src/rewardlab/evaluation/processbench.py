"""Process reward models on ProcessBench (first-error identification) and on any step-labelled file.

ProcessBench (Qwen/ProcessBench; Zheng et al., ACL 2025): rows ``id, generator, problem, steps[],
final_answer_correct, label``, ``label`` the index of the first wrong step, -1 when every step is right; four
splits (gsm8k, math, olympiadbench, omnimath). A process model predicts the first step whose P(correct) is below
the threshold (-1 if none); a row counts when the prediction equals the label. The score of a split is the F1 of
the accuracy on erroneous rows and the accuracy on correct rows (upstream code/run_eval.py), and the headline is
the mean F1 over the splits. Intervals: 95% percentile bootstrap, rows resampled within each split.

``--benchmark steps`` reads step-labelled rows (TRL stepwise supervision, Math-Shepherd, PRM800K, ProcessBench)
and reports step accuracy, first-error F1 and best-of-n accuracy per aggregation (`kinds.process.evaluate_examples`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.data.schema import DataError

PROCESSBENCH_ID = "Qwen/ProcessBench"
PROCESSBENCH_SPLITS = ("gsm8k", "math", "olympiadbench", "omnimath")


@dataclasses.dataclass(frozen=True)
class ProcessBenchRow:
    id: str
    subset: str
    problem: str
    steps: tuple[str, ...]
    label: int


def parse_processbench_row(row: Any, where: str, subset: str | None = None) -> ProcessBenchRow:
    """One row of ProcessBench's published schema; a bad field stops the read naming where and which."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object with ProcessBench's fields (id, problem, steps, label)")
    for key, kind in (("id", str), ("problem", str), ("steps", list)):
        if not isinstance(row.get(key), kind):
            raise DataError(f"{where}: field '{key}' must be a {kind.__name__} (ProcessBench schema), got "
                            f"{row.get(key)!r:.60}")
    steps = row["steps"]
    if not steps or not all(isinstance(s, str) and s.strip() for s in steps):
        raise DataError(f"{where}: field 'steps' must be a non-empty list of non-empty strings")
    label = row.get("label")
    if isinstance(label, bool) or not isinstance(label, int) or not -1 <= label < len(steps):
        raise DataError(f"{where}: field 'label' must be -1 or a step index below {len(steps)}, got {label!r}")
    if "final_answer_correct" in row and not isinstance(row["final_answer_correct"], bool):
        raise DataError(f"{where}: field 'final_answer_correct' must be true or false")
    if subset is None:  # upstream ids are "<split>-<n>"
        subset = row["id"].rsplit("-", 1)[0] if "-" in row["id"] else "all"
    return ProcessBenchRow(row["id"], subset, row["problem"], tuple(steps), label)


def read_processbench(data: str | None = None, split: str | None = None, limit: int | None = None
                      ) -> list[ProcessBenchRow]:
    """A local file in ProcessBench's schema, or the hub dataset (every split, or `split`)."""
    from rewardlab.data.readers import iter_rows

    rows: list[ProcessBenchRow] = []
    if data is None:
        for name in (split,) if split else PROCESSBENCH_SPLITS:
            taken = 0
            for where, row in iter_rows(PROCESSBENCH_ID, name):
                if limit is not None and taken >= limit:
                    break
                rows.append(parse_processbench_row(row, where, name))
                taken += 1
    else:
        for where, row in iter_rows(data, split or "train"):
            if limit is not None and len(rows) >= limit:
                break
            rows.append(parse_processbench_row(row, where))
    if not rows:
        raise DataError(f"{data or PROCESSBENCH_ID}: no rows")
    return rows


# ----------------------------------------------------------------------------------------------- the scores
def f1_from_counts(err_hits: np.ndarray, err_n: np.ndarray, ok_hits: np.ndarray, ok_n: np.ndarray) -> np.ndarray:
    """Vectorised `kinds.process.first_error_f1` from counts (any equal shapes): NaN where a side is empty."""
    with np.errstate(invalid="ignore", divide="ignore"):
        a1, a2 = err_hits / err_n, ok_hits / ok_n
        f1 = np.where(a1 + a2 > 0, 2 * a1 * a2 / (a1 + a2), 0.0)
    return np.where((err_n > 0) & (ok_n > 0), f1, np.nan)


def processbench_scores(predictions: Sequence[int], rows: Sequence[ProcessBenchRow], bootstrap_samples: int = 1000,
                        seed: int = 0) -> dict[str, Any]:
    """Per split: error / correct accuracy and F1 with a 95% bootstrap interval of the F1; ``average_f1``: the mean
    over splits (the paper's "Avg. F1"), its interval from the same replicates."""
    from rewardlab.evaluation.bootstrap import percentile_interval
    from rewardlab.kinds.process import first_error_f1

    rng = np.random.default_rng(seed)
    subsets: dict[str, Any] = {}
    replicates = []
    for name in sorted({r.subset for r in rows}):
        idx = [i for i, r in enumerate(rows) if r.subset == name]
        pred, lab = [predictions[i] for i in idx], [rows[i].label for i in idx]
        scores = first_error_f1(pred, lab)
        match = np.array([p == y for p, y in zip(pred, lab)], dtype=np.float64)
        erroneous = np.array([y != -1 for y in lab], dtype=np.float64)
        draw = rng.integers(0, len(idx), size=(bootstrap_samples, len(idx)))
        m, e = match[draw], erroneous[draw]
        f1 = f1_from_counts((m * e).sum(1), e.sum(1), (m * (1 - e)).sum(1), (1 - e).sum(1))
        replicates.append(f1)
        scores["f1_ci"] = percentile_interval(f1)
        subsets[name] = scores
    average = float(np.mean([s["f1"] for s in subsets.values()]))
    return {"average_f1": average, "average_f1_ci": percentile_interval(np.mean(replicates, axis=0)), "subsets": subsets,
            "num_rows": len(rows)}


def evaluate_processbench(scorer: Any, rows: Sequence[ProcessBenchRow], threshold: float = 0.5,
                          bootstrap_samples: int = 1000, seed: int = 0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(scores, one record per row with its step scores and predicted first error)."""
    from rewardlab.kinds.process import first_error

    step_scores = scorer.score_steps([([{"role": "user", "content": r.problem}], r.steps) for r in rows])
    predictions = [first_error(s, threshold) for s in step_scores]
    scores = processbench_scores(predictions, rows, bootstrap_samples, seed)
    scores["threshold"] = threshold
    records = [{"id": r.id, "subset": r.subset, "label": r.label, "prediction": p, "match": p == r.label,
                "step_scores": s} for r, p, s in zip(rows, predictions, step_scores)]
    return scores, records


# ------------------------------------------------------------------------------------------------ the command
def markdown(benchmark: str, scores: dict[str, Any]) -> str:
    def pct(x: float) -> str:
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"

    if benchmark == "processbench":
        lines = ["| split | error acc. | correct acc. | F1 | F1 95% CI | rows |", "|---|---|---|---|---|---|"]
        for name, s in scores["subsets"].items():
            lo, hi = s["f1_ci"]
            lines.append(f"| {name} | {pct(s['error_accuracy'])} | {pct(s['correct_accuracy'])} | {pct(s['f1'])} | "
                         f"{pct(lo)}-{pct(hi)} | {s['num_error'] + s['num_correct']} |")
        lo, hi = scores["average_f1_ci"]
        lines.append(f"| **average** | | | **{pct(scores['average_f1'])}** | {pct(lo)}-{pct(hi)} | "
                     f"{scores['num_rows']} |")
        return "\n".join(lines) + "\n"
    lo, hi = scores["step_accuracy_ci"]
    fe = scores["first_error"]
    lines = ["| metric | value | 95% CI |", "|---|---|---|",
             f"| step accuracy ({scores['num_steps']} steps) | {pct(scores['step_accuracy'])} | {pct(lo)}-{pct(hi)} |",
             f"| first-error F1 (error {pct(fe['error_accuracy'])}, correct {pct(fe['correct_accuracy'])}) | "
             f"{pct(fe['f1'])} | |"]
    if "best_of_n" in scores:
        b = scores["best_of_n"]
        for how in ("min", "last", "product", "mean"):
            lo, hi = b[how]["ci"]
            lines.append(f"| best-of-n, {how} ({b['num_problems']} problems) | {pct(b[how]['accuracy'])} | "
                         f"{pct(lo)}-{pct(hi)} |")
        lines.append(f"| best-of-n, random pick / oracle | {pct(b['random'])} / {pct(b['oracle'])} | |")
    return "\n".join(lines) + "\n"


def process_eval_command(model: str, benchmark: str = "processbench", data: str | None = None,
                         out_dir: str | None = None, split: str | None = None, limit: int | None = None,
                         batch_size: int = 16, max_length: int | None = None, threshold: float | None = None,
                         bootstrap_samples: int = 1000, seed: int = 0, device: str | None = None,
                         overwrite: bool = False, scorer: Any = None) -> int:
    """`rewardlab eval MODEL --benchmark processbench|steps`: writes results.json, results.md and
    predictions.jsonl into `out_dir` (default MODEL/eval/BENCHMARK). `scorer` replaces loading `model`."""
    from rewardlab.evaluation.cli_commands import default_out_dir
    from rewardlab.io_utils import AtomicDirectory, OutputRefused, atomic_write_json, check_output_path
    from rewardlab.kinds import load_scorer, read_kind_file, saved_kind

    out = Path(out_dir) if out_dir is not None else default_out_dir(model, benchmark)
    try:
        check_output_path(out, overwrite=overwrite, inputs=(model, data), what="results folder")
        if scorer is None:
            if saved_kind(model) != "process":
                raise ValueError(f"{model} is not a process reward model folder (rewardlab_kind.json kind "
                                 "'process'); train one with `rewardlab train --kind process`")
            scorer = load_scorer(model, device=device, max_length=max_length, batch_size=batch_size)
        if threshold is None:
            threshold = read_kind_file(model)["config"]["threshold"] if Path(model).is_dir() else 0.5
        if benchmark == "processbench":
            rows = read_processbench(data, split, limit)
            scores, records = evaluate_processbench(scorer, rows, threshold, bootstrap_samples, seed)
        elif benchmark == "steps":
            from rewardlab.data.steps import read_step_examples
            from rewardlab.kinds.process import evaluate_examples

            if not data:
                raise ValueError("--benchmark steps needs a file of step-labelled rows: --data FILE")
            examples = read_step_examples(data, split or "train")[:limit]
            steps = scorer.score_steps([(e.context, e.steps) for e in examples])
            scores = evaluate_examples(scorer, examples, threshold, bootstrap_samples, seed, step_scores=steps)
            records = [{"labels": list(e.labels), "step_scores": s} for e, s in zip(examples, steps)]
        else:
            raise ValueError(f"unknown process benchmark {benchmark!r}")
    except (DataError, FileNotFoundError, ValueError, OutputRefused) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = {"model": model, "benchmark": benchmark, "data": data or PROCESSBENCH_ID,
              "aggregation": getattr(scorer, "aggregation", None), **scores}
    table = markdown(benchmark, scores)
    with AtomicDirectory(out, overwrite=overwrite, command="eval", inputs=(model, data)) as tmp:
        atomic_write_json(tmp / "results.json", result)
        (tmp / "results.md").write_text(table)
        (tmp / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if getattr(scorer, "truncated", 0):
        print(f"note: {scorer.truncated} solutions were truncated from the left", file=sys.stderr)
    print(table)
    print(f"results: {out / 'results.json'}")
    return 0
