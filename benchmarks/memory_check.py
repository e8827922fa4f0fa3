"""Peak training memory of rewardlab's trainer on the CPU vs `rewardlab.memory.estimate_training_memory`.

    .venv/bin/python benchmarks/memory_check.py [--quick]

For each model (tiny random Llamas from `build_tiny_model_dir`, and the embedded SmolLM2-135M), packed pair
length and gradient checkpointing on/off, a FRESH subprocess imports torch, transformers, accelerate and
rewardlab's trainer (and matplotlib, which the trainer's curve plot imports at the end), records its resident
set size (the baseline), then runs `rewardlab.training.trainer.train` for 2 optimizer steps of 2 micro-batches
of 1 pair (fp32, AdamW, shared-context packing), so the second micro-batch runs with the first one's
gradients and step 2 with Adam state: the estimator's worst case. Measured = peak RSS (``ru_maxrss``) minus
the baseline. Synthetic pairs: a context and two equally long replies of random words, so each pair is one
packed row of context + 2 x reply tokens; the estimator gets the same row (seq_len = context + reply,
shared_context_fraction = context / seq_len) with weight_bytes=4, master_fp32=False, activation_bytes=4.

Reported per run: measured MiB, the estimate with Korthikanti et al.'s 34sbh as is (factor 1) and with
`rewardlab.memory.ACTIVATION_FACTOR`, and their ratios; the activation factor each no-checkpointing run
implies (activations dominate there); the median of those is the calibration. Results go to
benchmarks/results/memory_check.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024**2

# (label, model spec, packed row lengths to try). A tiny spec is "tiny:<hidden>:<layers>".
# The "floor" run (a 90k-parameter model, 64 tokens) measures what the trainer costs beyond the estimate's terms
# at any size: allocator arenas, oneDNN/BLAS workspaces, autograd and accelerate state, safetensors saving.
FLOOR = ("floor", "tiny:32:2", (64,))
FULL_PLAN = [
    FLOOR,
    ("tiny-h256-l4", "tiny:256:4", (1024, 2048)),
    ("tiny-h512-l8", "tiny:512:8", (1024, 2048)),
    ("smollm2-135m", "smollm2-135m-instruct", (256, 512)),
]
QUICK_PLAN = [FLOOR, ("tiny-h256-l4", "tiny:256:4", (512,))]
STEPS, MICRO_BATCHES_PER_STEP = 2, 2


def rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def synthetic_texts(tokenizer: Any, tokens: int, seed: int) -> str:
    """Random lowercase words that tokenize to about `tokens` tokens (plain text, no special tokens)."""
    import random

    rng = random.Random(seed)
    words: list[str] = []
    while len(tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]) < tokens:
        words.extend("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 8)))
                     for _ in range(max(1, (tokens - len(words)) // 4)))
    while len(tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]) > tokens and len(words) > 1:
        words.pop()
    return " ".join(words)


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement in this (fresh) process; returns what the parent records."""
    import resource

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401  (the trainer plots its curve at the end; keep that out of the peak)
    import torch
    import transformers  # noqa: F401
    import transformers.models.llama.modeling_llama  # noqa: F401

    import rewardlab.training.trainer as trainer
    from rewardlab.config import TrainConfig
    from rewardlab.data.readers import write_pairs_jsonl
    from rewardlab.data.schema import PreferencePair
    from rewardlab.data.templates import ConversationEncoder
    from rewardlab.modeling.forward import common_prefix_length
    from rewardlab.modeling.loading import load_tokenizer

    torch.set_num_threads(2)
    # Data first (tokenizer included), so the baseline holds everything but the model and the training.
    tokenizer = load_tokenizer(spec["model"])
    context_tokens = spec["row"] // 2
    reply_tokens = (spec["row"] - context_tokens) // 2
    encoder = ConversationEncoder(tokenizer, 1 << 20)
    pairs, rows, prefixes = [], [], []
    for i in range(STEPS * MICRO_BATCHES_PER_STEP):
        pair = PreferencePair(context=({"role": "user", "content": synthetic_texts(tokenizer, context_tokens, i)},),
                              chosen=synthetic_texts(tokenizer, reply_tokens, 1000 + i),
                              rejected=synthetic_texts(tokenizer, reply_tokens, 2000 + i))
        c, _ = encoder.encode(pair.chosen_messages())
        r, _ = encoder.encode(pair.rejected_messages())
        p = min(common_prefix_length(c, r), len(c) - 1, len(r) - 1)
        pairs.append(pair)
        rows.append(len(c) + len(r) - p)
        prefixes.append(p)
    data = Path(spec["tmp"]) / f"pairs-{os.getpid()}.jsonl"
    write_pairs_jsonl(pairs, data)
    del tokenizer, encoder
    import gc

    gc.collect()
    baseline = rss_bytes()
    cfg = TrainConfig(model=spec["model_path"], data=str(data), output_dir=str(Path(spec["tmp"]) / f"out-{os.getpid()}"),
                      max_length=max(rows) + 16, batch_size=MICRO_BATCHES_PER_STEP, micro_batch_size=1,
                      max_steps=STEPS, precision="fp32", gradient_checkpointing=spec["gradient_checkpointing"],
                      report_to="none", eval_before_training=False, eval_fraction=0.0, warmup_ratio=0.0,
                      shared_context=True, length_grouping=False,
                      parallel_micro_batches=1)  # one micro-batch in flight, as the estimate (and a GPU) has it
    start = time.perf_counter()
    result = trainer.train(cfg, quiet=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    model = result.model
    return {"baseline_bytes": baseline, "peak_bytes": peak, "measured_bytes": peak - baseline, "seconds": seconds,
            "num_params": sum(p.numel() for p in model.parameters()), "config": model.config.to_dict(),
            "row_tokens": max(rows), "prefix_tokens": min(prefixes), "rows": rows}


def estimate_for(run: dict[str, Any], activation_factor: float) -> dict[str, float]:
    from rewardlab.memory import estimate_training_memory, model_shape

    shape = model_shape(run["config"])
    shape["num_params"] = run["num_params"]  # exact count (a resized embedding for the pad token included)
    row, prefix = run["row_tokens"], run["prefix_tokens"]
    seq_len = (row + prefix) / 2  # a conversation: context + one reply; the packed row = 2 seq_len - prefix
    return estimate_training_memory(**shape, seq_len=seq_len, micro_batch_pairs=1, num_gpus=1, zero_stage=0,
                                    gradient_checkpointing=run["gradient_checkpointing"], weight_bytes=4,
                                    master_fp32=False, activation_bytes=4,
                                    shared_context_fraction=prefix / seq_len, activation_factor=activation_factor)


def implied_activation_factor(run: dict[str, Any], overhead: float) -> float:
    """The ACTIVATION_FACTOR that makes the estimate equal measured - overhead (all but the 34sbh term fixed)."""
    at0 = estimate_for(run, 0.0)["total"]
    at1 = estimate_for(run, 1.0)["total"]
    return (run["measured_bytes"] - overhead - at0) / (at1 - at0)


def score_runs(runs: list[dict[str, Any]], activation_factor: float) -> dict[str, Any]:
    """Estimates, ratios and implied factors for every run (in place); returns the summary."""
    from rewardlab.memory import model_shape

    floor = [r for r in runs if r["label"] == FLOOR[0]]
    overhead = floor[0]["measured_bytes"] if floor else 0.0
    for run in runs:
        run["model_shape_params"] = model_shape(run["config"])["num_params"]  # vs the real count, num_params
        run["estimate_raw"] = estimate_for(run, 1.0)
        run["estimate_calibrated"] = estimate_for(run, activation_factor)
        run["ratio_raw"] = run["measured_bytes"] / run["estimate_raw"]["total"]
        run["ratio_calibrated"] = run["measured_bytes"] / run["estimate_calibrated"]["total"]
        run["ratio_calibrated_less_overhead"] = (run["measured_bytes"] - overhead) / run["estimate_calibrated"]["total"]
        run["implied_factor"] = implied_activation_factor(run, overhead)
    scored = [r for r in runs if r["label"] != FLOOR[0]]
    off = [r for r in scored if not r["gradient_checkpointing"]]
    on = [r for r in scored if r["gradient_checkpointing"]]
    factors = [r["implied_factor"] for r in off]

    def span(key: str, group: list[dict[str, Any]]) -> list[float]:
        return [min(r[key] for r in group), max(r[key] for r in group)] if group else [float("nan")] * 2

    return {
        "runtime_overhead_bytes": overhead,
        "fitted_factor": statistics.median(factors) if factors else float("nan"),
        "factor_span": span("implied_factor", off),
        "raw_span": span("ratio_raw", scored),
        "calibrated_span": span("ratio_calibrated", scored),
        "calibrated_on_span": span("ratio_calibrated", on),
        "calibrated_off_span": span("ratio_calibrated", off),
        "less_overhead_span": span("ratio_calibrated_less_overhead", scored),
        "less_overhead_on_span": span("ratio_calibrated_less_overhead", on),
        "less_overhead_off_span": span("ratio_calibrated_less_overhead", off),
    }


def prepare_model(spec: str, tmp: Path) -> str:
    if not spec.startswith("tiny:"):
        return spec
    from rewardlab.modeling.tiny import build_tiny_model_dir

    _, hidden, layers = spec.split(":")
    return str(build_tiny_model_dir(tmp / spec.replace(":", "-"), hidden_size=int(hidden), num_layers=int(layers)))


def render_markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    factor = report["activation_factor_used"]
    overhead = s["runtime_overhead_bytes"] / MIB

    def span(key: str) -> str:
        return f"{s[key][0]:.2f}-{s[key][1]:.2f}"

    lines = [
        "# Peak training memory on the CPU: measured vs `rewardlab.memory.estimate_training_memory`",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']}  ",
        f"Versions: {report['versions']}  ",
        f"Date: {report['date']}; total wall time {report['wall_seconds']:.0f} s (2 cores shared with other jobs, "
        "load average 6-10)",
        f"Estimates re-scored with `--from-json` and ACTIVATION_FACTOR {report['activation_factor_used']:g}"
        if report.get("rescored") else "",
        "",
        "Each row is a fresh process running `rewardlab.training.trainer.train` (fp32, AdamW, shared-context "
        f"packing, lean activations, {STEPS} steps x {MICRO_BATCHES_PER_STEP} micro-batches of 1 pair, one at a "
        "time). Measured = peak RSS "
        "(`ru_maxrss`) - RSS after imports and data. Estimate: `weight_bytes=4, master_fp32=False, "
        "activation_bytes=4`, the packed row's real token counts. The `floor` row (a 90k-parameter model, 64 "
        f"tokens) is the trainer's size-independent runtime overhead on the CPU: {overhead:.0f} MiB.",
        "",
        "| model | params | row tokens | ckpt | measured MiB | estimate MiB (factor 1) | measured / est. | "
        f"estimate MiB (factor {factor:g}) | measured / est. | (measured - floor) / est. | implied factor |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        if r["label"] == FLOOR[0]:  # the overhead itself: no estimate to compare with
            lines.append(f"| {r['label']} | {r['num_params'] / 1e6:.2f}M | {r['row_tokens']} | off | "
                         f"{r['measured_bytes'] / MIB:.0f} | - | - | - | - | - | - |")
            continue
        lines.append(
            f"| {r['label']} | {r['num_params'] / 1e6:.2f}M | {r['row_tokens']} | "
            f"{'on' if r['gradient_checkpointing'] else 'off'} | {r['measured_bytes'] / MIB:.0f} | "
            f"{r['estimate_raw']['total'] / MIB:.0f} | {r['ratio_raw']:.2f} | "
            f"{r['estimate_calibrated']['total'] / MIB:.0f} | {r['ratio_calibrated']:.2f} | "
            f"{r['ratio_calibrated_less_overhead']:.2f} | {r['implied_factor']:.2f} |")
    lines += [
        "",
        "implied factor: the activation factor that makes the estimate equal measured - floor "
        "(meaningful where activations dominate, i.e. checkpointing off).",
        "",
        f"- Activation factor fitted on the checkpointing-off runs (median): **{s['fitted_factor']:.2f}** "
        f"(range {span('factor_span')}); `rewardlab.memory.ACTIVATION_FACTOR` = {factor:g}.",
        f"- Korthikanti et al.'s 34sbh as is (factor 1): measured / estimated {span('raw_span')}.",
        f"- With factor {factor:g}: measured / estimated {span('calibrated_span')} (checkpointing on "
        f"{span('calibrated_on_span')}, off {span('calibrated_off_span')}); after subtracting the floor "
        f"{span('less_overhead_span')} (on {span('less_overhead_on_span')}, off {span('less_overhead_off_span')}).",
        "- Where the estimate is short: checkpointing-on runs of the tiny models (their peak is the one layer "
        "being rebuilt plus its backward temporaries, which the CPU allocator does not hand back), and SmolLM2, "
        "whose peak is mostly model states and still ~1.2x the 16 bytes/parameter (not broken down here; "
        "candidates are CPU-only: AdamW's per-tensor temporaries, the pad-token embedding resize, "
        "serialising the weights on save). Read the GPU table with that margin in mind.",
        "- `model_shape` vs the real parameter count: " + ", ".join(sorted({
            f"{r['label']} {r['model_shape_params'] - r['num_params']:+d}" for r in report["runs"]}))
        + " (SmolLM2 gains a 576-wide `<|pad|>` embedding row when loaded).",
    ]
    return "\n".join(lines) + "\n"


def measure(plan: list[tuple[str, str, tuple[int, ...]]]) -> list[dict[str, Any]]:
    runs = []
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "2"}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for label, model, rows in plan:
            model_path = prepare_model(model, tmp)
            for row in rows:
                for ckpt in (False,) if label == FLOOR[0] else (True, False):
                    spec = {"model": model_path, "model_path": model_path, "row": row, "gradient_checkpointing": ckpt,
                            "tmp": str(tmp)}
                    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], env=env,
                                          capture_output=True, text=True, cwd=ROOT)
                    line = [x for x in proc.stdout.splitlines() if x.startswith("MEMORY_CHECK ")]
                    if proc.returncode or not line:
                        raise RuntimeError(f"{label} row {row} ckpt {ckpt} failed:\n{proc.stderr[-3000:]}")
                    run = {"label": label, "model": model, "gradient_checkpointing": ckpt, "target_row": row,
                           **json.loads(line[0].removeprefix("MEMORY_CHECK "))}
                    print(f"{label:14s} row {run['row_tokens']:5d} ckpt {'on ' if ckpt else 'off'} measured "
                          f"{run['measured_bytes'] / MIB:7.0f} MiB in {run['seconds']:.0f} s", flush=True)
                    runs.append(run)
    return runs


