"""Training throughput, memory and accuracy: rewardlab's trainer vs TRL's `RewardTrainer`, same pairs, same settings.

    .venv/bin/python benchmarks/train_throughput.py [--steps 10] [--eval-pairs 200] [--precisions fp32,bf16]

Needs trl (``pip install "trl==1.16.*"``) and ../shared/data/hh-rlhf-harmless-base/pairs.jsonl.gz.

Both trainers start from the same folder (the embedded SmolLM2-135M converted once by
``embedded_model_dir``; a fresh one-output score head and a ``<|pad|>`` token added by
``ensure_distinct_pad_token``, same seed) and train on the same pairs (rows whose chosen and rejected
conversations both fit in ``--max-length`` tokens, so TRL drops none and rewardlab truncates none) for one
epoch: micro-batch 4 pairs, global batch 8 pairs, AdamW, cosine schedule with 3% warm-up, same lr, weight
decay, clipping and seed. Runs alternate (TRL, rewardlab, TRL, rewardlab, ...), each trainer in its own
fresh subprocess so its RSS high-water mark (``ru_maxrss``) is its own. Before each run the 1-minute load
average must fall below ``--max-load`` (the machine is shared); the load at which each run started is
recorded.

Timing is wall-clock from the end of step 1 to the end of the last step (step 1 is warm-up). Tokens are
counted by instrumenting each trainer's batching: TRL's collator (padded shape and attention-mask sum),
rewardlab's ``pack_shared_context`` / ``pad_batch`` (packed shape and real tokens). "Real tokens" are the
non-pad tokens each trainer actually ran through the model (rewardlab's shared-context packing computes a
pair's common context once, so it runs fewer); "pair tokens" are len(chosen) + len(rejected), the same
for both. MFU = 6 x non-embedding parameters x real tokens/s over the fp32 or bf16 peak of a 2048^3
``torch.matmul`` timed in the same run on the same threads.

After training, each output folder is scored on the same held-out pairs with ``RewardScorer`` (float32)
and ``accuracy_with_interval`` gives a 95% bootstrap interval. Results: benchmarks/results/train_throughput.*
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "hh-rlhf-harmless-base" / "pairs.jsonl.gz"
MODEL = "smollm2-135m-instruct"


# ----------------------------------------------------------------------------------------------- pure helpers
def padding_fraction(real_tokens: int, padded_tokens: int) -> float:
    """Share of processed positions that are padding."""
    return 1.0 - real_tokens / padded_tokens if padded_tokens else 0.0


def mfu(params_non_embedding: int, real_tokens_per_second: float, peak_flops: float) -> float:
    """Model-FLOPs utilisation: 6 N T / peak (forward + backward, attention FLOPs ignored)."""
    return 6.0 * params_non_embedding * real_tokens_per_second / peak_flops if peak_flops else float("nan")


def timed_window(step_ends: list[float], skip: int = 1) -> tuple[int, float]:
    """(steps, seconds) from the end of step `skip` to the end of the last step; step_ends[k] ends step k+1."""
    if len(step_ends) <= skip:
        raise ValueError(f"need more than {skip} steps to time, got {len(step_ends)}")
    return len(step_ends) - skip, step_ends[-1] - step_ends[skip - 1]


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or not b else a / b


def matmul_peak(n: int = 2048, threads: int = 2, reps: int = 5,
                precisions: tuple[str, ...] = ("fp32", "bf16")) -> dict[str, float]:
    """Best-of-`reps` FLOP/s of an n^3 matmul in each of `precisions` (fp32, bf16) on `threads` threads.

    Only the precisions a run uses: on a CPU without native bf16 (no AVX-512 BF16 / AMX) a bf16 2048^3
    matmul is emulated and takes minutes."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    out = {}
    try:
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            if name not in precisions:
                continue
            a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
            torch.matmul(a, b)
            best = float("inf")
            for _ in range(reps):
                t0 = time.perf_counter()
                torch.matmul(a, b)
                best = min(best, time.perf_counter() - t0)
            out[name] = 2.0 * n**3 / best
    finally:
        torch.set_num_threads(old)
    return out


