"""Scoring speed and agreement: the shared `RewardScorer` (shared-context rows and plain padded batches) vs the
recipe's `pipeline("sentiment-analysis")`.

    .venv/bin/python benchmarks/eval_speed.py [--model smollm2-135m-instruct] [--pairs 48] [--batch-size 16]

Both score the same held-out pairs (hh-rlhf harmless-base test rows from ../shared/data) with the same weights:
the model is loaded once (a causal LM gets a fresh score head), saved to a temporary folder, and each side loads
that folder. The recipe (section 4.2) runs the pipeline with ``function_to_apply="none"`` and ``batch_size=1``
on ``apply_chat_template(..., tokenize=False).replace(bos_token, "")``. The scorer runs twice: as shipped
(``rank_responses``: each pair's context computed once, all pairs of a batch in one padding-free row) and with
plain right-padded batches (the model loaded with ``sdpa``). Reported: pairs/s for each, the largest
|reward difference| between them on identical text, and on the recipe's literal text (its `.replace` removes
every BOS string, which corrupts ChatML templates whose BOS also opens each turn). Results go to
benchmarks/results/eval_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "hh-rlhf-harmless-base" / "pairs.jsonl.gz"


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--pairs", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=4096)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "eval_speed"))
    args = parser.parse_args()

    import numpy as np
    import torch
    import transformers
    from transformers import pipeline

    from rewardlab.data.readers import read_pairs
    from rewardlab.data.templates import render_chat, tokenizer_adds_bos
    from rewardlab.io_utils import atomic_write_json, atomic_write_text
    from rewardlab.modeling.loading import load_reward_model
    from rewardlab.scoring import RewardScorer

    torch.manual_seed(0)  # the fresh score head of a causal LM
    pairs, _ = read_pairs(args.data, limit=args.pairs)
    conversations = [c for p in pairs for c in (p.chosen_messages(), p.rejected_messages())]

    with tempfile.TemporaryDirectory() as tmp:
        model, tokenizer = load_reward_model(args.model, dtype=args.dtype)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        del model

        scorer = RewardScorer.from_pretrained(
            tmp, device=args.device, dtype=args.dtype, max_length=args.max_length, batch_size=args.batch_size
        )
        groups = [([dict(m) for m in p.context], [p.chosen, p.rejected]) for p in pairs]
        scorer.rank_responses(groups[:1])  # warm-up
        ranked, t_ours = _timed(lambda: scorer.rank_responses(groups))
        ours = [r for pair in ranked for r in pair]
        padded_model, _ = load_reward_model(tmp, dtype=args.dtype, attn_implementation="sdpa")
        padded_scorer = RewardScorer(padded_model.to(scorer.device), scorer.tokenizer, max_length=args.max_length,
                                     batch_size=args.batch_size)
        padded_scorer.score(conversations[:2])  # warm-up
        padded, t_padded = _timed(lambda: padded_scorer.score(conversations))

        device = scorer.device
        tok = scorer.tokenizer
        pipe = pipeline(
            "sentiment-analysis",
            model=tmp,
            tokenizer=tok,
            device=device,
            model_kwargs={"dtype": getattr(torch, args.dtype)},
        )
        pipe_kwargs = {"top_k": None, "function_to_apply": "none", "batch_size": 1}

        def texts(literal: bool) -> list[str]:
            out = []
            for conv in conversations:
                text = render_chat(tok, conv)
                if literal and tok.bos_token:
                    text = text.replace(tok.bos_token, "")  # the recipe, verbatim
                elif tok.bos_token and tokenizer_adds_bos(tok) and text.startswith(tok.bos_token):
                    text = text[len(tok.bos_token) :]  # what the recipe means: no doubled leading BOS
                out.append(text)
            return out

        def run(batch: list[str]) -> list[float]:
            return [o[0]["score"] for o in pipe(batch, **pipe_kwargs)]

        run(texts(False)[:2])  # warm-up
        recipe, t_recipe = _timed(lambda: run(texts(False)))
        literal = run(texts(True))

    ours_a, recipe_a, literal_a, padded_a = (np.asarray(x, dtype=np.float64) for x in (ours, recipe, literal, padded))
    n = len(pairs)

    def accuracy(r):
        return float(np.mean(r[0::2] > r[1::2]))

    result = {
        "model": args.model,
        "pairs": n,
        "device": str(device),
        "dtype": args.dtype,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "scorer": {
            "batch_size": args.batch_size,
            "seconds": t_ours,
            "pairs_per_s": n / t_ours,
            "accuracy": accuracy(ours_a),
        },
        "scorer_padded_batches": {"seconds": t_padded, "pairs_per_s": n / t_padded, "accuracy": accuracy(padded_a)},
        "rows_vs_padded_speedup": t_padded / t_ours,
        "max_abs_diff_rows_vs_padded": float(np.max(np.abs(ours_a - padded_a))),
        "pipeline_batch_size_1": {"seconds": t_recipe, "pairs_per_s": n / t_recipe, "accuracy": accuracy(recipe_a)},
        "speedup": t_recipe / t_ours,
        "max_abs_diff_same_text": float(np.max(np.abs(ours_a - recipe_a))),
        "max_abs_diff_recipe_literal_text": float(np.max(np.abs(ours_a - literal_a))),
        "truncated": scorer.truncated,
    }
    md = (
        f"# Scoring speed: RewardScorer vs recipe pipeline ({args.model}, {n} pairs, {result['device']}, "
        f"{args.dtype})\n\n"
        f"Command: `python benchmarks/eval_speed.py --pairs {args.pairs} --batch-size {args.batch_size}`  \n"
        f"Machine: {result['machine']}, {os.cpu_count()} CPU cores, {result['torch_threads']} torch threads; "
        f"torch {torch.__version__}, transformers {transformers.__version__}, Python {platform.python_version()}. "
        f"Data: the first {n} hh-rlhf harmless-base test pairs.\n\n"
        "| scorer | pairs/s | seconds | accuracy |\n|---|---|---|---|\n"
        f"| RewardScorer, shared-context rows (batch {args.batch_size}) | {result['scorer']['pairs_per_s']:.2f} | "
        f"{t_ours:.2f} | {result['scorer']['accuracy']:.3f} |\n"
        f"| RewardScorer, padded batches (batch {args.batch_size}, length-sorted) | "
        f"{result['scorer_padded_batches']['pairs_per_s']:.2f} | {t_padded:.2f} | "
        f"{result['scorer_padded_batches']['accuracy']:.3f} |\n"
        f"| pipeline('sentiment-analysis', batch_size=1) | {result['pipeline_batch_size_1']['pairs_per_s']:.2f} | "
        f"{t_recipe:.2f} | {result['pipeline_batch_size_1']['accuracy']:.3f} |\n\n"
        f"Shared-context rows vs padded batches: {result['rows_vs_padded_speedup']:.2f}x, largest |reward "
        f"difference| {result['max_abs_diff_rows_vs_padded']:.2e}. Rows vs the pipeline: {result['speedup']:.2f}x. Largest |reward difference|: {result['max_abs_diff_same_text']:.2e} on "
        f"identical text; {result['max_abs_diff_recipe_literal_text']:.2e} against the recipe's literal "
        '`.replace(bos_token, "")` text.\n'
    )
    out = Path(args.out)
    atomic_write_json(out.with_suffix(".json"), result)
    atomic_write_text(out.with_suffix(".md"), md)
    print(md)


if __name__ == "__main__":
    main()
