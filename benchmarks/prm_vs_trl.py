"""rewardlab's process kind against TRL's PRMTrainer on the same data and settings, in one run: wall time per
optimizer step, peak memory, held-out step accuracy (issue 23, item 5). NOT RUN YET: it needs `trl` (absent from
the project venv) and a quiet machine; the lead runs it.

    .venv/bin/pip install "trl>=0.20"   # into a separate environment if preferred; torch stays 2.13.0
    .venv/bin/python benchmarks/prm_vs_trl.py [--model smollm2-135m-instruct] [--max-steps 30] [--batch-size 16]

Same for both: the model (embedded SmolLM2-135M-Instruct by default, or --model), the bundled step-labelled demo
set (train 900 solutions, held-out 180), learning rate, schedule (cosine, warmup 3%), weight decay 0.001, global
batch and micro-batch, optimizer steps, max_length, separator "\\n", fp32, no gradient checkpointing, dropout off.
What differs, by design: TRL reads the prompt as plain text (no chat template) and uses a two-logit token
classification head (AutoModelForTokenClassification, cross-entropy averaged over every labelled token of a
micro-batch); rewardlab renders the prompt with the chat template and uses a one-logit head (binary cross-entropy,
averaged per solution). Step accuracy is measured the same way for both: a step is judged correct when
P(correct) >= 0.5 (TRL: argmax of its two logits), over all held-out steps.

Each trainer runs in its own subprocess, so the peak resident memory (ru_maxrss; on a GPU also
torch.cuda.max_memory_allocated) is its own. Writes benchmarks/results/prm_vs_trl.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def wait_for_quiet_machine(limit: float = 2.5, max_wait_s: float = 300) -> float:
    """The machine is shared: wait (bounded) while the 1-minute load is above `limit`; return the load."""
    t0 = time.time()
    while os.getloadavg()[0] > limit and time.time() - t0 < max_wait_s:
        time.sleep(15)
    return os.getloadavg()[0]


def peak_memory_mb() -> dict:
    import torch

    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available():
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def demo_rows(split: str) -> list[dict]:
    from rewardlab.data.steps import process_demo_path

    rows = [json.loads(line) for line in process_demo_path(split).read_text().splitlines()]
    return [{"prompt": r["prompt"], "completions": r["completions"], "labels": r["labels"]} for r in rows]


def run_rewardlab(args: argparse.Namespace) -> dict:
    from rewardlab.kinds.process import ProcessConfig, train_process

    with tempfile.TemporaryDirectory() as tmp:
        cfg = ProcessConfig(model=args.model, data="demo", output_dir=str(Path(tmp) / "m"), learning_rate=args.lr,
                            batch_size=args.batch_size, micro_batch_size=args.micro_batch_size,
                            max_steps=args.max_steps, max_length=args.max_length, step_separator="\n")
        t0 = time.perf_counter()
        result = train_process(cfg, quiet=True)
        total = time.perf_counter() - t0
    log = result.summary["train_log"]
    after = result.summary["eval_after"]
    return {"trainer": "rewardlab process (classifier head)", "train_seconds_per_step":
            sum(r["seconds"] for r in log) / len(log), "wall_seconds_incl_load_and_eval": total,
            "final_loss": log[-1]["loss"], "step_accuracy": after["step_accuracy"],
            "step_accuracy_ci": after["step_accuracy_ci"], "num_eval_steps": after["num_steps"], **peak_memory_mb()}


def run_trl(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch
    from datasets import Dataset
    from transformers import AutoModelForTokenClassification, TrainerCallback
    from trl.experimental.prm import PRMConfig, PRMTrainer

    from rewardlab.modeling.loading import ensure_distinct_pad_token, load_tokenizer, resolve_model_path

    tokenizer = load_tokenizer(args.model)
    model = AutoModelForTokenClassification.from_pretrained(resolve_model_path(args.model), num_labels=2,
                                                            dtype=torch.float32)
    ensure_distinct_pad_token(tokenizer, model)
    step_times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):  # noqa: ANN001
            self.t0 = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):  # noqa: ANN001
            step_times.append(time.perf_counter() - self.t0)

    with tempfile.TemporaryDirectory() as tmp:
        config = PRMConfig(output_dir=tmp, learning_rate=args.lr, per_device_train_batch_size=args.micro_batch_size,
                           gradient_accumulation_steps=args.batch_size // args.micro_batch_size,
                           max_steps=args.max_steps, lr_scheduler_type="cosine", warmup_ratio=0.03,
                           weight_decay=0.001, max_grad_norm=1.0, max_length=args.max_length, step_separator="\n",
                           bf16=False, fp16=False, gradient_checkpointing=False, disable_dropout=True,
                           report_to="none", save_strategy="no", logging_steps=1, seed=42,
                           per_device_eval_batch_size=16, use_cpu=not torch.cuda.is_available())
        trainer = PRMTrainer(model=model, args=config, processing_class=tokenizer,
                             train_dataset=Dataset.from_list(demo_rows("train")),
                             eval_dataset=Dataset.from_list(demo_rows("test")), callbacks=[Clock()])
        t0 = time.perf_counter()
        trainer.train()
        pred = trainer.predict(trainer.eval_dataset)
        total = time.perf_counter() - t0
    logits, labels = pred.predictions, pred.label_ids  # [N, T, 2], [N, T] with -100 off the step ends
    mask = labels != -100
    hits = (np.argmax(logits, axis=-1) == labels)[mask].astype(np.float64)
    from rewardlab.metrics import bootstrap_interval

    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"trainer": "TRL PRMTrainer (token classification, 2 labels)",
            "train_seconds_per_step": sum(step_times) / len(step_times), "wall_seconds_incl_load_and_eval": total,
            "final_loss": losses[-1] if losses else None, "step_accuracy": float(hits.mean()),
            "step_accuracy_ci": bootstrap_interval(hits), "num_eval_steps": int(mask.sum()), **peak_memory_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--micro-batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--which", choices=["both", "rewardlab", "trl"], default="both")
    args = parser.parse_args()
    if args.which != "both":  # a child: one trainer, its JSON on the last stdout line
        print(json.dumps(run_rewardlab(args) if args.which == "rewardlab" else run_trl(args)))
        return
    load = wait_for_quiet_machine()
    results = []
    for which in ("rewardlab", "trl"):
        cmd = [sys.executable, __file__, "--which", which, "--model", args.model, "--max-steps", str(args.max_steps),
               "--batch-size", str(args.batch_size), "--micro-batch-size", str(args.micro_batch_size),
               "--lr", str(args.lr), "--max-length", str(args.max_length)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    record = {"settings": vars(args), "load_at_start": load, "machine": platform.platform(),
              "python": platform.python_version(), "results": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "prm_vs_trl.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = ["| trainer | s / step | wall s (load+train+eval) | peak RSS MB | final loss | step accuracy (95% CI) |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lo, hi = r["step_accuracy_ci"]
        lines.append(f"| {r['trainer']} | {r['train_seconds_per_step']:.2f} | {r['wall_seconds_incl_load_and_eval']:.0f} "
                     f"| {r['peak_rss_mb']:.0f} | {r['final_loss']:.4f} | {r['step_accuracy']:.3f} ({lo:.3f}-{hi:.3f}) |")
    (RESULTS / "prm_vs_trl.md").write_text(f"# rewardlab process kind vs TRL PRMTrainer\n\nSettings: {vars(args)}\n\n"
                                           + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