def wait_for_quiet(max_load: float, max_wait: float, log: Any) -> dict[str, float]:
    """Sleep until the 1-minute load average is at most `max_load` (or `max_wait` s pass); return what was seen."""
    t0 = time.time()
    load = os.getloadavg()[0]
    while load > max_load and time.time() - t0 < max_wait:
        log(f"load average {load:.2f} > {max_load}: waiting ({time.time() - t0:.0f}s so far)")
        time.sleep(20)
        load = os.getloadavg()[0]
    return {"load_at_start": round(load, 2), "waited_s": round(time.time() - t0, 1),
            "quiet": load <= max_load}


def mem_available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _memory_watchdog(floor_gb: float) -> None:
    """Exit this child before the machine runs out of memory (the OOM killer might pick a colleague's job)."""
    def watch() -> None:
        while True:
            if mem_available_gb() < floor_gb:
                sys.stderr.write(f"[child] MemAvailable below {floor_gb} GB: aborting this run\n")
                os._exit(3)
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()


# ----------------------------------------------------------------------------------------------- child runs
def _score(folder: str, heldout: str, max_length: int) -> dict[str, Any]:
    from rewardlab.data.readers import read_pairs
    from rewardlab.metrics import accuracy_with_interval
    from rewardlab.scoring import RewardScorer

    pairs, _ = read_pairs(heldout)
    scorer = RewardScorer.from_pretrained(folder, device="cpu", dtype="float32", max_length=max_length, batch_size=16)
    t0 = time.perf_counter()
    convs = [c for p in pairs for c in (p.chosen_messages(), p.rejected_messages())]
    rewards = scorer.score(convs)
    out = accuracy_with_interval(rewards[0::2], rewards[1::2])
    out["scoring_seconds"] = round(time.perf_counter() - t0, 1)
    out["truncated"] = scorer.truncated
    return out


def _non_embedding_params(model: Any) -> int:
    emb = model.get_input_embeddings().weight.numel()
    return sum(p.numel() for p in model.parameters()) - emb


def _head_checksum(model: Any) -> float:
    return float(model.score.weight.double().sum())


def child_trl(spec: dict[str, Any]) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed
    from trl import RewardConfig, RewardTrainer
    from trl_counting import trl_instruments  # benchmarks/, next to this script

    from rewardlab.data.readers import read_pairs
    from rewardlab.modeling.embedded import embedded_model_dir
    from rewardlab.modeling.loading import ensure_distinct_pad_token

    folder = str(embedded_model_dir(MODEL))
    set_seed(spec["seed"])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "right"
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1, dtype=torch.float32,
                                                               attn_implementation="sdpa")
    ensure_distinct_pad_token(tokenizer, model)
    head0 = _head_checksum(model)
    pairs, _ = read_pairs(spec["train"])
    ds = Dataset.from_list([{"chosen": p.chosen_messages(), "rejected": p.rejected_messages()} for p in pairs])

    collator, clock, batches, step_ends = trl_instruments(tokenizer.pad_token_id)

    bf16 = spec["precision"] == "bf16"
    args = RewardConfig(
        output_dir=spec["out"], per_device_train_batch_size=spec["micro"],
        gradient_accumulation_steps=spec["batch"] // spec["micro"], max_steps=spec["steps"], num_train_epochs=1,
        learning_rate=spec["lr"], lr_scheduler_type="cosine", warmup_steps=0.03, weight_decay=0.001,
        adam_beta1=0.9, adam_beta2=0.999, max_grad_norm=1.0, optim="adamw_torch", bf16=bf16, fp16=False,
        gradient_checkpointing=False, max_length=spec["max_length"], logging_steps=1, save_strategy="no",
        report_to="none", seed=spec["seed"], data_seed=spec["seed"], dataloader_num_workers=0, disable_tqdm=True,
        use_cpu=True,
    )
    trainer = RewardTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer,
                            data_collator=collator, callbacks=[clock])
    kept = len(trainer.train_dataset)
    pair_tokens = [len(c) + len(r) for c, r in zip(trainer.train_dataset["chosen_ids"],
                                                   trainer.train_dataset["rejected_ids"])]
    t_begin = time.perf_counter()
    trainer.train()
    peak = peak_rss_gb()
    trainer.save_model(spec["out"])
    tokenizer.save_pretrained(spec["out"])
    accum = spec["batch"] // spec["micro"]
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    return {"trainer": "trl", "precision": spec["precision"], "step_ends": [t - t_begin for t in step_ends],
            "micro_batches": batches[: len(step_ends) * accum], "micro_per_step": accum,
            "pairs_kept": kept, "pair_tokens_total": sum(pair_tokens), "peak_rss_gb": peak,
            "non_embedding_params": _non_embedding_params(model), "head_checksum": head0, "losses": losses,
            "mixed_precision": str(trainer.accelerator.mixed_precision)}


