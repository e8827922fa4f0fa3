"""Do folders saved by rewardlab (transformers 5) score the same under transformers 4.57, reward-bench's pin?

Writes model folders with rewardlab, then scores the same conversations (the shipped demo test split, chosen and
rejected) in a throwaway venv holding transformers 4.57 (a subprocess running this file with ``--score``) and
in this venv (transformers 5), one conversation per forward pass, and records the largest difference and the
rope_theta each version loaded. Folders:

- ``tiny-llama``: a tiny Llama (rope_theta 100,000, not Llama's default 10,000, so a dropped value shows) trained
  briefly with `rewardlab.training.trainer.train` on the demo split;
- ``smollm2``: the embedded SmolLM2-135M-Instruct (rope_theta 100,000) as a reward model, saved through the same
  `save_model_folder` (its score head is the seeded random one: this measures loading, not quality).

Each also as transformers 5 writes it untouched ("as 5.x saves"), and with only the tokenizer config made
portable ("5.x config"), to show what the rewrite fixes. The venv (outside the repository):

    python3 -m venv /tmp/tf457 && /tmp/tf457/bin/pip install torch==2.13.0 'transformers==4.57.*' safetensors
    .venv/bin/python benchmarks/compat_transformers4.py [--venv /tmp/tf457] [--conversations 40]

Writes benchmarks/results/compat_transformers4.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEMO = ROOT / "src" / "rewardlab" / "data" / "demo"
ROPE_THETA = 100_000.0


def score_folder(folder: str, conversations: list) -> dict:
    """Plain transformers, no rewardlab (this runs under 4.57 too): chat template as text, the template's BOS
    removed when the tokenizer adds one itself (the recipe's rule), one conversation per forward pass."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    out: dict = {"transformers": transformers.__version__, "torch": torch.__version__,
                 "python": platform.python_version()}
    config = AutoConfig.from_pretrained(folder)
    # what the config object says (4.x keeps an unknown rope_parameters as a plain attribute and ignores it)
    rope = getattr(config, "rope_parameters", None) if int(transformers.__version__.split(".")[0]) >= 5 else None
    out["rope_theta"] = rope["rope_theta"] if isinstance(rope, dict) and "rope_theta" in rope else config.rope_theta
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except Exception as e:  # the failure itself is the finding
        out["error"] = f"{type(e).__name__}: {e}"
        return out
    out["tokenizer_class"] = type(tokenizer).__name__
    model = AutoModelForSequenceClassification.from_pretrained(folder).float().eval()
    # what the rotary embedding really uses: inv_freq[i] = theta ** (-2i / dim), len(inv_freq) = dim / 2
    inv_freq = model.base_model.rotary_emb.inv_freq.double()
    out["rope_theta_used"] = float(inv_freq[1] ** -len(inv_freq))
    adds_bos = tokenizer.bos_token_id is not None and tokenizer("a")["input_ids"][:1] == [tokenizer.bos_token_id]
    texts = []
    for conv in conversations:
        text = tokenizer.apply_chat_template(conv, tokenize=False)
        texts.append(text[len(tokenizer.bos_token):] if adds_bos and text.startswith(tokenizer.bos_token) else text)
    scores, batched = [], []
    with torch.no_grad():
        for text in texts:
            scores.append(float(model(**tokenizer(text, return_tensors="pt")).logits[0, 0]))
        # as reward-bench scores: batches padded on the right, the model pooling at the last non-pad token
        # (config.pad_token_id), so a pad token lost on the way would show here
        tokenizer.padding_side = "right"
        for i in range(0, len(texts), 8):
            batch = tokenizer(texts[i : i + 8], return_tensors="pt", padding=True)
            batched.extend(float(x) for x in model(**batch).logits[:, 0])
    out["scores"], out["batched_scores"] = scores, batched
    return out


