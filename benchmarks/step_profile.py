"""Forward+backward time per pair of each way to lay out a preference pair (one process, no optimizer).

    .venv/bin/python benchmarks/step_profile.py [--pairs 24] [--precisions fp32,bf16] [--reps 2]

Runs the embedded SmolLM2-135M reward model on the first ``--pairs`` hh-rlhf harmless-base pairs that fit in
512 tokens and times, per layout, one forward + backward of the Bradley-Terry loss over all pairs (best of
``--reps``). Layouts: ``padded4`` (TRL's: 4 pairs -> 8 right-padded rows), ``separate1`` (chosen and
rejected as two unpadded rows), ``rows2/4/8`` (rewardlab's padding-free pair rows: 2, 4 or 8 pairs in one row,
attention per pair), ``packed1`` / ``packed4`` (rewardlab's shared-context row with a 4-D mask,
1 or 4 pairs per micro-batch), ``kvshare1`` (the context once, then both responses as a 2-row batch over
its key/value cache). Prints a table; ``--json`` writes it. Diagnostic: the like-for-like trainer
comparison is train_throughput.py.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "hh-rlhf-harmless-base" / "pairs.jsonl.gz"


def load(n: int, max_length: int):
    from rewardlab.data.readers import read_pairs
    from rewardlab.data.templates import ConversationEncoder
    from rewardlab.modeling.loading import load_reward_model
    from rewardlab.modeling.pair_rows import register_pair_rows_attention

    # rewardlab_pairs behaves exactly like sdpa for every layout except the pair rows
    model, tok = load_reward_model("smollm2-135m-instruct", attn_implementation=register_pair_rows_attention())
    enc = ConversationEncoder(tok, 10**9)
    pairs, _ = read_pairs(str(DATA))
    chosen, rejected = [], []
    for p in pairs:
        c, r = enc.encode(p.chosen_messages())[0], enc.encode(p.rejected_messages())[0]
        if max(len(c), len(r)) <= max_length:
            chosen.append(c)
            rejected.append(r)
        if len(chosen) == n:
            break
    return model, tok.pad_token_id, chosen, rejected


def run_layout(name, model, pad_id, chosen, rejected):
    from rewardlab.modeling import forward as F

    total = torch.zeros(())
    tokens = 0
    step = {"padded4": 4, "packed4": 4, "rows2": 2, "rows4": 4, "rows8": 8}.get(name, 1)
    for k in range(0, len(chosen), step):
        c, r = chosen[k : k + step], rejected[k : k + step]
        if name == "padded4" or name == "separate1":
            ids, mask, last = F.pad_batch(c + r, pad_id)
            if name == "separate1":  # two rows, no padding mask needed: run each alone
                rc = F.sequence_rewards(model, torch.tensor([c[0]]), torch.ones(1, len(c[0]), dtype=torch.long),
                                        torch.tensor([len(c[0]) - 1]))
                rr = F.sequence_rewards(model, torch.tensor([r[0]]), torch.ones(1, len(r[0]), dtype=torch.long),
                                        torch.tensor([len(r[0]) - 1]))
                rewards = torch.cat([rc, rr])
                tokens += len(c[0]) + len(r[0])
            else:
                rewards = F.sequence_rewards(model, ids, mask, last)
                tokens += ids.numel()
        elif name.startswith("packed"):
            ids, m4, pos, ci, ri, _ = F.pack_shared_context(c, r, pad_id)
            rewards = F.packed_pair_rewards(model, ids, m4, pos, ci, ri)
            tokens += ids.numel()
        elif name.startswith("rows"):
            from rewardlab.modeling.pair_rows import pack_pair_rows, pair_rows_rewards

            ids, pos, seg, ci, ri, ntok = pack_pair_rows(c, r)
            rewards = pair_rows_rewards(model, ids, pos, seg, ci, ri)
            tokens += ntok
        elif name == "kvshare1":
            rewards = kv_shared_rewards(model, c[0], r[0], pad_id)
            p = F.common_prefix_length(c[0], r[0])
            p = min(p, len(c[0]) - 1, len(r[0]) - 1)
            tokens += p + 2 * max(len(c[0]), len(r[0])) - 2 * p
        else:
            raise ValueError(name)
        n = len(rewards) // 2
        loss = -torch.nn.functional.logsigmoid(rewards[:n] - rewards[n:]).sum()
        loss.backward()
        total += loss.detach()
    return float(total), tokens


def kv_shared_rewards(model, c, r, pad_id):
    from transformers import DynamicCache

    from rewardlab.modeling.forward import common_prefix_length, unwrap_peft

    base = unwrap_peft(model).base_model
    p = min(common_prefix_length(c, r), len(c) - 1, len(r) - 1)
    ctx = base(input_ids=torch.tensor([c[:p]]), use_cache=True)
    kv = ctx.past_key_values
    sc, sr = c[p:], r[p:]
    n = max(len(sc), len(sr))
    ids = torch.full((2, n), pad_id)
    ids[0, : len(sc)] = torch.tensor(sc)
    ids[1, : len(sr)] = torch.tensor(sr)
    att = torch.zeros(2, p + n, dtype=torch.long)
    att[:, :p] = 1
    att[0, p : p + len(sc)] = 1
    att[1, p : p + len(sr)] = 1
    data = [(layer.keys.expand(2, -1, -1, -1), layer.values.expand(2, -1, -1, -1)) for layer in kv.layers]
    cache = DynamicCache(ddp_cache_data=data, config=base.config)
    pos = torch.arange(p, p + n).expand(2, -1)
    h = base(input_ids=ids, attention_mask=att, position_ids=pos, past_key_values=cache, use_cache=True
             ).last_hidden_state
    picked = torch.stack([h[0, len(sc) - 1], h[1, len(sr) - 1]])
    return model.score(picked).squeeze(-1).float()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=24)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--layouts", default="padded4,packed1,rows2,rows4,rows8")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="torch.compile the backbone (dynamic shapes)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, pad_id, chosen, rejected = load(args.pairs, args.max_length)
    model.train()
    if args.compile:
        model.model = torch.compile(model.model, dynamic=True)
    rows = []
    for prec in args.precisions.split(","):
        for name in args.layouts.split(","):
            best, loss, tokens = float("inf"), None, 0
            for _ in range(args.reps):
                model.zero_grad(set_to_none=True)
                t0 = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=prec == "bf16"):
                    loss, tokens = run_layout(name, model, pad_id, chosen, rejected)
                best = min(best, time.perf_counter() - t0)
            gnorm = float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters() if p.grad is not None)))
            row = {"precision": prec, "layout": name, "seconds": round(best, 2), "pairs_per_s": args.pairs / best,
                   "tokens": tokens, "tokens_per_s": tokens / best, "loss": loss, "grad_norm": gnorm}
            rows.append(row)
            print(f"{prec:5s} {name:10s} {best:7.2f}s {row['pairs_per_s']:6.2f} pairs/s {tokens:6d} tok "
                  f"{row['tokens_per_s']:7.0f} tok/s loss {loss:.4f} |g| {gnorm:.4f}", flush=True)
    if args.json:
        import platform
        import sys

        import transformers

        Path(args.json).write_text(json.dumps(rows, indent=1))
        lines = [f"# Forward+backward per pair by layout (smollm2-135m-instruct, {args.pairs} hh-rlhf pairs)", "",
                 f"Command: `python benchmarks/step_profile.py {' '.join(sys.argv[1:])}`  ",
                 f"Machine: {platform.machine()}, {args.threads} torch threads; torch {torch.__version__}, "
                 f"transformers {transformers.__version__}. Best of {args.reps}; no optimizer step. Layouts: "
                 "padded4 = TRL's (4 pairs -> 8 right-padded rows); packed1/4 = one 4-D-masked row per pair; "
                 "rowsK = K pairs in one padding-free row (rewardlab's default).", "",
                 "| precision | layout | seconds | pairs/s | positions run | positions/s | loss | grad norm |",
                 "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['precision']} | {r['layout']} | {r['seconds']} | {r['pairs_per_s']:.2f} | {r['tokens']} | "
                  f"{r['tokens_per_s']:.0f} | {r['loss']:.4f} | {r['grad_norm']:.4f} |" for r in rows]
        lines += ["", "Same loss and gradient norm in every fp32 layout: the layouts compute the same maths."]
        Path(args.json).with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
