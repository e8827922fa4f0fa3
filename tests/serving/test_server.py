"""The server through a real HTTP client against uvicorn on a loopback port."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest

from rewardlab.data.templates import render_chat
from rewardlab.serving.app import create_app, encode_text
from rewardlab.serving.background import serve_in_thread
from rewardlab.serving.config import ServeConfig
from tests.helpers import InstrumentedScorer

CONVS = [
    [{"role": "user", "content": "What is tea?"}, {"role": "assistant", "content": "A drink made from leaves."}],
    [{"role": "user", "content": "What is tea?"}, {"role": "assistant", "content": "NO"}],
    [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello! How can I help?"}],
]


@pytest.fixture(scope="module")
def server(tiny_scorer):
    config = ServeConfig(api_key="s3cret", max_body_bytes=4000, max_items_per_request=8, max_queue=64)
    with serve_in_thread(create_app(tiny_scorer, config)) as url:
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer s3cret"}, timeout=30) as client:
            yield client


def test_score_endpoint_returns_the_scorers_rewards(server, tiny_scorer):
    r = server.post("/v1/rewards", json={"conversations": CONVS})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = tiny_scorer.score(CONVS)
    assert len(body["rewards"]) == 3
    assert max(abs(a - b) for a, b in zip(body["rewards"], expected)) < 1e-5
    assert body["truncated"] == 0
    assert len({round(x, 6) for x in body["rewards"]}) == 3  # a constant output would pass the check above


def test_get_reward_scores_formatted_text_without_a_second_bos(server, tiny_scorer):
    # render_chat writes "<s>" and the byte tokenizer adds "<s>" too: the server must keep exactly one
    texts = [render_chat(tiny_scorer.tokenizer, c) for c in CONVS]
    assert all(t.startswith("<s>") for t in texts)
    ids, cut = encode_text(tiny_scorer.encoder, texts[0])
    assert ids == tiny_scorer.encoder.encode(CONVS[0])[0] and ids[:2] != [1, 1] and not cut
    r = server.post("/get_reward", json={"query": texts, "prompts": ["ignored"]})
    assert r.status_code == 200, r.text
    expected = tiny_scorer.score(CONVS)
    assert max(abs(a - b) for a, b in zip(r.json()["rewards"], expected)) < 1e-5
    doubled = tiny_scorer.score_ids([[1, *ids]])[0]  # what a naive tokenize(text) would have scored
    # above the 1e-5 that batching alone may move a reward (the tolerance above): the extra BOS moved it
    # (~1e-4 on the random tiny model, whose weights change with its builder)
    assert abs(doubled - expected[0]) > 2e-5


def test_long_queries_are_truncated_from_the_left(tiny_model_dir):
    from rewardlab.scoring import RewardScorer

    scorer = RewardScorer.from_pretrained(str(tiny_model_dir), device="cpu", dtype="float32", max_length=24)
    tail = "[INST] q [/INST] the same final answer</s>"  # 42 bytes > 24 tokens: only the tail counts
    with serve_in_thread(create_app(scorer)) as url:
        r = httpx.post(f"{url}/get_reward", json={"query": ["AAAA" + tail, "zzzzzzzzzzzz" + tail]}, timeout=30)
    assert r.status_code == 200, r.text
    a, b = r.json()["rewards"]
    assert a == pytest.approx(b, abs=1e-6)
    ids, cut = encode_text(scorer.encoder, "AAAA" + tail)
    assert cut and len(ids) == 24 and ids == scorer.tokenizer(tail, add_special_tokens=False)["input_ids"][-24:]


@pytest.mark.parametrize("body, reason", [
    ({"conversations": [[{"role": "user", "content": "hi"}]]}, "ends with a 'user' turn"),
    ({"conversations": [[{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}]]}, "role"),
    ({"conversations": []}, "at least 1"),
    ({"convs": []}, "conversations"),
])
def test_malformed_score_requests_get_422_with_the_reason(server, body, reason):
    r = server.post("/v1/rewards", json=body)
    assert r.status_code == 422
    assert reason in json.dumps(r.json()["detail"])


def test_malformed_json_and_empty_query_get_422(server):
    r = server.post("/get_reward", content=b'{"query": ["a",', headers={"content-type": "application/json"})
    assert r.status_code == 422 and "json" in r.text.lower()
    r = server.post("/get_reward", json={"query": ["ok", ""]})
    assert r.status_code == 422 and "at least 1 character" in r.text


def test_oversized_bodies_and_requests_get_413(server):
    r = server.post("/get_reward", json={"query": ["x" * 5000]})
    assert r.status_code == 413 and "max_body_bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(10):
            yield b"x" * 1000

    r = server.post("/get_reward", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = server.post("/get_reward", json={"query": ["a"] * 9})
    assert r.status_code == 413 and "max_items_per_request" in r.json()["detail"]


def test_api_key(server):
    url = str(server.base_url)
    assert httpx.post(f"{url}/get_reward", json={"query": ["a"]}).status_code == 401
    assert httpx.post(f"{url}/get_reward", json={"query": ["a"]},
                      headers={"Authorization": "Bearer s3cre"}).status_code == 401
    assert httpx.get(f"{url}/metrics").status_code == 401
    assert httpx.post(f"{url}/get_reward", json={"query": ["a"]},
                      headers={"X-API-Key": "s3cret"}).status_code == 200
    health = httpx.get(f"{url}/health")  # open for load-balancer probes
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_metrics_count_requests_errors_and_batches(server):
    before = server.get("/metrics").text
    server.post("/get_reward", json={"query": ["a", "b", "c"]})
    server.post("/get_reward", json={"query": []})
    text = server.get("/metrics").text

    def value(page, prefix):
        return sum(float(line.split()[-1]) for line in page.splitlines() if line.startswith(prefix))

    assert value(text, 'rewardlab_requests_total{endpoint="/get_reward",code="200"}') == \
        value(before, 'rewardlab_requests_total{endpoint="/get_reward",code="200"}') + 1
    assert value(text, 'rewardlab_errors_total{code="422"}') == value(before, 'rewardlab_errors_total{code="422"}') + 1
    assert value(text, "rewardlab_batch_size_sum") == value(before, "rewardlab_batch_size_sum") + 3
    assert "rewardlab_queue_depth 0" in text
    assert 'rewardlab_request_latency_seconds_count{endpoint="/get_reward"}' in text


async def _post_many(url, n, delay_between=0.0):
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        async def one(i):
            await asyncio.sleep(delay_between * i)
            return await client.post("/v1/rewards", json={"conversations": [CONVS[i % 3]]})

        return await asyncio.gather(*(one(i) for i in range(n)))


def test_concurrent_requests_share_forward_passes_off_the_event_loop(tiny_scorer):
    slow = InstrumentedScorer(tiny_scorer, delay_s=1.5)
    with serve_in_thread(create_app(slow, ServeConfig(max_wait_ms=20))) as url:
        async def scenario():
            burst = asyncio.create_task(_post_many(url, 16))
            await asyncio.sleep(0.3)  # the model is busy with the first batch now
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                t0 = time.perf_counter()
                health = await client.get("/health")
                health_s = time.perf_counter() - t0
            return await burst, health, health_s

        responses, health, health_s = asyncio.run(scenario())
    assert [r.status_code for r in responses] == [200] * 16
    expected = tiny_scorer.score(CONVS)
    for i, r in enumerate(responses):
        assert r.json()["rewards"][0] == pytest.approx(expected[i % 3], abs=1e-5)
    assert sum(slow.calls) == 16 and len(slow.calls) <= 4  # 16 requests, a handful of forward calls
    assert slow.max_active == 1 and all(t.startswith("rewardlab-model") for t in slow.threads)
    # answered well inside a 1.5 s model call: the event loop is not blocked (margin for a loaded CI machine)
    assert health.status_code == 200 and health_s < 1.0


def test_full_queue_answers_503_and_recovers(tiny_scorer):
    gate = threading.Event()  # the model call blocks until the test opens it: no timing race
    slow = InstrumentedScorer(tiny_scorer, gate=gate)
    # max_batch_size 4: the 4-item request is submitted whole (a request is submitted a forward pass at a time)
    config = ServeConfig(max_queue=4, max_items_per_request=4, max_batch_size=4, max_wait_ms=0)
    with serve_in_thread(create_app(slow, config)) as url, httpx.Client(base_url=url, timeout=30) as client:
        async def scenario():
            async with httpx.AsyncClient(base_url=url, timeout=30) as ac:
                first = asyncio.create_task(ac.post("/get_reward", json={"query": ["a"]}))  # occupies the model
                for _ in range(500):  # until the model call has started (and blocks on the gate)
                    if slow.active == 1:
                        break
                    await asyncio.sleep(0.01)
                second = asyncio.create_task(ac.post("/get_reward", json={"query": ["a", "b", "c", "d"]}))
                for _ in range(500):  # until the 4 items wait in the queue
                    if (await ac.get("/health")).json()["queue_depth"] == 4:
                        break
                    await asyncio.sleep(0.01)
                third = await ac.post("/get_reward", json={"query": ["e"]})
                gate.set()
                return await first, await second, third

        try:
            first, second, third = asyncio.run(scenario())
        finally:
            gate.set()
        assert third.status_code == 503 and third.headers["retry-after"] == "1" and "busy" in third.text
        assert first.status_code == 200 and second.status_code == 200 and len(second.json()["rewards"]) == 4
        assert client.post("/get_reward", json={"query": ["e"]}).status_code == 200  # drained: admitted again
        assert 'rewardlab_errors_total{code="503"} 1' in client.get("/metrics").text


def test_a_failing_model_call_fails_its_requests_not_the_server(tiny_scorer):
    failing = InstrumentedScorer(tiny_scorer, fail_times=1)
    with serve_in_thread(create_app(failing)) as url, httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/get_reward", json={"query": ["a"]})
        assert r.status_code == 500 and "simulated out of memory" in r.json()["detail"]
        assert client.post("/get_reward", json={"query": ["a"]}).status_code == 200
