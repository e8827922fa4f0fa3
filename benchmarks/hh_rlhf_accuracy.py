"""Train the embedded SmolLM2-135M reward model on part of the real hh-rlhf harmless-base pairs and report
held-out accuracy before and after training, with 95% bootstrap intervals.

    .venv/bin/python benchmarks/hh_rlhf_accuracy.py [--train-pairs 800] [--eval-pairs 400]

Reads ../shared/data/hh-rlhf-harmless-base/pairs.jsonl.gz (not shipped with the repository). Writes
benchmarks/results/hh_rlhf_accuracy.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
import transformers

from rewardlab.config import TrainConfig
from rewardlab.training.trainer import train

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "hh-rlhf-harmless-base" / "pairs.jsonl.gz"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-pairs", type=int, default=800)
    ap.add_argument("--eval-pairs", type=int, default=400)
    ap.add_argument("--max-length", type=int, default=384)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--out", default=str(ROOT / "outputs" / "bench-hh-rlhf"))
    args = ap.parse_args()
    if not DATA.exists():
        print(f"needs {DATA} (project data outside the repository)", file=sys.stderr)
        return 1
    # eval_fraction carves a seeded held-out split from the 2,000 rows; max_* sizes keep the run short.
    cfg = TrainConfig(data=str(DATA), output_dir=args.out, max_length=args.max_length, learning_rate=args.lr,
                      batch_size=16, micro_batch_size=8, num_epochs=args.epochs, eval_fraction=0.4,
                      max_train_pairs=args.train_pairs, max_eval_pairs=args.eval_pairs, precision="auto",
                      gradient_checkpointing=False, eval_steps=None, report_to="none", eval_batch_size=16)
    t0 = time.time()
    result = train(cfg)
    wall = time.time() - t0
    s = result.summary
    before, after = s["eval_before"], s["eval_after"]
    record = {
        "command": "python benchmarks/hh_rlhf_accuracy.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()} {torch.get_num_threads()} threads, {platform.processor() or 'cpu'}",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
        "config": {k: getattr(cfg, k) for k in ("max_length", "learning_rate", "batch_size", "num_epochs",
                                               "max_train_pairs", "max_eval_pairs", "precision")},
        "train_pairs": s["num_train_pairs"], "eval_pairs": s["num_eval_pairs"],
        "dropped_rows": s["dropped_rows"], "truncated_conversations": s["truncated_conversations"],
        "before": before, "after": after, "wall_seconds": round(wall, 1),
        "beats_untrained": after["accuracy"] > before["accuracy"],
        "intervals_disjoint": after["accuracy_ci_low"] > before["accuracy_ci_high"],
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "hh_rlhf_accuracy.json").write_text(json.dumps(record, indent=2) + "\n")
    md = [
        "# Embedded SmolLM2-135M reward model on hh-rlhf harmless-base (real data)",
        "",
        f"Command: `{record['command']}`  ",
        f"Machine: {record['machine']}; torch {torch.__version__}, transformers {transformers.__version__}  ",
        f"Training pairs: {s['num_train_pairs']}, held-out pairs: {s['num_eval_pairs']} (disjoint rows of the "
        f"2,000-row sample; {sum(s['dropped_rows'].values())} invalid rows dropped: {s['dropped_rows']}), "
        f"max_length {cfg.max_length}, {cfg.num_epochs} epoch, lr {cfg.learning_rate}, batch {cfg.batch_size}, "
        f"{s['mixed_precision']}; wall time {wall / 60:.1f} min.",
        "",
        "| model | held-out accuracy | 95% bootstrap interval |",
        "|---|---|---|",
        f"| untrained (random score head) | {before['accuracy']:.3f} | "
        f"[{before['accuracy_ci_low']:.3f}, {before['accuracy_ci_high']:.3f}] |",
        f"| trained | {after['accuracy']:.3f} | [{after['accuracy_ci_low']:.3f}, {after['accuracy_ci_high']:.3f}] |",
        "",
        f"Trained beats untrained: {record['beats_untrained']}; intervals disjoint: {record['intervals_disjoint']}.",
    ]
    (out / "hh_rlhf_accuracy.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if record["beats_untrained"] else 1


if __name__ == "__main__":
    sys.exit(main())