def child_rewardlab(spec: dict[str, Any]) -> dict[str, Any]:
    import rewardlab.modeling.loading as loading
    import rewardlab.training.trainer as T
    from rewardlab.config import TrainConfig

    batches: list[tuple[int, int]] = []
    step_starts: list[float] = []
    ends: list[float] = []
    info: dict[str, Any] = {}
    orig_pack, orig_pad, orig_steps, orig_save, orig_load = (T.pack_shared_context, T.pad_batch, T.step_indices,
                                                             T._save_final, loading.load_reward_model)
    orig_rows = T.pack_pair_rows

    def rows(chosen, rejected):  # noqa: ANN001
        out = orig_rows(chosen, rejected)
        batches.append((out[5], out[0].numel()))  # one padding-free row: every position is a real token
        return out

    def pack(chosen, rejected, pad_id):  # noqa: ANN001
        out = orig_pack(chosen, rejected, pad_id)
        batches.append((out[5], out[0].numel()))
        return out

    def pad(seqs, pad_id):  # noqa: ANN001
        out = orig_pad(seqs, pad_id)
        batches.append((int(out[1].sum()), out[1].numel()))
        return out

    def steps(*a, **k):  # noqa: ANN002, ANN003
        step_starts.append(time.perf_counter())
        return orig_steps(*a, **k)

    def save(*a, **k):  # noqa: ANN002, ANN003
        ends.append(time.perf_counter())
        info["peak_rss_gb"] = peak_rss_gb()
        return orig_save(*a, **k)

    def load(*a, **k):  # noqa: ANN002, ANN003
        model, tok = orig_load(*a, **k)
        info["head_checksum"] = _head_checksum(model)
        info["non_embedding_params"] = _non_embedding_params(model)
        return model, tok

    T.pack_shared_context, T.pad_batch, T.step_indices, T._save_final = pack, pad, steps, save
    T.pack_pair_rows = rows
    loading.load_reward_model = load
    cfg = TrainConfig(model=MODEL, data=spec["train"], eval_fraction=0.0, output_dir=spec["out"],
                      max_length=spec["max_length"], batch_size=spec["batch"], micro_batch_size=spec["micro"],
                      max_steps=spec["steps"], num_epochs=1.0, learning_rate=spec["lr"], lr_scheduler="cosine",
                      warmup_ratio=0.03, weight_decay=0.001, max_grad_norm=1.0, seed=spec["seed"],
                      precision="fp32" if spec["precision"] == "fp32" else "auto", gradient_checkpointing=False,
                      shared_context=spec.get("shared_context", True), length_grouping=True,
                      eval_before_training=False, report_to="none",
                      parallel_micro_batches=spec.get("parallel", 0))
    t_begin = time.perf_counter()
    result = T.train(cfg, quiet=True)
    summary = json.loads((Path(result.output_dir) / "training_summary.json").read_text())
    log = summary["train_log"]
    step_ends = [t - t_begin for t in step_starts[1:] + ends]
    accum = spec["batch"] // spec["micro"]
    return {"trainer": "rewardlab", "precision": spec["precision"], "step_ends": step_ends,
            "micro_batches": batches, "micro_per_step": accum, "pairs_kept": summary["summary"]["num_train_pairs"],
            "truncated": summary["summary"]["truncated_conversations"], "peak_rss_gb": info["peak_rss_gb"],
            "non_embedding_params": info["non_embedding_params"], "head_checksum": info["head_checksum"],
            "losses": [r["loss"] for r in log], "mixed_precision": summary["summary"]["mixed_precision"],
            "parallel_workers": summary["summary"]["parallel_micro_batches"],
            "own_log_pairs_per_second": [r["pairs_per_second"] for r in log],
            "own_log_tokens_per_second": [r["tokens_per_second"] for r in log]}