def render_table_section(report: dict[str, Any]) -> str:
    """The README section: the fits table plus how it was computed and checked."""
    from rewardlab.memory import fits_table

    s = report["summary"]
    return (
        "## What fits where\n\n"
        "Peak memory per GPU for full fine-tuning of a reward model with AdamW on 8 GPUs, micro batch 1 pair, bf16 "
        "(`precision: bf16`); cells are GiB per device and, in brackets, whether that fits on 8 x 80 GB and/or "
        "8 x 48 GB GPUs.\n\n"
        + fits_table()
        + "\n\n"
        "The numbers come from `rewardlab.memory.estimate_training_memory` (`fits_table()` prints this table): "
        "model states as in the ZeRO paper (16 bytes per parameter with Adam, partitioned over the GPUs by the ZeRO "
        "stage; DDP keeps fp32 weights, a bf16 autocast copy and a second gradient copy in its all-reduce buckets) "
        "and activations per layer after Korthikanti et al. 2022 (34sbh, widened for gated MLPs; only layer inputs "
        "with gradient checkpointing), with a pair packed as one row of up to 2 x max_length tokens. "
        f"Checked against the peak memory of rewardlab's own trainer on the CPU for tiny Llamas and SmolLM2-135M "
        f"(`benchmarks/memory_check.py`): with the calibrated activation factor {report['activation_factor_used']:g}"
        f" the measured peak is {s['calibrated_span'][0]:.2f}-{s['calibrated_span'][1]:.2f}x the estimate "
        f"({s['less_overhead_span'][0]:.2f}-{s['less_overhead_span'][1]:.2f}x after the trainer's fixed "
        f"{s['runtime_overhead_bytes'] / MIB:.0f} MiB); the GPU numbers themselves are not measured here, and "
        "the 10% headroom covers the CUDA context, communication buckets and fragmentation.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the floor and one tiny model at one length")
    parser.add_argument("--from-json", help="re-score the runs of an earlier report (e.g. after recalibrating)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "memory_check"))
    args = parser.parse_args()
    if args.worker:
        print("MEMORY_CHECK " + json.dumps(worker(json.loads(args.worker))))
        return

    import accelerate
    import torch
    import transformers

    from rewardlab.io_utils import atomic_write_json, atomic_write_text
    from rewardlab.memory import ACTIVATION_FACTOR

    if args.from_json:
        report = json.loads(Path(args.from_json).read_text())
        report["rescored"] = True
    else:
        started = time.perf_counter()
        runs = measure(QUICK_PLAN if args.quick else FULL_PLAN)
        report = {
            "command": "python benchmarks/memory_check.py" + (" --quick" if args.quick else ""),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.platform()}",
            "versions": f"python {platform.python_version()}, torch {torch.__version__}, transformers "
                        f"{transformers.__version__}, accelerate {accelerate.__version__}",
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "wall_seconds": time.perf_counter() - started,
            "runs": runs,
        }
        for run in runs:
            run["config"] = {k: run["config"][k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                                           "num_attention_heads", "num_key_value_heads", "head_dim",
                                                           "vocab_size", "tie_word_embeddings") if k in run["config"]}
    report["activation_factor_used"] = ACTIVATION_FACTOR
    report["summary"] = score_runs(report["runs"], ACTIVATION_FACTOR)
    atomic_write_json(Path(args.out).with_suffix(".json"), report)
    atomic_write_text(Path(args.out).with_suffix(".md"), render_markdown(report))
    atomic_write_text(Path(args.out).parent / "memory_table.md", render_table_section(report))
    print(render_markdown(report))


if __name__ == "__main__":
    main()
