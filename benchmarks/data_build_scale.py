"""How mixture building and tokenization scale: time and peak memory at 1/4, 1/2 and all of a v2-sized mixture.

    .venv/bin/python benchmarks/data_build_scale.py [--pairs 700000] [--num-proc 2] [--workdir /tmp/x]

The input is the real hh-rlhf sample (../shared/data, 2,000 rows) repeated to the target size and saved as an
Arrow folder (what a hub download becomes), read through the hh-rlhf converter. Each size runs in a fresh
process so its peak RSS (`resource.getrusage`, self + worker processes) is its own. Phases timed:
build (convert + select + shuffle + write, no tokenizer), tokenize (cold, writes the token cache), tokenize
again (cache hit). The tokenizer is, by default, the embedded model's real one (SmolLM2-135M-Instruct: its
49K byte-level BPE and ChatML chat template, the work a user's build does); `--tokenizer bpe|word` trains a
stand-in on the sample instead (no download either way).
Results: benchmarks/results/data_build_scale.md and .json.
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

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / ".." / "shared" / "data" / "hh-rlhf-harmless-base" / "pairs.jsonl.gz"
RESULTS = REPO / "benchmarks" / "results"


EMBEDDED = "smollm2-135m-instruct"


def make_tokenizer(sample_texts: list[str], kind: str = "embedded", vocab_size: int = 16000):
    """The tokenizer to count with: "embedded" = the embedded model's own tokenizer and chat template (what
    `rewardlab data build` uses with the default model); or one trained here on the sample: "bpe" = byte-level
    BPE, "word" = word level (a faster tokenizer, no chat template)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if kind == "embedded":
        from rewardlab.modeling.loading import load_tokenizer

        return load_tokenizer(EMBEDDED)

    if kind == "bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<s>", "<pad>"], show_progress=False)
    else:
        tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordLevelTrainer(
            vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "<unk>"], show_progress=False
        )
    tok.train_from_iterator(sample_texts, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", pad_token="<pad>")


def _peak_rss_mb() -> dict[str, float]:
    # ru_maxrss is in KiB on Linux; children = the datasets worker processes (num_proc).
    return {
        "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def run_one(rows: int, num_proc: int, workdir: Path, tokenizer_kind: str) -> dict:
    """One size, in this process: prepare input (untimed), then time the phases."""
    import datasets

    from rewardlab.data.mixtures import DataBuildConfig, build_mixture
    from rewardlab.data.stats import length_stats, tokenize_pairs

    datasets.disable_progress_bars()
    sample = datasets.load_dataset("json", data_files=str(SAMPLE), split="train", cache_dir=str(workdir / "hf"))
    src = workdir / f"hh-x{rows}"
    if not src.exists():
        reps = -(-rows // len(sample))
        datasets.concatenate_datasets([sample] * reps).select(range(rows)).save_to_disk(str(src))
    tok = make_tokenizer(sample["chosen"][:2000], tokenizer_kind)
    if tokenizer_kind == "embedded":  # warm the tokenizer's lazy state outside the timed phases
        tok("warm-up")
    after_setup = _peak_rss_mb()

    cfg = DataBuildConfig(
        name="bench",
        sources=[{"name": "hh-rlhf-helpful-base", "path": str(src)}],
        seed=0,
        num_proc=num_proc,
        cache_dir=str(workdir / f"cache-{rows}"),
    )
    out = workdir / f"mix-{rows}"
    t0 = time.perf_counter()
    stats = build_mixture(cfg, out)
    t_build = time.perf_counter() - t0

    built = datasets.load_from_disk(str(out))
    t0 = time.perf_counter()
    lengths = length_stats(tokenize_pairs(built, tok, num_proc, workdir / f"tok-{rows}"))
    t_tok = time.perf_counter() - t0
    t0 = time.perf_counter()
    length_stats(tokenize_pairs(built, tok, num_proc, workdir / f"tok-{rows}"))
    t_tok_cached = time.perf_counter() - t0
    peak = _peak_rss_mb()
    return {
        "input_rows": rows,
        "pairs": stats["total"]["pairs"],
        "build_s": round(t_build, 1),
        "tokenize_s": round(t_tok, 1),
        "tokenize_cached_s": round(t_tok_cached, 2),
        "pairs_per_s_build": round(stats["total"]["pairs"] / t_build),
        "pairs_per_s_tokenize": round(stats["total"]["pairs"] / t_tok),
        "avg_chosen_tokens": lengths["total"]["avg_chosen"],
        "max_tokens": lengths["total"]["max_len"],
        "peak_rss_mb_setup": round(after_setup["self"]),
        "peak_rss_mb_self": round(peak["self"]),
        "peak_rss_mb_workers": round(peak["children"]),
        "output_mb": round(sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20),
    }


def _versions() -> dict[str, str]:
    import datasets
    import pyarrow
    import tokenizers
    import transformers

    return {
        "python": platform.python_version(),
        "datasets": datasets.__version__,
        "pyarrow": pyarrow.__version__,
        "tokenizers": tokenizers.__version__,
        "transformers": transformers.__version__,
    }


def _machine() -> dict[str, str]:
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory_gb": f"{mem_gb:.0f}", "os": platform.platform()}


TOKENIZER_NOTES = {
    "embedded": "the embedded SmolLM2-135M-Instruct tokenizer (49K byte-level BPE) with its ChatML chat template",
    "bpe": "a byte-level BPE tokenizer (16K vocab, trained locally, no chat template)",
    "word": "a word-level tokenizer (16K vocab, trained locally, no chat template)",
}


def write_report(results: list[dict], args: argparse.Namespace, command: str) -> None:
    machine, versions = _machine(), _versions()
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": command,
        "machine": machine,
        "versions": versions,
        "num_proc": args.num_proc,
        "results": results,
    }
    (RESULTS / "data_build_scale.json").write_text(json.dumps(payload, indent=2) + "\n")
    base = results[0]
    lines = [
        "# Mixture build and tokenization at scale",
        "",
        f"Command: `{command}`",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB RAM ({machine['os']})",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "",
        "Input: the 2,000 real hh-rlhf harmless-base rows repeated, as an Arrow folder, through the hh-rlhf "
        f"converter with num_proc={args.num_proc}. build = convert + select + shuffle + save_to_disk; tokenize = "
        f"chosen and rejected conversations through {TOKENIZER_NOTES[args.tokenizer]}, cold; "
        "cached = the same call again (token cache hit). Peak RSS from getrusage, per size in a fresh process.",
        "",
        "| input rows | pairs | build s | tokenize s | cached s | build pairs/s | tokenize pairs/s | "
        "time vs smallest | peak RSS main MB | peak RSS worker MB | output MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = (r["build_s"] + r["tokenize_s"]) / (base["build_s"] + base["tokenize_s"])
        lines.append(
            f"| {r['input_rows']:,} | {r['pairs']:,} | {r['build_s']} | {r['tokenize_s']} | {r['tokenize_cached_s']} | "
            f"{r['pairs_per_s_build']:,} | {r['pairs_per_s_tokenize']:,} | {ratio:.2f}x (rows {r['input_rows'] / base['input_rows']:.0f}x) | "
            f"{r['peak_rss_mb_self']:,} | {r['peak_rss_mb_workers']:,} | {r['output_mb']:,} |"
        )
    (RESULTS / "data_build_scale.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=700_000, help="largest input size (rows); also 1/4 and 1/2")
    ap.add_argument("--num-proc", type=int, default=2)
    ap.add_argument("--tokenizer", choices=sorted(TOKENIZER_NOTES), default="embedded",
                    help="embedded = the embedded model's real tokenizer and chat template; bpe/word = trained here")
    ap.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # internal: run one size
    args = ap.parse_args()
    if not SAMPLE.exists():
        sys.exit(f"needs the real hh-rlhf sample at {SAMPLE} (the ../shared folder)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rewardlab-scale-"))
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.num_proc, workdir, args.tokenizer)))
        return
    results = []
    for rows in (args.pairs // 4, args.pairs // 2, args.pairs):
        cmd = [
            sys.executable,
            __file__,
            "--one",
            str(rows),
            "--num-proc",
            str(args.num_proc),
            "--workdir",
            str(workdir),
            "--tokenizer",
            args.tokenizer,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.exit(f"size {rows} failed:\n{proc.stderr[-4000:]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    command = "python benchmarks/data_build_scale.py " + " ".join(sys.argv[1:])
    write_report(results, args, command.strip())
    print((RESULTS / "data_build_scale.md").read_text())


if __name__ == "__main__":
    main()
