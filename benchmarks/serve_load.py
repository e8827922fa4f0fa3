"""Load test on loopback: the micro-batching server vs a plain one-request-one-forward server (OpenRLHF style).

    .venv/bin/python benchmarks/serve_load.py [--model smollm2-135m-instruct|tiny] [--concurrency 1 8 64]
        [--duration-s 15] [--max-requests 1500] [--big-only | --no-big] [--big-concurrency 8]

Both servers load the same weights (the model is loaded once, its fresh score head included, and saved to a
temporary folder) and run in their own subprocess; the load generator (httpx, asyncio) keeps `concurrency`
requests in flight, each ``POST /get_reward {"query": [one chat-formatted text]}`` (the OpenRLHF protocol both
speak), for at most `duration_s` seconds and `max_requests` requests per level. Reported per level: requests/s,
p50/p99 latency, errors (non-200 or transport errors), and for the batching server the mean model-call size.

The plain server is written here on purpose, as peers ship it: FastAPI, the forward pass called directly inside
the ``async`` handler (blocking the event loop), no queue bound. Before running, the script waits (up to
--wait-max-s) for the 1-minute load average to drop under --max-load, and records the value it ran at.
Results go to benchmarks/results/serve_load.{json,md}.

Big request in flight (issue 18.6: one 8 MB body held every other request ~18 s in the tokenizer thread): at
concurrency --big-concurrency, small one-text requests run for --duration-s while another client keeps one big
request in flight, and their p50/p99 are reported beside the big request's answers, for two bodies:
``texts`` = one request of --big-texts texts of --big-text-chars characters each (8 MB, every text under the
server's max_text_chars, each left-truncated to --max-length tokens), ``one-text`` = one --big-single-text-mb MB
text (over max_text_chars: the batching server refuses it with 413 before tokenizing). ``--big-only`` runs only this
case; ``--no-big`` skips it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fastapi import FastAPI, Request  # module level: FastAPI resolves the handler's annotations here

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = [
    "What is the capital of France?", "Explain photosynthesis to a ten-year-old.", "Write a haiku about rain.",
    "How do I reverse a list in Python?", "Give me three tips for better sleep.", "What causes the seasons?",
    "Summarise the plot of Hamlet in two sentences.", "Is it safe to eat raw cookie dough?",
]
RESPONSES = [
    "Paris.", "Plants use sunlight, water and carbon dioxide to make sugar and release oxygen.",
    "Soft rain on the roof / the garden drinks in silence / puddles hold the sky.",
    "Use reversed(xs) for an iterator, xs[::-1] for a copy, or xs.reverse() to reverse in place.",
    "Keep a regular schedule, avoid screens before bed, and keep the bedroom cool and dark.",
    "The tilt of the Earth's axis changes how directly sunlight hits each hemisphere over the year.",
    "Prince Hamlet seeks revenge on his uncle for murdering his father. Nearly everyone dies.",
    "Not really: raw flour and raw eggs can carry bacteria, so prefer doughs made to be eaten raw.",
]


# ------------------------------------------------------------------------------------------------- servers
def create_plain_app(scorer):
    """The peer design: one forward per request, run inside the async handler, no admission control."""
    from rewardlab.serving.app import encode_text

    app = FastAPI()

    @app.post("/get_reward")
    async def get_reward(request: Request):
        body = await request.json()
        ids = [encode_text(scorer.encoder, q)[0] for q in body["query"]]
        return {"rewards": scorer.score_ids(ids)}  # blocks the event loop, as OpenRLHF's server does

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    return app


def run_server(kind: str, model_dir: str, port: int, max_batch_size: int, max_batch_tokens: int,
               max_length: int) -> None:
    import uvicorn

    from rewardlab.scoring import RewardScorer
    from rewardlab.serving.app import create_app
    from rewardlab.serving.config import ServeConfig

    scorer = RewardScorer.from_pretrained(model_dir, device="cpu", dtype="float32", batch_size=max_batch_size,
                                          max_tokens_per_batch=max_batch_tokens, max_length=max_length)
    if kind == "plain":
        app = create_plain_app(scorer)
    else:
        app = create_app(scorer, ServeConfig(port=port, max_batch_size=max_batch_size,
                                             max_batch_tokens=max_batch_tokens, model_name=model_dir))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(kind: str, model_dir: str, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--model-dir", model_dir, "--port", str(port),
                             "--max-batch-size", str(args.max_batch_size),
                             "--max-batch-tokens", str(args.max_batch_tokens), "--max-length", str(args.max_length)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start within 120 s")


# ------------------------------------------------------------------------------------------------- load
def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


async def load_level(url: str, texts: list[str], concurrency: int, duration_s: float, max_requests: int,
                     timeout_s: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    issued = 0
    deadline = time.monotonic() + duration_s
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits) as client:
        async def worker() -> None:
            nonlocal issued
            while time.monotonic() < deadline and issued < max_requests:
                text = texts[issued % len(texts)]
                issued += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post("/get_reward", json={"query": [text]})
                    ok = r.status_code == 200 and len(r.json()["rewards"]) == 1
                    key = "ok" if ok else str(r.status_code)
                except httpx.HTTPError as e:
                    key = type(e).__name__
                if key == "ok":
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors[key] = errors.get(key, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {"concurrency": concurrency, "requests": len(latencies) + sum(errors.values()), "ok": len(latencies),
            "errors": sum(errors.values()), "errors_by_kind": errors, "seconds": round(elapsed, 2),
            "requests_per_s": round(len(latencies) / elapsed, 2),
            "p50_ms": round(1000 * percentile(latencies, 0.5), 1), "p99_ms": round(1000 * percentile(latencies, 0.99), 1)}


def big_bodies(args: argparse.Namespace) -> dict[str, bytes]:
    """The big request bodies of the in-flight case (see the module docstring), as JSON bytes."""
    import json

    filler = "The quick brown fox jumps over the lazy dog. "
    texts = [(f"{i}: " + filler * (args.big_text_chars // len(filler) + 1))[: args.big_text_chars]
             for i in range(args.big_texts)]
    single = (filler * (args.big_single_text_mb * 1_000_000 // len(filler) + 1))[: args.big_single_text_mb * 1_000_000]
    return {"texts": json.dumps({"query": texts}).encode(), "one-text": json.dumps({"query": [single]}).encode()}


async def with_big_request(url: str, texts: list[str], concurrency: int, duration_s: float, timeout_s: float,
                           big_body: bytes) -> dict:
    """Small requests at `concurrency` for `duration_s` while one big request is kept in flight."""
    import httpx

    big_statuses: dict[str, int] = {}
    big_latencies: list[float] = []
    deadline = time.monotonic() + duration_s
    started = asyncio.Event()

    async def big_sender() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=max(timeout_s, 600.0)) as client:
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                started.set()
                try:
                    r = await client.post("/get_reward", content=big_body,
                                          headers={"content-type": "application/json"})
                    key = str(r.status_code)
                except httpx.HTTPError as e:
                    key = type(e).__name__
                big_statuses[key] = big_statuses.get(key, 0) + 1
                big_latencies.append(time.perf_counter() - t0)

    big = asyncio.create_task(big_sender())
    await started.wait()
    await asyncio.sleep(0.2)  # the big body is on its way: the small requests arrive behind it
    small = await load_level(url, texts, concurrency, max(0.1, deadline - time.monotonic()), 10**9, timeout_s)
    await big
    return {**small, "big_requests": sum(big_statuses.values()), "big_statuses": big_statuses,
            "big_mean_s": round(sum(big_latencies) / len(big_latencies), 2) if big_latencies else None,
            "big_body_mb": round(len(big_body) / 1e6, 2)}


def batch_stats(url: str) -> tuple[float, float]:
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=10).text
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("rewardlab_batch")}
    return values.get("rewardlab_batch_size_sum", 0.0), values.get("rewardlab_batch_size_count", 0.0)


# ------------------------------------------------------------------------------------------------- report
def wait_for_quiet_machine(max_load: float, wait_max_s: float) -> float:
    deadline = time.monotonic() + wait_max_s
    while True:
        load = os.getloadavg()[0]
        if load <= max_load or time.monotonic() > deadline:
            if load > max_load:
                print(f"[serve_load] load average still {load:.2f} after {wait_max_s:.0f} s; running anyway")
            return load
        print(f"[serve_load] 1-minute load average {load:.2f} > {max_load}; waiting")
        time.sleep(20)


def environment() -> dict:
    import importlib.metadata as md

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {p: md.version(p) for p in ("rewardlab", "torch", "transformers", "fastapi", "uvicorn", "httpx")}
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "versions": versions}


def write_report(out: Path, result: dict) -> None:
    from rewardlab.io_utils import atomic_write_json, atomic_write_text

    atomic_write_json(out.with_suffix(".json"), result)
    env = result["environment"]
    lines = [f"# Serving load: micro-batching server vs plain one-forward-per-request server ({result['model']})", "",
             f"Command: `{result['command']}`  ", f"Machine: {env['cpu']} ({env['cpu_count']} cores), "
             f"{env['platform']}, Python {env['python']}  ",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + "  ",
             f"1-minute load average at start: {result['load_average_at_start']:.2f} (other jobs share the CPUs)  ",
             f"Per level: at most {result['duration_s']} s and {result['max_requests']} requests, one text per "
             f"request, client timeout {result['timeout_s']} s; texts of {result['tokens_min']}-{result['tokens_max']} "
             "tokens.", "",
             "| server | concurrency | requests | errors | requests/s | p50 ms | p99 ms | mean model-call size |",
             "|---|---|---|---|---|---|---|---|"]
    for kind in ("batched", "plain"):
        for row in result["servers"][kind]:
            size = f"{row['mean_batch_size']:.1f}" if row.get("mean_batch_size") else "1 (by design)"
            lines.append(f"| {kind} | {row['concurrency']} | {row['requests']} | {row['errors']} | "
                         f"{row['requests_per_s']} | {row['p50_ms']} | {row['p99_ms']} | {size} |")
    if result.get("speedup"):
        lines += ["", "Throughput ratio batched / plain: " + ", ".join(
            f"concurrency {c}: {r:.2f}x" for c, r in result["speedup"].items()), ""]
    if result.get("big"):
        lines += ["", f"Small requests while a big request is in flight (concurrency {result['big_concurrency']}, "
                  f"server max_length {result['max_length']} tokens):", "",
                  "| server | big body | small requests | small errors | small p50 ms | small p99 ms | big requests "
                  "(status: count) | big mean s |", "|---|---|---|---|---|---|---|---|"]
        for kind in ("batched", "plain"):
            for name, row in result["big"].get(kind, {}).items():
                statuses = ", ".join(f"{k}: {v}" for k, v in row["big_statuses"].items())
                lines.append(f"| {kind} | {name} ({row['big_body_mb']} MB) | {row['requests']} | {row['errors']} | "
                             f"{row['p50_ms']} | {row['p99_ms']} | {statuses} | {row['big_mean_s']} |")
        lines.append("")
    if result.get("notes"):
        lines += [result["notes"], ""]
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="embedded name, folder, or 'tiny'")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--duration-s", type=float, default=15.0)
    parser.add_argument("--max-requests", type=int, default=1500)
    parser.add_argument("--timeout-s", type=float, default=60.0)
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--max-batch-tokens", type=int, default=16384)
    parser.add_argument("--max-length", type=int, default=512, help="servers' max_length (tokens; the load's "
                                                                     "texts are all shorter)")
    parser.add_argument("--big-concurrency", type=int, default=8)
    parser.add_argument("--big-texts", type=int, default=32)
    parser.add_argument("--big-text-chars", type=int, default=250_000)
    parser.add_argument("--big-single-text-mb", type=int, default=8)
    parser.add_argument("--big-only", action="store_true", help="run only the big-request-in-flight case")
    parser.add_argument("--no-big", action="store_true", help="skip the big-request-in-flight case")
    parser.add_argument("--max-load", type=float, default=2.5)
    parser.add_argument("--wait-max-s", type=float, default=600.0)
    parser.add_argument("--notes", default="")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "serve_load"))
    parser.add_argument("--serve", choices=["batched", "plain"], help=argparse.SUPPRESS)  # server subprocess
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_server(args.serve, args.model_dir, args.port, args.max_batch_size, args.max_batch_tokens, args.max_length)
        return
    if args.big_only and args.no_big:
        parser.error("--big-only and --no-big exclude each other")

    import torch

    from rewardlab.data.templates import render_chat
    from rewardlab.modeling.loading import load_reward_model

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)  # the fresh score head of a causal LM: both servers get the same one
        if args.model == "tiny":
            from rewardlab.modeling.tiny import build_tiny_model_dir

            source = str(build_tiny_model_dir(Path(tmp) / "src"))
        else:
            source = args.model
        model, tokenizer = load_reward_model(source, dtype="float32")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        del model
        texts = [render_chat(tokenizer, [{"role": "user", "content": p}, {"role": "assistant", "content": r}])
                 for p in PROMPTS for r in RESPONSES]  # 64 distinct texts
        lengths = [len(tokenizer(t)["input_ids"]) for t in texts]

        load = wait_for_quiet_machine(args.max_load, args.wait_max_s)
        result = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "model": args.model,
                  "load_average_at_start": load, "duration_s": args.duration_s, "max_requests": args.max_requests,
                  "timeout_s": args.timeout_s, "tokens_min": min(lengths), "tokens_max": max(lengths),
                  "environment": environment(), "servers": {}, "notes": args.notes, "max_length": args.max_length,
                  "big_concurrency": args.big_concurrency, "big": {}}
        bodies = {} if args.no_big else big_bodies(args)
        for kind in ("batched", "plain"):
            proc, url = start_server(kind, tmp, args)
            try:
                asyncio.run(load_level(url, texts, 4, 3.0, 50, args.timeout_s))  # warm-up, not recorded
                rows = []
                for c in ([] if args.big_only else args.concurrency):
                    before = batch_stats(url) if kind == "batched" else None
                    row = asyncio.run(load_level(url, texts, c, args.duration_s, args.max_requests, args.timeout_s))
                    if before is not None:
                        after = batch_stats(url)
                        calls = after[1] - before[1]
                        row["mean_batch_size"] = round((after[0] - before[0]) / calls, 2) if calls else None
                    row["load_average_after"] = round(os.getloadavg()[0], 2)
                    print(f"[serve_load] {kind} {row}")
                    rows.append(row)
                result["servers"][kind] = rows
                for name, body in bodies.items():
                    row = asyncio.run(with_big_request(url, texts, args.big_concurrency, args.duration_s,
                                                       args.timeout_s, body))
                    print(f"[serve_load] {kind} big {name} {row}")
                    result["big"].setdefault(kind, {})[name] = row
            finally:
                proc.terminate()
                try:  # the plain server cannot act on SIGTERM while its blocked loop works off a backlog
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=30)
    plain = {r["concurrency"]: r["requests_per_s"] for r in result["servers"]["plain"]}
    result["speedup"] = {r["concurrency"]: round(r["requests_per_s"] / plain[r["concurrency"]], 2)
                         for r in result["servers"]["batched"] if plain.get(r["concurrency"])}
    write_report(Path(args.out), result)
    print(Path(args.out).with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