def rewardlab_micros(args: argparse.Namespace) -> list[tuple[int, int]]:
    """rewardlab's runs as (micro-batch size, parallel_micro_batches): --rewardlab-micro-batch-size takes a comma
    list of MICRO or MICROxPARALLEL (e.g. ``4x1,2``; parallel 0 = the trainer's auto; default: TRL's micro)."""
    raw = args.rewardlab_micro_batch_size or str(args.micro_batch_size)
    runs = []
    for x in str(raw).split(","):
        if x.strip():
            micro, _, par = x.strip().partition("x")
            runs.append((int(micro), int(par or 0)))
    return runs


def run_child(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    import torch

    torch.set_num_threads(spec["threads"])
    _memory_watchdog(spec["min_free_gb"])
    out = child_trl(spec) if spec["trainer"] == "trl" else child_rewardlab(spec)
    if spec["score"]:
        out["heldout"] = _score(spec["out"], spec["heldout"], spec["max_length"])
    Path(spec["result"]).write_text(json.dumps(out))


# ----------------------------------------------------------------------------------------------- parent
def summarise(r: dict[str, Any], batch: int, peaks: dict[str, float]) -> dict[str, Any]:
    steps, seconds = timed_window(r["step_ends"])
    per = r["micro_per_step"]
    timed = r["micro_batches"][per : per * len(r["step_ends"])]
    real = sum(a for a, _ in timed)
    padded = sum(b for _, b in timed)
    tps = real / seconds
    peak = peaks["bf16" if r["precision"] == "bf16" else "fp32"]
    return {"timed_steps": steps, "timed_seconds": round(seconds, 2), "pairs_per_second": steps * batch / seconds,
            "real_tokens_per_second": tps, "padding_fraction": padding_fraction(real, padded),
            "real_tokens_per_pair": real / (steps * batch), "mfu": mfu(r["non_embedding_params"], tps, peak),
            "peak_rss_gb": r["peak_rss_gb"]}


def prepare(args: argparse.Namespace, work: Path, log: Any) -> dict[str, Any]:
    from rewardlab.data.readers import read_pairs, write_pairs_jsonl
    from rewardlab.data.templates import ConversationEncoder
    from rewardlab.modeling.loading import load_tokenizer

    pairs, report = read_pairs(str(args.data))
    tok = load_tokenizer(MODEL)
    enc = ConversationEncoder(tok, 10**9)
    fit, lengths = [], []
    for p in pairs:
        c, r = len(enc.encode(p.chosen_messages())[0]), len(enc.encode(p.rejected_messages())[0])
        if max(c, r) <= args.max_length:
            fit.append(p)
            lengths.append(c + r)
    n_train = args.steps * args.batch_size
    if len(fit) < n_train + args.eval_pairs:
        raise SystemExit(f"only {len(fit)} pairs fit in {args.max_length} tokens; need {n_train + args.eval_pairs}")
    train, heldout = fit[:n_train], fit[-args.eval_pairs :]  # disjoint: first rows train, last rows held out
    write_pairs_jsonl(train, work / "train.jsonl")
    write_pairs_jsonl(heldout, work / "heldout.jsonl")
    log(f"{len(pairs)} valid rows, {len(fit)} fit in {args.max_length} tokens; train {len(train)}, "
        f"held-out {len(heldout)}")
    return {"rows": len(pairs), "dropped_rows": dict(report.dropped), "fit_max_length": len(fit),
            "train_pairs": len(train), "heldout_pairs": len(heldout),
            "train_pair_tokens_total": sum(lengths[:n_train])}


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "accelerate", "datasets", "trl", "rewardlab"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "missing"
    return out


def machine() -> str:
    model = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = Path("/proc/meminfo").read_text().split()[1]
    try:
        flags = set(next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):
        flags = set()
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    bf16 = "native bf16" if flags & {"avx512_bf16", "amx_bf16"} else "no native bf16"
    return (f"{model or platform.processor()} ({simd}, {bf16}), {os.cpu_count()} cores, "
            f"{int(mem) / 2**20:.0f} GiB RAM")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--steps", type=int, default=10, help="optimizer steps = one epoch over steps x batch pairs")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--micro-batch-size", type=int, default=4)
    ap.add_argument("--rewardlab-micro-batch-size", default=None,
                    help="rewardlab's micro-batch sizes, a comma list run in turn (same global batch, so the same "
                         "gradient); default: --micro-batch-size")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--eval-pairs", type=int, default=200)
    ap.add_argument("--precisions", default="fp32,bf16", help="comma list of fp32 / bf16, run in this order")
    ap.add_argument("--score-precisions", default="fp32,bf16", help="which runs' models to score on held-out pairs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--trainers", default="trl,rewardlab",
                    help="which trainers to run, in this order (a probe may run one)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run the whole sequence of trainers this many times, alternating (TRL, rewardlab, TRL, "
                         "rewardlab, ...): the ratios are then also given pooled over the rounds, which evens out "
                         "a machine whose speed drifts between minutes")
    ap.add_argument("--max-load", type=float, default=2.5)
    ap.add_argument("--max-wait", type=float, default=600)
    ap.add_argument("--min-free-gb", type=float, default=1.0, help="a child aborts below this MemAvailable")
    ap.add_argument("--work", default=str(ROOT / "outputs" / "bench-train-throughput"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "train_throughput"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--render", help="re-write the .md from an existing results .json and exit")
    args = ap.parse_args()
    if args.render:
        rec = json.loads(Path(args.render).read_text())
        Path(args.render).with_suffix(".md").write_text(render_markdown(rec))
        return 0
    if args.child:
        run_child(args.child)
        return 0
    if not Path(args.data).exists():
        print(f"needs {args.data} (project data outside the repository)", file=sys.stderr)
        return 1

    def log(msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    if "trl" in args.trainers.split(","):
        try:
            import trl  # noqa: F401
        except ImportError:
            print("needs trl 1.16 as the peer: .venv/bin/pip install -e '.[bench]'", file=sys.stderr)
            return 1
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t_all = time.time()
    data = prepare(args, work, log)
    precisions = tuple(args.precisions.split(","))
    peaks_before = matmul_peak(threads=args.threads, precisions=precisions)
    log("matmul peak: " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in peaks_before.items()))
    runs: list[dict[str, Any]] = []
    variants = []  # in the order --trainers names them, the whole sequence repeated --rounds times
    for rnd in range(1, args.rounds + 1):
        for precision in precisions:
            for t in args.trainers.split(","):
                variants += ([("trl", args.micro_batch_size, 1, precision, rnd)] if t == "trl" else
                             [("rewardlab", k, par, precision, rnd) for k, par in rewardlab_micros(args)]
                             if t == "rewardlab" else [])
    for trainer, micro, par, precision, rnd in variants:
        name = (f"trl-{precision}" if trainer == "trl" else f"rewardlab-m{micro}-p{par}-{precision}") + \
            round_suffix(rnd, args.rounds)
        out = work / name
        spec = {"trainer": trainer, "precision": precision, "train": str(work / "train.jsonl"),
                "heldout": str(work / "heldout.jsonl"), "out": str(out), "result": str(work / f"{name}.json"),
                "steps": args.steps, "batch": args.batch_size, "micro": micro, "parallel": par,
                "max_length": args.max_length, "lr": args.lr, "seed": args.seed, "threads": args.threads,
                "min_free_gb": args.min_free_gb, "score": precision in args.score_precisions.split(",")}
        (work / f"{name}.spec.json").write_text(json.dumps(spec))
        Path(spec["result"]).unlink(missing_ok=True)
        gate = wait_for_quiet(args.max_load, args.max_wait, log)
        gate["mem_available_gb_at_start"] = round(mem_available_gb(), 1)
        log(f"{name}: start (load {gate['load_at_start']}, {gate['mem_available_gb_at_start']} GB free)")
        t0 = time.time()
        proc = subprocess.run([sys.executable, __file__, "--child", str(work / f"{name}.spec.json")],
                              capture_output=True, text=True)
        gate["load_at_end"] = round(os.getloadavg()[0], 2)
        gate["wall_s"] = round(time.time() - t0, 1)
        if proc.returncode != 0 or not Path(spec["result"]).exists():
            log(f"{name}: FAILED rc={proc.returncode}\n{proc.stderr[-4000:]}")
            runs.append({"name": name, "trainer": trainer, "precision": precision, "micro": micro,
                         "round": rnd, "failed": proc.returncode,
                         "stderr_tail": proc.stderr[-2000:], **gate})
            continue
        r = json.loads(Path(spec["result"]).read_text())
        at_once = r.get("parallel_workers", 1)
        r.update(name=name, micro=f"{micro}, {at_once} at once" if at_once > 1 else micro, round=rnd, **gate)
        runs.append(r)
        log(f"{name}: done in {gate['wall_s']}s, peak {r['peak_rss_gb']:.2f} GB, load {gate['load_at_end']}")
        finish(args, runs, data, peaks_before, None, t_all)
    peaks_after = matmul_peak(threads=args.threads, precisions=precisions)
    print(finish(args, runs, data, peaks_before, peaks_after, t_all))
    return 0


def round_suffix(rnd: int, rounds: int) -> str:
    return f"-r{rnd}" if rounds > 1 else ""


def compare(ma: dict[str, Any], mb: dict[str, Any]) -> dict[str, Any]:
    cmp = {k: ratio(ma[k], mb[k]) for k in ("pairs_per_second", "real_tokens_per_second", "peak_rss_gb", "mfu")}
    cmp["goal_3x_pairs_per_second"] = cmp["pairs_per_second"] >= 3.0
    cmp["goal_half_peak_memory"] = cmp["peak_rss_gb"] <= 0.5
    return cmp


def pooled_metrics(group: list[dict[str, Any]], batch: int) -> dict[str, Any]:
    """One configuration over all its rounds: timed pairs / timed seconds, token rate and MFU weighted by each
    run's timed seconds, the highest peak memory."""
    ms = [r["metrics"] for r in group]
    seconds = sum(m["timed_seconds"] for m in ms)
    pairs = sum(m["timed_steps"] * batch for m in ms)
    return {"pairs_per_second": pairs / seconds,
            "real_tokens_per_second": sum(m["real_tokens_per_second"] * m["timed_seconds"] for m in ms) / seconds,
            "mfu": sum(m["mfu"] * m["timed_seconds"] for m in ms) / seconds,
            "peak_rss_gb": max(m["peak_rss_gb"] for m in ms), "rounds": len(ms)}


def finish(args: argparse.Namespace, runs: list[dict[str, Any]], data: dict[str, Any],
           peaks_before: dict[str, float], peaks_after: dict[str, float] | None, t_all: float) -> str:
    """Summarise the runs so far and write the .json/.md (called after every run: partial results survive)."""
    peaks = {k: max(peaks_before[k], (peaks_after or peaks_before)[k]) for k in peaks_before}
    for r in runs:
        if "failed" not in r:
            r["metrics"] = summarise(r, args.batch_size, peaks)

    by = {r["name"]: r for r in runs}
    comparisons = {}
    for a in runs:
        precision = a["precision"]
        b = by.get(f"trl-{precision}" + round_suffix(a.get("round", 1), args.rounds))
        if a["trainer"] != "rewardlab" or not b or "metrics" not in a or "metrics" not in b:
            continue
        cmp = compare(a["metrics"], b["metrics"])
        if "heldout" in a and "heldout" in b:
            ha, hb = a["heldout"], b["heldout"]
            cmp["accuracy_difference"] = ha["accuracy"] - hb["accuracy"]
            cmp["accuracy_each_within_other_interval"] = (
                hb["accuracy_ci_low"] <= ha["accuracy"] <= hb["accuracy_ci_high"]
                and ha["accuracy_ci_low"] <= hb["accuracy"] <= ha["accuracy_ci_high"])
        where = f", round {a['round']}" if args.rounds > 1 else ""
        comparisons[f"rewardlab micro {a['micro']} / trl micro {b['micro']}, {precision}{where}"] = cmp
    if args.rounds > 1:  # each configuration pooled over its rounds (peak memory: the highest of its runs)
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for r in runs:
            if "metrics" in r:
                groups.setdefault((r["trainer"], r["precision"], str(r["micro"])), []).append(r)
        for (trainer, precision, micro), group in groups.items():
            trl = [g for (t, p, _), g in groups.items() if t == "trl" and p == precision]
            if trainer != "rewardlab" or not trl:
                continue
            cmp = compare(pooled_metrics(group, args.batch_size), pooled_metrics(trl[0], args.batch_size))
            cmp["rounds"] = f"{len(group)} / {len(trl[0])}"
            comparisons[f"rewardlab micro {micro} / trl micro {trl[0][0]['micro']}, {precision}, "
                        f"pooled over {len(group)} rounds"] = cmp
    best = {}
    for trainer in ("trl", "rewardlab"):
        ok = [r for r in runs if r["trainer"] == trainer and "metrics" in r]
        if not ok:
            continue
        # with rounds: the configuration whose pooled rate is highest, at that pooled rate
        configs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in ok:
            configs.setdefault((r["precision"], str(r["micro"])), []).append(r)
        rates = {k: pooled_metrics(g, args.batch_size)["pairs_per_second"] for k, g in configs.items()}
        key = max(rates, key=rates.get)
        top = configs[key][0]
        best[trainer] = {"precision": top["precision"], "mixed_precision": top.get("mixed_precision"),
                         "micro_batch_size": top.get("micro"), "pairs_per_second": rates[key],
                         "rounds": len(configs[key])}
    if len(best) == 2:
        best["ratio_best_vs_best"] = best["rewardlab"]["pairs_per_second"] / best["trl"]["pairs_per_second"]

    record = {
        "command": "python benchmarks/train_throughput.py " + " ".join(sys.argv[1:]),
        "machine": machine(), "versions": versions(), "threads": args.threads,
        "settings": {"model": MODEL, "max_length": args.max_length, "batch_size": args.batch_size,
                     "micro_batch_size": args.micro_batch_size, "steps": args.steps, "epochs": 1,
                     "learning_rate": args.lr, "schedule": "cosine, 3% warm-up", "weight_decay": 0.001,
                     "max_grad_norm": 1.0, "seed": args.seed, "gradient_checkpointing": False,
                     "rounds": args.rounds,
                     "rewardlab": "shared_context=True (padding-free pair rows), length_grouping=True",
                     "rewardlab_micro_batch_size": ", ".join(
                         f"{m}" + (f" ({p} at once)" if p > 1 else " (one at a time)" if p == 1 else " (auto)")
                         for m, p in rewardlab_micros(args)),
                     "trl": "RewardConfig defaults otherwise (disable_dropout, no gradient checkpointing set)"},
        "data": data, "matmul_peak_flops": {"before": peaks_before, "after": peaks_after, "used": peaks},
        "complete": peaks_after is not None,
        "runs": [{k: v for k, v in r.items() if k not in ("micro_batches",)} for r in runs],
        "comparisons": comparisons, "best": best, "wall_minutes": round((time.time() - t_all) / 60, 1),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    md = render_markdown(record)
    out.with_suffix(".md").write_text(md)
    return md


def processed_tokens_per_pair(metrics: dict[str, Any]) -> float:
    """Positions run through the model per pair, padding included."""
    return metrics["real_tokens_per_pair"] / (1.0 - metrics["padding_fraction"])


def render_markdown(rec: dict[str, Any]) -> str:
    s, d = rec["settings"], rec["data"]
    v = rec["versions"]
    lines = [
        f"# Training throughput: rewardlab vs TRL {v['trl']} RewardTrainer ({s['model']})",
        "",
        f"Command: `{rec['command']}`  ",
        f"Machine: {rec['machine']}, {rec['threads']} torch threads (shared with other jobs; see load).  ",
        "Versions: " + ", ".join(f"{k} {x}" for k, x in v.items()) + "  ",
        f"Data: {d['train_pairs']} training pairs (one epoch, {s['steps']} steps of {s['batch_size']} pairs, "
        f"micro-batch {s['micro_batch_size']} for TRL, {s.get('rewardlab_micro_batch_size', s['micro_batch_size'])} "
        f"for rewardlab (one padding-free row per micro-batch): the same global batch, so the same gradient) and {d['heldout_pairs']} disjoint held-out pairs from "
        f"hh-rlhf harmless-base ({d['fit_max_length']} of {d['rows']} rows fit in {s['max_length']} tokens; "
        f"only those are used so neither trainer drops or truncates). lr {s['learning_rate']}, {s['schedule']}, "
        f"no gradient checkpointing, seed {s['seed']}. Timed: steps 2..{s['steps']} (wall clock).  ",
        f"Matmul peak (2048^3, {rec['threads']} threads): "
        + ", ".join(f"{k} {x / 1e9:.0f} GFLOP/s" for k, x in rec["matmul_peak_flops"]["used"].items()) + ".",
        "",
        "| run | precision | micro-batch | pairs/s | real tokens/s | padding | MFU | peak RSS GB "
        "| held-out accuracy [95% CI] | load at start/end |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rec["runs"]:
        if "failed" in r:
            lines.append(f"| {r['name']} | FAILED (rc {r['failed']}) | | | | | | | | {r['load_at_start']} |")
            continue
        m = r["metrics"]
        h = r.get("heldout")
        acc = (f"{h['accuracy']:.3f} [{h['accuracy_ci_low']:.3f}, {h['accuracy_ci_high']:.3f}]" if h else "not scored")
        rnd = f" (round {r['round']})" if s.get("rounds", 1) > 1 else ""
        lines.append(f"| {r['trainer']}{rnd} | {r['precision']} | {r.get('micro', '')} | {m['pairs_per_second']:.3f} | "
                     f"{m['real_tokens_per_second']:.0f} | {m['padding_fraction']:.1%} | {m['mfu']:.1%} | "
                     f"{m['peak_rss_gb']:.2f} | {acc} | {r['load_at_start']}/{r['load_at_end']} |")
    lines += ["", "| ratio rewardlab/TRL | pairs/s | real tokens/s | peak RSS | MFU | accuracy diff | "
              "each inside the other's CI | >=3x pairs/s | <=0.5x memory |", "|---|---|---|---|---|---|---|---|---|"]
    for name, c in rec["comparisons"].items():
        diff = c.get("accuracy_difference")
        lines.append(f"| {name} | {c['pairs_per_second']:.2f}x | {c['real_tokens_per_second']:.2f}x | "
                     f"{c['peak_rss_gb']:.2f}x | {c['mfu']:.2f}x | "
                     f"{'' if diff is None else f'{diff:+.3f}'} | {c.get('accuracy_each_within_other_interval', '')} | "
                     f"{c['goal_3x_pairs_per_second']} | {c['goal_half_peak_memory']} |")
    lines += ["", "Tokens each trainer runs through the model per pair (real / processed, padding included): "
              + "; ".join(f"{r['trainer']} {r['precision']} micro {r.get('micro', '')}: "
                          f"{r['metrics']['real_tokens_per_pair']:.0f} / "
                          f"{processed_tokens_per_pair(r['metrics']):.0f}" for r in rec["runs"]
                          if "metrics" in r and r.get("round", 1) == 1)  # the same pairs in every round
              + ". Both trainers spend most of a step in matmuls running near the measured peak, so the "
                "ratio of processed tokens per pair is about the pairs/s ratio an equally fast per-token "
                "trainer can reach on these pairs."]
    b = rec["best"]
    if "ratio_best_vs_best" in b:
        def precision(run: dict[str, Any]) -> str:  # accelerate's name for fp32 is "no"
            return {"no": "fp32"}.get(run["mixed_precision"], run["mixed_precision"])

        lines += ["", f"Best configuration: TRL {precision(b['trl'])} {b['trl']['pairs_per_second']:.3f} "
                      f"pairs/s, rewardlab {precision(b['rewardlab'])} (micro-batch "
                      f"{b['rewardlab'].get('micro_batch_size')}) "
                      f"{b['rewardlab']['pairs_per_second']:.3f} pairs/s: {b['ratio_best_vs_best']:.2f}x"
                      + (" (each pooled over its rounds)." if s.get("rounds", 1) > 1 else ".")]
    lines += ["", f"Wall time {rec['wall_minutes']} min."]
    if rec.get("notes"):  # added by hand to the .json when a run needs a remark
        lines += ["", f"Note: {rec['notes']}"]
    if not rec.get("complete", True):
        lines += ["", "**Partial results**: the run was stopped before every configuration finished; the matmul "
                      "peak is the one measured before the runs."]
    lines += [
        "",
        "Reading the figures: real tokens are the non-pad tokens each trainer ran through the model; rewardlab's "
        "prefix-tree packing runs every shared prefix (a pair's context, the chat template's system prompt) once, so it needs fewer tokens per pair "
        "(`real_tokens_per_pair` in the JSON) and pairs/s is the like-for-like throughput. MFU ignores attention "
        "FLOPs and uses a matmul peak measured on the same (shared) machine. The accuracy check is weak at this "
        "size: a few training steps barely move a 135M model and the held-out intervals are wide, so 'each inside "
        "the other's interval' cannot detect small differences. Peak RSS is each fresh subprocess's "
        "`ru_maxrss` after training (model load, tokenization and training included; scoring excluded).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
