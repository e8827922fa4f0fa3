"""Rollout scoring (issue 21): a GRPO-shaped batch scored by the peers' own reward paths and by rewardlab's.

    .venv/bin/python benchmarks/rollout_scoring.py [--model smollm2-135m-instruct|tiny|FOLDER] [--prompts 64]
        [--responses 8] [--dtypes float32 bfloat16] [--device cpu|cuda] [--methods ...] [--max-tokens 1024]

Workload: the first `--prompts` conversations of ../shared/data/hh-rlhf-harmless-base/pairs.jsonl.gz (real
Anthropic hh-rlhf transcripts) whose every rollout fits `--max-tokens`, so no method truncates. Each prompt is the
pair's shared context (multi-turn: the earlier Human/Assistant turns and the last Human turn) and gets
`--responses` responses, standing in for sampled ones: the pair's chosen and rejected final turns, the first
half (by words) of each, then the final assistant turns of the conversations `--prompts` rows further on (other
real replies, unrelated to the prompt, as a bad sample is). All methods score the same
prompts x responses with the same weights (the model is loaded once, its score head included, and saved to a
temporary folder; a causal LM such as the embedded SmolLM2-135M-Instruct gets a fresh random head, seeded).

Methods (each in its own subprocess, so its peak memory is its own; timing excludes loading, includes
tokenizing; one untimed warm-up call on the first prompt's responses first):
- ``trl``: TRL 1.16 GRPOTrainer's reward path, trl/trainer/grpo_trainer.py `_calculate_rewards` (wheel
  trl-1.16.0, github.com/huggingface/trl tag v1.16.0): texts = ``apply_chat_template({"messages": prompt +
  completion})["text"]``, ``reward_processing_class(text=texts, padding=True, padding_side="right",
  add_special_tokens=False)``, ``reward_func(**inputs).logits[:, 0]`` under inference_mode, on each generation
  batch: ``per_device_train_batch_size`` (8, TrainingArguments' default) x processes x steps_per_generation
  (= gradient_accumulation_steps, 1) = 8 completions per call (grpo_config.py `__post_init__`). SDPA attention
  (from_pretrained's default).
- ``openrlhf``: OpenRLHF 0.11.2 ``serve_rm`` (openrlhf/cli/serve_rm.py `RewardModelProxy`, the reward model's
  forward from openrlhf/models/model.py `_get_reward_model`), driven as its 0.11 client drives a remote RM
  (openrlhf/utils/agent.py `SingleTurnAgentExecutor.execute`: ONE query per request, the handler's model call
  blocking, so one query per forward): left padding, ``add_special_tokens=False``, truncation at max_len 2048,
  position_ids = cumsum(mask) - 1, reward read at the last non-pad token. Called in-process (the HTTP hop it would
  add is left out, in its favour). SDPA (its default flash_attention_2 needs the flash-attn package).
- ``openrlhf-rollout``: the same serve_rm with the whole rollout in one request (older clients' ``/get_reward``
  with every query; serve_rm's ``batch_size`` None = one padded batch).
- ``rewardlab-serve``: ``rewardlab serve`` (its CLI, a subprocess) driven by OpenRLHF 0.11's client logic
  (`_fetch_rewards_via_http`: one ``{"query": [q], "prompts": [p], "labels": [l]}`` POST per rollout, all rollouts
  in flight together, an aiohttp session per request, 180 s timeout, 5 tries; httpx if aiohttp is missing).
- ``rewardlab``: ``RewardScorer.score`` over every conversation at once (the Python API).

OpenRLHF's queries are what its client builds: decode(prompt ids + response ids + EOS), with the prompt rendered
with the generation prompt; they stop at the end-of-turn token, so ``serve_rm`` reads the reward at
``<|im_end|>`` while TRL and rewardlab read it at the token the template renders last (ChatML's ``"\\n"``;
``rewardlab serve`` completes the turn, issue 16.5). The report gives the largest reward difference between
every two methods, so that one-token shift shows as what it is.

Recorded per method and dtype: rollouts/s, tokens submitted (each rollout's own tokens) and computed (padded
batches: padding included; rewardlab: the prefix trees', from its counters and ``/metrics``), forward calls,
peak memory (CPU: the process's peak RSS; CUDA: torch's peak allocated), and for bfloat16 vs float32 of the same
method: the largest reward difference and how often the best response of a group changes. Results go to
benchmarks/results/rollout_scoring.{json,md}; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "hh-rlhf-harmless-base" / "pairs.jsonl.gz"
METHODS = ("trl", "openrlhf", "openrlhf-rollout", "rewardlab-serve", "rewardlab")
TRL_GENERATION_BATCH = 8  # per_device_train_batch_size 8 x 1 process x steps_per_generation 1


# ------------------------------------------------------------------------------------------------ workload
def first_half(text: str) -> str:
    words = text.split()
    return " ".join(words[: max(1, len(words) // 2)])


def build_rollouts(num_prompts: int, num_responses: int, tokenizer, max_tokens: int) -> list[dict]:
    """[{"context": messages, "responses": [str, ...]}], see the module docstring."""
    from rewardlab.data.readers import row_to_pair
    from rewardlab.data.schema import RowRejected

    pairs = []
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        for line in f:
            try:
                pairs.append(row_to_pair(json.loads(line), "hh-rlhf-harmless-base"))
            except RowRejected:
                continue
    rollouts = []
    for i, pair in enumerate(pairs):
        if len(rollouts) == num_prompts:
            break
        others = [pairs[(i + num_prompts + k) % len(pairs)].chosen for k in range(max(0, num_responses - 4))]
        candidates = [pair.chosen, pair.rejected, first_half(pair.chosen), first_half(pair.rejected), *others]
        responses = list(dict.fromkeys(r for r in candidates if r.strip()))[:num_responses]
        if len(responses) < num_responses:
            continue
        context = [dict(m) for m in pair.context]
        lengths = [len(tokenizer(tokenizer.apply_chat_template([*context, {"role": "assistant", "content": r}],
                                                               tokenize=False))["input_ids"]) for r in responses]
        if max(lengths) + 1 <= max_tokens:  # room for a BOS a template may add
            rollouts.append({"context": context, "responses": responses})
    if len(rollouts) < num_prompts:
        raise SystemExit(f"only {len(rollouts)} conversations fit --max-tokens {max_tokens}; lower --prompts")
    return rollouts


def openrlhf_query(tokenizer, context, response):
    """OpenRLHF 0.11 SingleTurnAgentExecutor.execute: prompt rendered with the generation prompt, prompt ids
    (add_special_tokens=False) + the policy's response ids (vLLM's, which end with the EOS it stopped on),
    decoded with skip_special_tokens=False."""
    prompt = tokenizer.apply_chat_template(context, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(text=prompt, add_special_tokens=False)["input_ids"]
    action_ids = [*tokenizer(response, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    return tokenizer.decode(prompt_ids + action_ids, skip_special_tokens=False), prompt


# ------------------------------------------------------------------------------------------------ methods
def peak_memory_mib(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def load_hf(model_dir: str, dtype: str, device: str):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1, dtype=getattr(torch, dtype),
                                                               attn_implementation="sdpa").to(device).eval()
    return model, AutoTokenizer.from_pretrained(model_dir)


def run_trl(model_dir: str, rollouts: list[dict], dtype: str, device: str) -> dict:
    """TRL 1.16 `_calculate_rewards` for a reward model (see the module docstring), one generation batch at a time."""
    import torch

    model, tok = load_hf(model_dir, dtype, device)
    if tok.pad_token_id is None:  # GRPOTrainer.__init__: pad = eos when the tokenizer has none
        tok.pad_token = tok.eos_token
    model.config.pad_token_id = tok.pad_token_id
    prompts = [r["context"] for r in rollouts for _ in r["responses"]]
    completions = [[{"role": "assistant", "content": x}] for r in rollouts for x in r["responses"]]
    stats = {"submitted": 0, "computed": 0, "calls": 0}

    def calculate(p_batch, c_batch):
        # trl/data_utils.py apply_chat_template on {"messages": p + c}: the whole conversation, no generation prompt
        texts = [tok.apply_chat_template(p + c, tokenize=False) for p, c in zip(p_batch, c_batch)]
        inputs = tok(text=texts, return_tensors="pt", padding=True, padding_side="right", add_special_tokens=False)
        inputs = {k: v.to(device) for k, v in inputs.items()}
        with torch.inference_mode():
            rewards = model(**inputs).logits[:, 0]
        stats["submitted"] += int(inputs["attention_mask"].sum())
        stats["computed"] += inputs["input_ids"].numel()
        stats["calls"] += 1
        return rewards.float().tolist()

    calculate(prompts[:TRL_GENERATION_BATCH], completions[:TRL_GENERATION_BATCH])  # warm-up
    stats.update(submitted=0, computed=0, calls=0)
    start = time.perf_counter()
    rewards = []
    for a in range(0, len(prompts), TRL_GENERATION_BATCH):
        rewards += calculate(prompts[a : a + TRL_GENERATION_BATCH], completions[a : a + TRL_GENERATION_BATCH])
    return {"seconds": time.perf_counter() - start, "rewards": rewards, **stats}


class OpenRLHFRewardProxy:
    """openrlhf/cli/serve_rm.py `RewardModelProxy` (0.11.2) around an HF sequence classifier, with the reward
    model's forward of openrlhf/models/model.py `_get_reward_model` (packing off, normalization off)."""

    def __init__(self, model, tokenizer, max_length: int = 2048, batch_size: int | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.tokenizer.padding_side = "left"  # get_tokenizer(..., "left", ...)
        self.max_length, self.batch_size = max_length, batch_size
        self.stats = {"submitted": 0, "computed": 0, "calls": 0}

    def forward(self, input_ids, attention_mask):
        eos_indices = attention_mask.size(1) - 1 - attention_mask.long().fliplr().argmax(dim=1, keepdim=True)
        position_ids = attention_mask.long().cumsum(-1) - 1  # github.com/OpenRLHF/OpenRLHF/issues/217
        position_ids.masked_fill_(attention_mask == 0, 1)
        base = getattr(self.model, self.model.base_model_prefix)
        outputs = base(input_ids, attention_mask=attention_mask, position_ids=position_ids)
        values = self.model.score(outputs["last_hidden_state"]).squeeze(-1)
        return values.gather(dim=1, index=eos_indices).squeeze(1)

    def get_reward(self, queries):
        import torch

        batch_size = len(queries) if self.batch_size is None else self.batch_size
        scores = []
        with torch.no_grad():
            for i in range(0, len(queries), batch_size):
                inputs = self.tokenize_fn(queries[i : min(len(queries), i + batch_size)], self.model.device)
                r = self.forward(inputs["input_ids"], inputs["attention_mask"])
                scores.extend(r.float().tolist())
                self.stats["submitted"] += int(inputs["attention_mask"].sum())
                self.stats["computed"] += inputs["input_ids"].numel()
                self.stats["calls"] += 1
        return scores

    def tokenize_fn(self, texts, device):
        batch = self.tokenizer(texts, return_tensors="pt", add_special_tokens=False, max_length=self.max_length,
                               padding=True, truncation=True)
        return {k: v.to(device) for k, v in batch.items()}


def run_openrlhf(model_dir: str, rollouts: list[dict], dtype: str, device: str, whole_rollout: bool) -> dict:
    model, tok = load_hf(model_dir, dtype, device)
    proxy = OpenRLHFRewardProxy(model, tok)
    start = time.perf_counter()
    queries = [openrlhf_query(tok, r["context"], x)[0] for r in rollouts for x in r["responses"]]
    build_s = time.perf_counter() - start  # the client's work; not counted (in the peer's favour)
    proxy.get_reward(queries[:8])  # warm-up
    proxy.stats.update(submitted=0, computed=0, calls=0)
    start = time.perf_counter()
    if whole_rollout:
        rewards = proxy.get_reward(queries)
    else:  # one query per request; serve_rm's async handler runs them one after another
        rewards = [r for q in queries for r in proxy.get_reward([q])]
    return {"seconds": time.perf_counter() - start, "rewards": rewards, "client_build_seconds": build_s,
            **proxy.stats}


def run_rewardlab(model_dir: str, rollouts: list[dict], dtype: str, device: str, batch_size: int,
                  max_batch_tokens: int) -> dict:
    from rewardlab.scoring import RewardScorer

    scorer = RewardScorer.from_pretrained(model_dir, device=device, dtype=dtype, batch_size=batch_size,
                                          max_tokens_per_batch=max_batch_tokens)
    convs = [[*r["context"], {"role": "assistant", "content": x}] for r in rollouts for x in r["responses"]]
    scorer.score(convs[:8])  # warm-up
    scorer.tokens_submitted = scorer.tokens_computed = 0
    start = time.perf_counter()
    rewards = scorer.score(convs)
    return {"seconds": time.perf_counter() - start, "rewards": rewards, "submitted": scorer.tokens_submitted,
            "computed": scorer.tokens_computed, "calls": len(scorer.plan_rows(scorer.encode(convs)))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def openrlhf_client(url: str, queries: list[str], prompts: list[str]) -> list[float]:
    """OpenRLHF 0.11 `_fetch_rewards_via_http` per rollout (one query each), every rollout in flight at once: its
    aiohttp code (a session per request, 180 s timeout, 5 tries); with httpx where aiohttp is not installed (one
    shared client then: an httpx client per request costs ~10 ms of the same CPU the server runs on)."""
    try:
        import aiohttp
    except ImportError:
        aiohttp = None

    async def post_request(data, try_max_times=5, shared=None):
        for _ in range(try_max_times):
            try:
                if aiohttp is not None:
                    timeout = aiohttp.ClientTimeout(total=180)
                    async with aiohttp.ClientSession(timeout=timeout) as session:
                        async with session.post(f"{url}/get_reward", json=data) as response:
                            response.raise_for_status()
                            return await response.json()
                response = await shared.post(f"{url}/get_reward", json=data)
                response.raise_for_status()
                return response.json()
            except Exception as e:  # noqa: BLE001 - upstream logs every error and retries
                print(f"Request error, please check: {e}", file=sys.stderr)
            await asyncio.sleep(1)
        raise RuntimeError(f"Request error for {try_max_times} times")

    bodies = [{"query": [q], "prompts": [p], "labels": [None]} for q, p in zip(queries, prompts)]
    if aiohttp is not None:
        infos = await asyncio.gather(*(post_request(b) for b in bodies))
    else:
        import httpx

        limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
        async with httpx.AsyncClient(timeout=180, limits=limits) as shared:
            infos = await asyncio.gather(*(post_request(b, shared=shared) for b in bodies))
    out = []
    for info in infos:  # rewards_info.get("scores"), else "rewards"
        value = info.get("scores")
        out += value if value is not None else info.get("rewards")
    return out


def metric_value(text: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def run_rewardlab_serve(model_dir: str, rollouts: list[dict], dtype: str, device: str, batch_size: int,
                        max_batch_tokens: int) -> dict:
    import httpx
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    built = [openrlhf_query(tok, r["context"], x) for r in rollouts for x in r["responses"]]
    queries, prompts = [q for q, _ in built], [p for _, p in built]
    port = free_port()
    cmd = [sys.executable, "-m", "rewardlab.cli", "serve", model_dir, "--port", str(port), "--device", device,
           "--dtype", dtype, "--log-level", "warning", "--max_batch_size", str(batch_size),
           "--max_batch_tokens", str(max_batch_tokens), "--max_queue", str(max(8192, 2 * len(queries))),
           "--max_wait_ms", "5"]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"rewardlab serve exited with {proc.returncode}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("rewardlab serve did not start within 300 s")
            time.sleep(0.2)
        asyncio.run(openrlhf_client(url, queries[:8], prompts[:8]))  # warm-up
        before = httpx.get(f"{url}/metrics").text
        start = time.perf_counter()
        rewards = asyncio.run(openrlhf_client(url, queries, prompts))
        seconds = time.perf_counter() - start
        after = httpx.get(f"{url}/metrics").text
        with open(f"/proc/{proc.pid}/status") as f:
            hwm = next((int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM")), float("nan"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    def delta(name):
        return int(metric_value(after, name) - metric_value(before, name))

    return {"seconds": seconds, "rewards": rewards, "submitted": delta("rewardlab_tokens_submitted_total"),
            "computed": delta("rewardlab_tokens_computed_total"), "calls": delta("rewardlab_batch_size_count"),
            "server_peak_rss_mib": hwm}


def method_main(args: argparse.Namespace) -> None:
    """One method in this process; writes its result JSON to --result."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    rollouts = json.loads(Path(args.rollouts).read_text())
    m, d, dev = args.run_method, args.run_dtype, args.device
    if m == "trl":
        out = run_trl(args.model_dir, rollouts, d, dev)
    elif m in ("openrlhf", "openrlhf-rollout"):
        out = run_openrlhf(args.model_dir, rollouts, d, dev, whole_rollout=m == "openrlhf-rollout")
    elif m == "rewardlab":
        out = run_rewardlab(args.model_dir, rollouts, d, dev, args.batch_size, args.max_batch_tokens)
    elif m == "rewardlab-serve":
        out = run_rewardlab_serve(args.model_dir, rollouts, d, dev, args.batch_size, args.max_batch_tokens)
    else:
        raise SystemExit(f"unknown method {m}")
    out["peak_memory_mib"] = out.pop("server_peak_rss_mib", None) or peak_memory_mib(dev)
    Path(args.result).write_text(json.dumps(out))


# ------------------------------------------------------------------------------------------------ report
def best_changes(a: list[float], b: list[float], group: int) -> float:
    """Fraction of groups whose best response (argmax) differs between reward lists `a` and `b`."""
    groups = range(0, len(a), group)
    changed = sum(max(range(g, g + group), key=a.__getitem__) != max(range(g, g + group), key=b.__getitem__)
                  for g in groups)
    return changed / len(groups)


def environment(device: str) -> dict:
    import torch
    import transformers

    env = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
           "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg()[0]}
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def write_report(out: Path, result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "rollout_scoring.json").write_text(json.dumps(result, indent=1))
    n = result["rollouts"]
    lines = [f"# Rollout scoring: {result['prompts']} prompts x {result['responses']} responses ({n} rollouts)", "",
             f"`{result['command']}`", "", f"model {result['model']}, device {result['device']}, "
             f"environment {json.dumps(result['environment'])}", "",
             "| method | dtype | rollouts/s | x fastest peer | tokens submitted | tokens computed | forward calls "
             "| peak memory MiB | max reward diff vs rewardlab (same dtype) |", "|---|---|---|---|---|---|---|---|---|"]
    for row in result["runs"]:
        lines.append(f"| {row['method']} | {row['dtype']} | {row['rollouts_per_s']:.2f} | "
                     f"{row.get('x_fastest_peer', float('nan')):.2f} | {row['submitted']} | {row['computed']} | "
                     f"{row['calls']} | {row['peak_memory_mib']:.0f} | {row.get('max_diff_vs_rewardlab', float('nan')):.2e} |")
    lines += ["", "Largest reward difference between every two methods (same dtype):", ""]
    for dtype, table in result["max_diff"].items():
        for pair, value in table.items():
            lines.append(f"- {dtype}: {pair}: {value:.3e}")
    if result["bf16_vs_fp32"]:
        lines += ["", "bfloat16 vs float32 (same method):", ""]
        for method, v in result["bf16_vs_fp32"].items():
            lines.append(f"- {method}: speed-up x{v['speedup']:.2f}, max reward diff {v['max_diff']:.3e}, "
                         f"best response of a group changed in {100 * v['best_changed']:.1f}% of groups")
    lines += ["", result["notes"]]
    (out / "rollout_scoring.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="embedded name, folder, or 'tiny'")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--responses", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=1024, help="longest rollout kept (none is truncated)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--batch-size", type=int, default=512, help="rewardlab: sequences per forward pass")
    parser.add_argument("--max-batch-tokens", type=int, default=32768,
                        help="rewardlab: tokens computed per forward pass (shared prefixes once)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--notes", default="")
    # internal: run one method in a subprocess
    parser.add_argument("--run-method", help=argparse.SUPPRESS)
    parser.add_argument("--run-dtype", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--rollouts", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_method:
        method_main(args)
        return

    import torch

    from rewardlab.modeling.loading import load_reward_model

    sys.path.insert(0, str(ROOT / "src"))
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)  # the fresh score head of a causal LM: every method gets the same one
        source = args.model
        if args.model == "tiny":
            from rewardlab.modeling.tiny import build_tiny_model_dir

            source = str(build_tiny_model_dir(Path(tmp) / "src"))
        model, tokenizer = load_reward_model(source, dtype="float32")
        model_dir = str(Path(tmp) / "model")
        model.save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
        del model
        rollouts = build_rollouts(args.prompts, args.responses, tokenizer, args.max_tokens)
        context, response = rollouts[0]["context"], rollouts[0]["responses"][0]
        rendered = tokenizer.apply_chat_template([*context, {"role": "assistant", "content": response}],
                                                 tokenize=False)
        query_is_conversation = (tokenizer(openrlhf_query(tokenizer, context, response)[0],
                                           add_special_tokens=False)["input_ids"]
                                 == tokenizer(rendered, add_special_tokens=False)["input_ids"])
        rollouts_file = Path(tmp) / "rollouts.json"
        rollouts_file.write_text(json.dumps(rollouts))
        n = args.prompts * args.responses
        runs = []
        for dtype in args.dtypes:
            for method in args.methods:
                result_file = Path(tmp) / f"{method}-{dtype}.json"
                cmd = [sys.executable, __file__, "--run-method", method, "--run-dtype", dtype, "--model-dir",
                       model_dir, "--rollouts", str(rollouts_file), "--result", str(result_file), "--device",
                       args.device, "--batch-size", str(args.batch_size), "--max-batch-tokens",
                       str(args.max_batch_tokens), "--threads", str(args.threads)]
                print(f"[rollout_scoring] {method} {dtype} ...", file=sys.stderr, flush=True)
                subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
                row = {"method": method, "dtype": dtype, **json.loads(result_file.read_text())}
                row["rollouts_per_s"] = n / row["seconds"]
                print(f"[rollout_scoring] {method} {dtype}: {row['rollouts_per_s']:.2f} rollouts/s, "
                      f"{row['submitted']} tokens submitted, {row['computed']} computed", file=sys.stderr)
                runs.append(row)
    by = {(r["method"], r["dtype"]): r for r in runs}
    max_diff: dict[str, dict[str, float]] = {}
    for dtype in args.dtypes:
        table = {}
        present = [m for m in args.methods if (m, dtype) in by]
        for i, a in enumerate(present):
            for b in present[i + 1 :]:
                ra, rb = by[(a, dtype)]["rewards"], by[(b, dtype)]["rewards"]
                table[f"{a} vs {b}"] = max(abs(x - y) for x, y in zip(ra, rb))
        max_diff[dtype] = table
    for r in runs:
        peers = [by[(m, r["dtype"])]["rollouts_per_s"] for m in ("trl", "openrlhf", "openrlhf-rollout")
                 if (m, r["dtype"]) in by]
        if peers:
            r["x_fastest_peer"] = r["rollouts_per_s"] / max(peers)
        ref = by.get(("rewardlab", r["dtype"]))
        if ref is not None:
            r["max_diff_vs_rewardlab"] = max(abs(x - y) for x, y in zip(r["rewards"], ref["rewards"]))
    bf16 = {}
    if "float32" in args.dtypes and "bfloat16" in args.dtypes:
        for m in args.methods:
            if (m, "float32") in by and (m, "bfloat16") in by:
                a, b = by[(m, "float32")], by[(m, "bfloat16")]
                bf16[m] = {"speedup": a["seconds"] / b["seconds"],
                           "max_diff": max(abs(x - y) for x, y in zip(a["rewards"], b["rewards"])),
                           "best_changed": best_changes(a["rewards"], b["rewards"], args.responses)}
    if query_is_conversation:
        notes = "Every method scores the same token sequences (OpenRLHF's queries tokenize as the rendered chat)."
    else:
        notes = ("openrlhf/openrlhf-rollout score OpenRLHF's client queries, which stop at the end-of-turn token: "
                 "their rewards are read one token earlier than the other methods' (see the script's docstring); "
                 "the other methods score identical token sequences.")
    notes = " ".join(x for x in (notes, args.notes) if x)
    result = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "model": args.model,
              "device": args.device, "prompts": args.prompts, "responses": args.responses, "rollouts": n,
              "environment": environment(args.device), "runs": runs, "max_diff": max_diff, "bf16_vs_fp32": bf16,
              "notes": notes}
    write_report(Path(args.out), result)
    for row in runs:
        row.pop("rewards")
    print(json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=1))


if __name__ == "__main__":
    main()