def conversations_from_demo(n: int) -> list:
    rows = [json.loads(line) for line in (DEMO / "test.jsonl").read_text().splitlines() if line.strip()]
    convs = []
    for row in rows:
        for reply in (row["chosen"], row["rejected"]):
            convs.append([*row["context"], {"role": "assistant", "content": reply}])
    return convs[:n]


def run_in_venv(python: str, folder: Path, conv_path: Path, work: Path) -> dict:
    out = work / f"{folder.name}.tf4.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    proc = subprocess.run([python, __file__, "--score", str(folder), str(conv_path), str(out)], env=env,
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    return json.loads(out.read_text())


def build_folders(work: Path, convs: list) -> dict[str, Path]:
    import torch

    from rewardlab.config import TrainConfig
    from rewardlab.modeling.loading import load_reward_model
    from rewardlab.modeling.saving import portable_tokenizer_config, save_model_folder
    from rewardlab.modeling.tiny import build_tiny_model_dir
    from rewardlab.training.trainer import train

    folders = {}
    base = build_tiny_model_dir(work / "tiny-base", hidden_size=64, num_layers=2, rope_theta=ROPE_THETA)
    cfg = TrainConfig(model=str(base), data=str(DEMO / "train.jsonl"), output_dir=str(work / "tiny-llama"),
                      max_length=512, learning_rate=3e-3, batch_size=8, micro_batch_size=8, max_steps=30,
                      eval_fraction=0.1, precision="fp32", gradient_checkpointing=False, warmup_ratio=0.0, seed=0,
                      report_to="none")
    folders["tiny-llama"] = train(cfg, quiet=True).output_dir
    torch.manual_seed(0)
    model, tokenizer = load_reward_model("smollm2-135m-instruct")
    folders["smollm2"] = save_model_folder(model, tokenizer, work / "smollm2")
    for name in ("tiny-llama", "smollm2"):
        src = folders[name]
        raw = work / f"{name}-as-5.x-saves"
        m, t = load_reward_model(str(src))  # the same weights, written by plain save_pretrained
        m.save_pretrained(raw, safe_serialization=True)
        t.save_pretrained(raw)
        folders[f"{name} (as 5.x saves)"] = raw
        cfg_only = work / f"{name}-5.x-config"
        shutil.copytree(raw, cfg_only)
        tok_path = cfg_only / "tokenizer_config.json"
        tok_path.write_text(json.dumps(portable_tokenizer_config(json.loads(tok_path.read_text()), True)))
        folders[f"{name} (5.x config, portable tokenizer)"] = cfg_only
    return folders


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--score":  # the subprocess side, under transformers 4.57
        _, _, folder, conv_path, out_path = sys.argv
        result = score_folder(folder, json.loads(Path(conv_path).read_text()))
        Path(out_path).write_text(json.dumps(result))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venv", default="/tmp/tf457", help="venv with transformers 4.57 (see the module docstring)")
    ap.add_argument("--conversations", type=int, default=40)
    args = ap.parse_args()
    python = str(Path(args.venv) / "bin" / "python")
    if not Path(python).exists():
        raise SystemExit(f"no {python}: create the venv first (see the module docstring)")
    import torch
    import transformers

    from rewardlab.scoring import RewardScorer

    t0 = time.time()
    convs = conversations_from_demo(args.conversations)
    work = Path(tempfile.mkdtemp(prefix="compat-tf4-"))
    conv_path = work / "conversations.json"
    conv_path.write_text(json.dumps(convs))
    folders = build_folders(work, convs)
    rows = []
    for name, folder in folders.items():
        v5 = score_folder(str(folder), convs)
        v4 = run_in_venv(python, folder, conv_path, work)
        row = {"folder": name, "rope_theta_saved": ROPE_THETA, "rope_theta_5x": v5["rope_theta"],
               "rope_theta_4x": v4.get("rope_theta"), "rope_theta_used_5x": v5.get("rope_theta_used"),
               "rope_theta_used_4x": v4.get("rope_theta_used"), "tokenizer_4x": v4.get("tokenizer_class"),
               "error_4x": v4.get("error"), "transformers_4x": v4.get("transformers")}
        if "scores" in v4:
            diffs = [abs(a - b) for a, b in zip(v4["scores"], v5["scores"])]
            row["max_abs_diff"] = max(diffs)
            row["max_abs_diff_batched"] = max(abs(a - b) for a, b in zip(v4["batched_scores"], v5["scores"]))
            row["score_range_5x"] = max(v5["scores"]) - min(v5["scores"])
        if "(" not in name:  # rewardlab's own scorer on the folder it saved
            ours = RewardScorer.from_pretrained(str(folder), device="cpu", dtype="float32").score(convs)
            row["max_abs_diff_rewardlab_vs_5x"] = max(abs(a - b) for a, b in zip(ours, v5["scores"]))
        rows.append(row)
        print(json.dumps(row), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    record = {
        "command": "python benchmarks/compat_transformers4.py " + " ".join(sys.argv[1:]),
        "conversations": len(convs), "source": "src/rewardlab/data/demo/test.jsonl (chosen and rejected)",
        "transformers_new": transformers.__version__, "transformers_old": next(
            (r["transformers_4x"] for r in rows if r.get("transformers_4x")), None),
        "torch": torch.__version__, "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, no GPU",
        "date": time.strftime("%Y-%m-%d", time.gmtime()), "seconds": round(time.time() - t0, 1), "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compat_transformers4.json").write_text(json.dumps(record, indent=2) + "\n")
    (RESULTS / "compat_transformers4.md").write_text(markdown(record))
    return 0


def markdown(r: dict) -> str:
    def fmt(v):
        return "-" if v is None else (f"{v:.2e}" if isinstance(v, float) and v < 1e-2 else
                                      f"{v:.4g}" if isinstance(v, float) else str(v))

    lines = [
        "# Folders saved by rewardlab under transformers 4.57 (reward-bench's pin) and 5.x",
        "",
        f"`{r['command']}` on {r['date']}: transformers {r['transformers_old']} (throwaway venv) vs "
        f"{r['transformers_new']}, torch {r['torch']}, Python {r['python']}, {r['machine']}; {r['seconds']} s.",
        f"{r['conversations']} conversations from {r['source']}, scored one per forward pass in fp32 by plain "
        "transformers (chat template as text, the template's BOS dropped where the tokenizer adds one).",
        "Every folder was saved with rope_theta 100,000 (Llama's default is 10,000).",
        "",
        "| folder | rope_theta 5.x | rope_theta 4.57 (config / used) | 4.57 tokenizer | max abs diff 4.57 vs 5.x |"
        " same, 4.57 in padded batches of 8 | score range | rewardlab score vs 5.x |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        tok = row["tokenizer_4x"] or f"fails: {row['error_4x']}"
        used = row.get("rope_theta_used_4x")
        theta4 = f"{fmt(row['rope_theta_4x'])} / {'-' if used is None else f'{used:.5g}'}"
        lines.append(f"| {row['folder']} | {fmt(row['rope_theta_5x'])} | {theta4} | {tok} | "
                     f"{fmt(row.get('max_abs_diff'))} | {fmt(row.get('max_abs_diff_batched'))} | "
                     f"{fmt(row.get('score_range_5x'))} | "
                     f"{fmt(row.get('max_abs_diff_rewardlab_vs_5x'))} |")
    lines += ["", "\"used\" is the theta the rotary embedding was built with (from its inv_freq); it needs the "
              "tokenizer to load, hence \"-\" where that fails. "
              "Rows named only by the model are the folders rewardlab writes (`rewardlab.modeling.saving`); "
              "\"as 5.x saves\" is plain `save_pretrained`; \"5.x config, portable tokenizer\" fixes only the "
              "tokenizer class, so 4.57 loads it and the rope_theta it drops shows in the scores.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
