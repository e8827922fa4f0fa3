"""GPU training-throughput benchmark, ready for when a GPU is lent (issue 5): a randomly initialised
Llama-architecture reward model of ~1-2B parameters at 4096 tokens, trained on synthetic pairs whose chosen and
rejected share a long context (as in hh-rlhf), with

  - rewardlab's shared-context rows (all pairs of a step in one padding-free row, each context once, SDPA per
    pair through the registered ``rewardlab_pairs`` attention), and
  - the plain padded computation TRL's RewardTrainer performs (chosen and rejected as separate padded rows), in
    the same hand-written loop (isolates the layout), and
  - TRL's RewardTrainer itself (trl 1.16, pre-tokenized ``chosen_ids`` / ``rejected_ids``, the same model, pairs,
    micro-batch, bf16 and gradient checkpointing; skipped with a note when trl is not installed),

in the same run, bf16. Both hand-written modes run as rewardlab's trainer does, with lean activations
(``modeling/lean.py``), so their ratio is the layout's. TRL's time is measured between its step ends (its
collation, logging and callbacks included, as in a real run; the hand-written loop times forward, backward and
optimizer only) and its sampler shuffles the same pairs. Reports real tokens/s, pairs/s, padding fraction and MFU against a matmul peak measured
in the same run. No hub access needed.

    python benchmarks/gpu_throughput.py --billions 1.5 --seq 4096 --pairs-per-step 4 --steps 10
    python benchmarks/gpu_throughput.py --smoke      # tiny shapes, runs on a CPU (checks the code path)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from rewardlab.losses import bradley_terry_loss
from rewardlab.modeling import lean
from rewardlab.modeling.forward import pad_batch, sequence_rewards
from rewardlab.modeling.pair_rows import pack_pair_rows, pair_rows_rewards, register_pair_rows_attention
from rewardlab.modeling.tiny import llama_config_for_params

ROOT = Path(__file__).resolve().parents[1]


def matmul_peak(device: str, dtype: torch.dtype, n: int = 4096) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t = time.perf_counter()
    reps = 20 if device == "cuda" else 2
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def synthetic_pairs(n: int, seq: int, vocab: int, seed: int = 0) -> tuple[list[list[int]], list[list[int]]]:
    """Pairs whose shared context is 40-80% of the tokens and whose responses differ in length."""
    g = torch.Generator().manual_seed(seed)
    chosen, rejected = [], []
    for _ in range(n):
        ctx_len = int(seq * (0.4 + 0.4 * torch.rand(1, generator=g).item()))
        ctx = torch.randint(3, vocab, (ctx_len,), generator=g).tolist()
        c_len = int((seq - ctx_len) * (0.3 + 0.7 * torch.rand(1, generator=g).item())) + 1
        r_len = int((seq - ctx_len) * (0.3 + 0.7 * torch.rand(1, generator=g).item())) + 1
        chosen.append(ctx + torch.randint(3, vocab, (c_len,), generator=g).tolist())
        rejected.append(ctx + torch.randint(3, vocab, (r_len,), generator=g).tolist())
    return chosen, rejected


def run(mode: str, model, chosen, rejected, pairs_per_step: int, steps: int, device: str,
        dtype: torch.dtype = torch.bfloat16) -> dict:
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, real, processed = [], 0, 0
    for step in range(steps + 1):  # step 0 is warm-up, not timed
        lo = (step * pairs_per_step) % len(chosen)
        c, r = chosen[lo : lo + pairs_per_step], rejected[lo : lo + pairs_per_step]
        sync(device)
        t = time.perf_counter()
        with torch.autocast(device_type=device, dtype=dtype, enabled=dtype != torch.float32):
            if mode == "rewardlab":
                ids, pos, segments, ci, ri, _ = pack_pair_rows(c, r)
                rewards = pair_rows_rewards(model, ids.to(device), pos.to(device), segments, ci, ri)
                n_proc = ids.numel()
            else:
                ids, mask, last = pad_batch(c + r, pad_id=0)
                rewards = sequence_rewards(model, ids.to(device), mask.to(device), last)
                n_proc = ids.numel()
        m = len(c)
        bradley_terry_loss(rewards[:m], rewards[m:]).mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        if step:
            times.append(time.perf_counter() - t)
            real += sum(len(x) for x in c) + sum(len(x) for x in r)  # tokens of the two full sequences
            processed += n_proc
    wall = sum(times)
    out = {"mode": mode, "pairs_per_s": steps * pairs_per_step / wall, "sequence_tokens_per_s": real / wall,
           "padding_fraction_of_processed": None if mode == "rewardlab" else 1 - real / processed,
           "processed_tokens": processed, "wall_s": wall}
    if device == "cuda":
        out["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def run_trl(model, chosen, rejected, pairs_per_step: int, steps: int, device: str, dtype: torch.dtype,
            seq: int, work: Path) -> dict:
    """TRL's RewardTrainer on the same pre-tokenized pairs: step 1 is warm-up, steps 2.. are timed."""
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer
    from trl_counting import trl_instruments

    from rewardlab.modeling.tiny import build_byte_tokenizer

    tokenizer = build_byte_tokenizer()  # only its pad token is used: the pairs are already token ids
    tokenizer.pad_token = tokenizer.eos_token
    ds = Dataset.from_dict({"chosen_ids": chosen[: pairs_per_step * (steps + 1)],
                            "rejected_ids": rejected[: pairs_per_step * (steps + 1)]})
    collator, clock, batches, ends = trl_instruments(tokenizer.pad_token_id, before_stamp=lambda: sync(device))
    args = RewardConfig(output_dir=str(work), per_device_train_batch_size=pairs_per_step, max_steps=steps + 1,
                        learning_rate=1e-5, bf16=dtype == torch.bfloat16, activation_checkpointing=True,
                        activation_checkpointing_kwargs={"use_reentrant": False}, max_length=seq + 1,
                        logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
                        dataloader_num_workers=0, use_cpu=device == "cpu")
    trainer = RewardTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer,
                            data_collator=collator, callbacks=[clock])
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    wall = ends[-1] - ends[0]  # steps 2.. (the dataset is exactly steps + 1 micro-batches: one epoch)
    real = sum(a for a, _ in batches[1 : steps + 1])
    processed = sum(b for _, b in batches[1 : steps + 1])
    out = {"mode": "trl", "pairs_per_s": steps * pairs_per_step / wall, "sequence_tokens_per_s": real / wall,
           "padding_fraction_of_processed": 1 - real / processed, "processed_tokens": processed, "wall_s": wall}
    if device == "cuda":
        out["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--billions", type=float, default=1.5)
    ap.add_argument("--seq", type=int, default=4096)
    ap.add_argument("--pairs-per-step", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--smoke", action="store_true", help="tiny shapes on any device")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    from transformers import AutoModelForSequenceClassification, LlamaConfig

    if args.smoke:
        cfg = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
        args.seq, args.steps = 256, 2
    else:
        cfg = llama_config_for_params(args.billions, max_position_embeddings=args.seq)
    cfg.num_labels, cfg.pad_token_id = 1, 0
    register_pair_rows_attention()
    # bf16 on a GPU; a CPU smoke run uses bf16 only where the CPU has it natively (else it is emulated: minutes)
    from rewardlab.training.trainer import resolve_precision

    dtype = torch.bfloat16 if device == "cuda" or resolve_precision("auto") == "bf16" else torch.float32
    peak = matmul_peak(device, dtype, n=512 if args.smoke else 4096)
    chosen, rejected = synthetic_pairs(args.pairs_per_step * (args.steps + 1), args.seq, cfg.vocab_size)
    results = []
    modes = ["rewardlab", "padded (TRL's computation)", "trl"]
    try:
        import trl  # noqa: F401
    except ImportError:
        modes.pop()
        print("trl is not installed: TRL's RewardTrainer is skipped (pip install -e '.[bench]')")
    for mode in modes:
        torch.manual_seed(0)
        cfg._attn_implementation = "rewardlab_pairs" if mode == "rewardlab" else "sdpa"
        model = AutoModelForSequenceClassification.from_config(cfg).to(device)
        n_params = sum(p.numel() for p in model.parameters()) - model.get_input_embeddings().weight.numel()
        if mode == "trl":
            model = model.to(torch.float32)  # TRL keeps fp32 weights and runs bf16 autocast, like rewardlab
            res = run_trl(model, chosen, rejected, args.pairs_per_step, args.steps, device, dtype, args.seq,
                          ROOT / "outputs" / "gpu-throughput-trl")
        else:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            lean.install(model)  # both hand-written modes: their ratio is the layout's alone
            model.train()
            res = run("rewardlab" if mode == "rewardlab" else "padded", model, chosen, rejected,
                      args.pairs_per_step, args.steps, device, dtype)
        # MFU: 6 x non-embedding params x processed tokens per second, against the measured matmul peak
        res["mfu"] = 6 * n_params * res["processed_tokens"] / res["wall_s"] / peak
        res["mode"], res["params"] = mode, n_params
        results.append(res)
        del model
        if device == "cuda":
            torch.cuda.empty_cache()
    record = {"command": "python benchmarks/gpu_throughput.py " + ("--smoke" if args.smoke else
              f"--billions {args.billions} --seq {args.seq} --pairs-per-step {args.pairs_per_step} --steps {args.steps}"),
              "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
              "torch": torch.__version__, "dtype": str(dtype).removeprefix("torch."),
              "matmul_peak_tflops": peak / 1e12, "results": results,
              "speedup_pairs_per_s": results[0]["pairs_per_s"] / results[1]["pairs_per_s"],
              "speedup_vs_trl_trainer": (results[0]["pairs_per_s"] / results[2]["pairs_per_s"]
                                         if len(results) > 2 else None)}
    print(json.dumps(record, indent=1))
    if not args.smoke:
        out = ROOT / "benchmarks" / "results" / "gpu_throughput.json"
        out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
