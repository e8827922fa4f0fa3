"""Train the three extra reward-model kinds (pairwise, regression, multi-objective) end to end on the embedded
SmolLM2-135M-Instruct with real hh-rlhf harmless-base pairs, and report held-out accuracy (95% bootstrap
intervals) before and after training, plus the same held-out pairs scored through the evaluator.

    .venv/bin/python benchmarks/model_kinds.py [--train-pairs 160] [--eval-pairs 120] [--max-length 256]

Data honesty: hh-rlhf has preference pairs only. The pairwise model trains on them directly. There are no
attribute labels here, so for the regression and multi-objective kinds each pair becomes two rows in
HelpSteer's row schema with two DERIVED objectives: ``preference`` (1 for the chosen, 0 for the rejected
response: a relative label written as if absolute) and ``verbosity`` (response length in words / 25, capped
at 4, HelpSteer's 0-4 range). Held-out accuracy is measured on the original held-out pairs in every case.

Reads ../shared/data/hh-rlhf-harmless-base/pairs.jsonl.gz; writes benchmarks/results/model_kinds.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch
import transformers

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "hh-rlhf-harmless-base" / "pairs.jsonl.gz"


def wait_for_quiet_machine(limit: float = 2.5, max_wait_s: float = 300) -> float:
    """The machine is shared: wait (bounded) while the 1-minute load is above `limit`; return the load."""
    t0 = time.time()
    while os.getloadavg()[0] > limit and time.time() - t0 < max_wait_s:
        time.sleep(15)
    return os.getloadavg()[0]


def attribute_rows(pairs: list) -> list[dict]:
    rows = []
    for p in pairs:
        for response, pref in ((p.chosen, 1), (p.rejected, 0)):
            rows.append({"prompt": [dict(m) for m in p.context], "response": response, "preference": pref,
                         "verbosity": min(4.0, len(response.split()) / 25)})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return str(path)


def through_evaluator(judge, eval_file: str) -> dict:
    from rewardlab.evaluation.evaluator import evaluate

    r = evaluate(judge, "pairs", eval_file, tie_policy="half", show_progress=False, batch_size=16)
    lo, hi = r.intervals["overall"]
    return {"accuracy": r.overall, "accuracy_ci_low": lo, "accuracy_ci_high": hi, "num_pairs": len(r.rows),
            "tie_policy": "half"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-pairs", type=int, default=160)
    ap.add_argument("--eval-pairs", type=int, default=120)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--kinds", default="pairwise,regression,multi_objective")
    ap.add_argument("--out", default=str(ROOT / "outputs" / "bench-model-kinds"))
    ap.add_argument("--max-wait", type=float, default=300, help="seconds to wait for the 1-min load to drop below 2.5")
    ap.add_argument("--no-write", action="store_true", help="print only (for a timing probe)")
    args = ap.parse_args()
    if not DATA.exists():
        print(f"needs {DATA} (project data outside the repository)", file=sys.stderr)
        return 1
    from rewardlab.data.readers import read_pairs, write_pairs_jsonl
    from rewardlab.kinds import load_judge

    torch.manual_seed(0)
    pairs, report = read_pairs(str(DATA))
    order = list(range(len(pairs)))
    random.Random(0).shuffle(order)
    train = [pairs[i] for i in order[: args.train_pairs]]
    held = [pairs[i] for i in order[args.train_pairs : args.train_pairs + args.eval_pairs]]
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    write_pairs_jsonl(train, work / "train_pairs.jsonl")
    write_pairs_jsonl(held, work / "eval_pairs.jsonl")
    eval_file = str(work / "eval_pairs.jsonl")
    rows_train = write_jsonl(work / "train_rows.jsonl", attribute_rows(train))
    rows_eval = write_jsonl(work / "eval_rows.jsonl", attribute_rows(held))

    load_start = wait_for_quiet_machine(max_wait_s=args.max_wait)
    results: dict = {}
    kinds = args.kinds.split(",")
    common = dict(model="smollm2-135m-instruct", max_length=args.max_length, seed=0)
    if "pairwise" in kinds:
        from rewardlab.kinds.pairwise import PairwiseConfig, train_pairwise

        cfg = PairwiseConfig(**common, data=str(work / "train_pairs.jsonl"), eval_data=eval_file,
                             output_dir=str(work / "pairwise"), learning_rate=2e-5, batch_size=8, micro_batch_size=4,
                             num_epochs=1, warmup_ratio=0.0, orderings="random", eval_batch_size=8)
        t0 = time.time()
        res = train_pairwise(cfg, device="cpu")
        train_s = time.time() - t0
        t0 = time.time()
        ev = through_evaluator(load_judge(res.output_dir, device="cpu"), eval_file)
        results["pairwise"] = {"before": res.summary["eval_before"], "after": res.summary["eval_after"],
                               "evaluator_after": ev, "train_wall_s": round(train_s, 1),
                               "eval_wall_s": round(time.time() - t0, 1),
                               "loss_first": res.summary["train_log"][0]["loss"],
                               "loss_last": res.summary["train_log"][-1]["loss"],
                               "truncated_prompts": res.summary["truncated_prompts"],
                               "config": {k: getattr(cfg, k) for k in ("learning_rate", "batch_size", "num_epochs",
                                                                       "orderings", "max_length")}}
    if "regression" in kinds:
        from rewardlab.kinds.regression import RegressionConfig, train_regression

        cfg = RegressionConfig(**common, data=rows_train, eval_data=rows_eval, attributes=("preference", "verbosity"),
                               weights=(1.0, 0.0), output_dir=str(work / "regression"), learning_rate=2e-5,
                               batch_size=8, micro_batch_size=8, num_epochs=1, warmup_ratio=0.0)
        t0 = time.time()
        res = train_regression(cfg, device="cpu")
        train_s = time.time() - t0
        t0 = time.time()
        ev = through_evaluator(load_judge(res.output_dir, device="cpu"), eval_file)
        results["regression"] = {"before": res.summary["eval_before"], "after": res.summary["eval_after"],
                                 "evaluator_after": ev, "train_wall_s": round(train_s, 1),
                                 "eval_wall_s": round(time.time() - t0, 1),
                                 "loss_first": res.summary["train_log"][0]["loss"],
                                 "loss_last": res.summary["train_log"][-1]["loss"],
                                 "config": {k: getattr(cfg, k) for k in ("learning_rate", "batch_size", "num_epochs",
                                                                         "attributes", "weights", "max_length")}}
    if "multi_objective" in kinds:
        from rewardlab.kinds.multi_objective import MultiObjectiveConfig, train_multi_objective

        cfg = MultiObjectiveConfig(**common, data=rows_train, eval_data=rows_eval,
                                   objectives=("preference", "verbosity"), verbosity_objective="verbosity",
                                   pair_objective="preference", val_fraction=0.2, gate_steps=300,
                                   output_dir=str(work / "multi_objective"), embed_batch_size=8)
        t0 = time.time()
        res = train_multi_objective(cfg, device="cpu")
        train_s = time.time() - t0
        t0 = time.time()
        ev = through_evaluator(load_judge(res.output_dir, device="cpu"), eval_file)
        s = res.summary
        results["multi_objective"] = {"before": s["eval_before"], "after": s["eval_after"], "evaluator_after": ev,
                                      "ridge": s["ridge"], "decorrelation_slopes": s["decorrelation_slopes"],
                                      "gate_loss_first": s["gate_loss_first"], "gate_loss_last": s["gate_loss_last"],
                                      "train_wall_s": round(train_s, 1), "eval_wall_s": round(time.time() - t0, 1),
                                      "num_fit_rows": s["num_fit_rows"], "num_val_rows": s["num_val_rows"],
                                      "truncated_conversations": s["truncated_conversations"]}
    record = {
        "command": "python benchmarks/model_kinds.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs "
                   f"(1-min load {load_start:.1f} at start), {torch.get_num_threads()} torch threads, no GPU",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
        "data": {"file": "../shared/data/hh-rlhf-harmless-base/pairs.jsonl.gz", "train_pairs": len(train),
                 "eval_pairs": len(held), "dropped_rows": dict(report.dropped), "split": "seeded shuffle (seed 0), "
                 "disjoint train / held-out pairs"},
        "results": results,
    }
    print(json.dumps(record, indent=1, default=str))
    if not args.no_write:
        out = ROOT / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "model_kinds.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        (out / "model_kinds.md").write_text(render_markdown(record))
    return 0


def _acc(e: dict) -> str:
    return f"{e['accuracy']:.3f} [{e['accuracy_ci_low']:.3f}, {e['accuracy_ci_high']:.3f}]"


def render_markdown(record: dict) -> str:
    r, d = record["results"], record["data"]
    md = ["# Pairwise, regression and multi-objective reward models on hh-rlhf harmless-base (real data)", "",
          f"Command: `{record['command']}`  ",
          f"Machine: {record['machine']}; torch {record['versions']['torch']}, transformers "
          f"{record['versions']['transformers']}, Python {record['versions']['python']}  ",
          f"Model: embedded SmolLM2-135M-Instruct. Data: {d['train_pairs']} training pairs, {d['eval_pairs']} held-out "
          f"pairs ({d['split']}). Accuracy = P(chosen ranked above rejected) with 95% percentile-bootstrap interval "
          "(1000 resamples); the pairwise model's ties (p exactly 0.5) count 0.5.", "",
          "Objectives for the regression and multi-objective kinds are DERIVED from the pairs (no attribute-labelled "
          "data exists here): `preference` = 1 chosen / 0 rejected, `verbosity` = words / 25 capped at 4.", "",
          "| kind | untrained | trained | through the evaluator (trained) | train time |", "|---|---|---|---|---|"]
    if "pairwise" in r:
        x = r["pairwise"]
        md.append(f"| pairwise (A/B answer token, both orderings averaged) | {_acc(x['before'])} | {_acc(x['after'])} "
                  f"| {_acc(x['evaluator_after'])} | {x['train_wall_s'] / 60:.1f} min |")
    if "regression" in r:
        x = r["regression"]
        md.append(f"| regression (preference + verbosity heads, weights 1 / 0) | {_acc(x['before']['pairs'])} | "
                  f"{_acc(x['after']['pairs'])} | {_acc(x['evaluator_after'])} | {x['train_wall_s'] / 60:.1f} min |")
    if "multi_objective" in r:
        x = r["multi_objective"]
        md.append(f"| multi-objective (ridge + gate, verbosity-corrected) | {_acc(x['before']['gated'])} (random "
                  f"gate) | {_acc(x['after']['gated'])} | {_acc(x['evaluator_after'])} | "
                  f"{x['train_wall_s'] / 60:.1f} min |")
    if "regression" in r:
        x = r["regression"]
        md += ["", f"Regression held-out MSE per attribute: before {fmt(x['before']['mse'])}, after "
               f"{fmt(x['after']['mse'])}; training loss {x['loss_first']:.3f} -> {x['loss_last']:.3f}."]
    if "pairwise" in r:
        x = r["pairwise"]
        md += ["", f"Pairwise training loss (cross-entropy of the answer token) {x['loss_first']:.3f} -> "
               f"{x['loss_last']:.3f}; mean P(chosen better) on held-out {x['before']['mean_p_chosen']:.3f} -> "
               f"{x['after']['mean_p_chosen']:.3f}."]
    if "multi_objective" in r:
        x = r["multi_objective"]
        ridge = "; ".join(f"{k}: alpha {v['alpha']:g}, val MSE {v['val_mse']:.4f} (mean predictor "
                          f"{v['val_mse_predict_mean']:.4f})" for k, v in x["ridge"].items())
        singles = ", ".join(f"{k.split(':', 1)[1]} {_acc(v)}" for k, v in x["after"].items()
                            if k.startswith("objective:"))
        corrected = ", ".join(f"{k.split(':', 1)[1]} {_acc(v)}" for k, v in x["after"].items()
                              if k.startswith("corrected:"))
        md += ["", f"Multi-objective stage 1 ({x['num_fit_rows']} fit rows, {x['num_val_rows']} validation rows): "
               f"{ridge}. De-correlation slopes subtracted: {fmt(x['decorrelation_slopes'])}. Held-out accuracy of "
               f"single raw objectives: {singles}; corrected: {corrected}; uniform weights "
               f"{_acc(x['after']['uniform_weights'])}. Gate BT loss {x['gate_loss_first']:.4f} -> "
               f"{x['gate_loss_last']:.4f}."]
    md += ["", "Numbers this small (tens of pairs, one epoch, a few hundred tokens at most, a 135M model) measure that each "
           "kind trains and evaluates end to end on real data; they are not estimates of what the kinds reach "
           "at the recipe's scale.", ""]
    return "\n".join(md)


def fmt(d: dict) -> str:
    return "{" + ", ".join(f"{k}: {v:.3f}" for k, v in d.items()) + "}"


if __name__ == "__main__":
    raise SystemExit(main())
