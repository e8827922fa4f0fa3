"""Rollout scoring through the server (issue 21.2): the batch budget counts the tokens computed after prefix
sharing, requests for one prompt that arrive close together share a pass, /metrics reports tokens submitted vs
computed."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from rewardlab.data.templates import render_chat
from rewardlab.modeling.prefix_tree import tree_tokens
from rewardlab.serving.app import create_app, encode_text
from rewardlab.serving.background import serve_in_thread
from rewardlab.serving.batching import MicroBatcher
from rewardlab.serving.config import ServeConfig
from tests.helpers import InstrumentedScorer

PROMPT = [7] * 100  # a long shared prompt
A = [PROMPT + [20 + r] * 5 for r in range(8)]  # its 8 responses (5 tokens each), each sent as a full sequence
B = [[9] * 150]  # an unrelated request


def run(jobs, tree, **kw):
    calls, seen = [], []

    def fake_model(items):  # reward = sum of the ids: any mix-up between requests shows
        calls.append([sum(x) for x in items])
        return [float(sum(x)) for x in items]

    async def main():
        batcher = MicroBatcher(fake_model, max_queue=1000, max_wait_ms=20, observer=lambda *a: seen.append(a),
                               tree_ids=(lambda x: x) if tree else None, **kw)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(j) for j in jobs))
        finally:
            await batcher.stop()

    return asyncio.run(main()), calls, seen


def test_budget_counts_tokens_computed_after_sharing():
    jobs = [[a] for a in A]  # 8 requests of one response each
    results, calls, seen = run(jobs, tree=True, max_batch_tokens=200, max_batch_size=64)
    assert results == [[float(sum(a))] for a in A]
    assert len(calls) == 1  # the tree: 100 + 8 x 5 = 140 <= 200 tokens
    size, computed, _, submitted = seen[0]
    assert (size, computed, submitted) == (8, 140, 8 * 105)
    _, padded_calls, padded_seen = run(jobs, tree=False, max_batch_tokens=200, max_batch_size=64)
    assert len(padded_calls) == 8 and padded_seen[0][1] == 105  # padded: 2 x 105 > 200, one per pass


def test_requests_for_one_prompt_share_the_pass_past_a_request_that_does_not_fit():
    jobs = [[A[0]], B, [A[1]], [A[2], A[3]]]
    results, calls, _ = run(jobs, tree=True, max_batch_tokens=200, max_batch_size=64)
    assert results == [[float(sum(A[0]))], [1350.0], [float(sum(A[1]))], [float(sum(A[2])), float(sum(A[3]))]]
    # B (150 more tokens) waits one pass; A's later requests cost 5 tokens each and join the first
    assert calls == [[sum(A[0]), sum(A[1]), sum(A[2]), sum(A[3])], [1350]]
    # the count budget still holds, and B is first in the next pass
    _, calls, _ = run(jobs, tree=True, max_batch_tokens=200, max_batch_size=2)
    assert [len(c) for c in calls] == [2, 1, 2] and calls[1] == [1350]


class TreeInstrumented(InstrumentedScorer):
    """The instrumented wrapper, seen by the server as the prefix-tree scorer it wraps."""

    model = property(lambda self: self.inner.model)
    tokens_computed = property(lambda self: self.inner.tokens_computed)


def metric(page: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in page.splitlines() if line.startswith(name + " "))


def test_server_shares_one_prompt_across_requests_and_reports_tokens(tiny_scorer):
    system = {"role": "system", "content": "You are a careful assistant who answers every question briefly."}
    question = {"role": "user", "content": "Which rivers flow through Vienna, and which is the longest?"}
    texts = [render_chat(tiny_scorer.tokenizer, [system, question, {"role": "assistant", "content": f"It is {r}."}])
             for r in ("the Danube", "the Wien", "both", "neither", "no idea", "the Danube, 2,850 km")]
    other = render_chat(tiny_scorer.tokenizer, [{"role": "user", "content": "hello " * 40},
                                                {"role": "assistant", "content": "hi"}])
    encoded = [encode_text(tiny_scorer.encoder, t)[0] for t in texts]
    alone = [tiny_scorer.score_ids([e])[0] for e in encoded]
    gate = threading.Event()
    wrapped = TreeInstrumented(tiny_scorer, gate=gate)
    # room for the prompt's 6 responses as a tree (~170 tokens), far less than them padded (~6 x 130)
    budget = tree_tokens(encoded) + 10
    assert budget < 2 * max(map(len, encoded))
    config = ServeConfig(max_batch_tokens=budget, max_batch_size=64, max_wait_ms=0)
    with serve_in_thread(create_app(wrapped, config)) as url, httpx.Client(base_url=url, timeout=60) as client:
        before = client.get("/metrics").text

        async def scenario():
            async with httpx.AsyncClient(base_url=url, timeout=60) as ac:
                first = asyncio.create_task(ac.post("/get_reward", json={"query": ["warm up"]}))  # holds the model
                for _ in range(500):
                    if wrapped.active == 1:
                        break
                    await asyncio.sleep(0.01)
                # the responses arrive as separate requests, an unrelated one among them
                bodies = [[texts[0]], [other], [texts[1], texts[2]], [texts[3]], [texts[4], texts[5]]]
                posts = []
                for body, queued in zip(bodies, (1, 2, 4, 5, 7)):  # in this order (HTTP alone does not keep it)
                    posts.append(asyncio.create_task(ac.post("/get_reward", json={"query": body})))
                    for _ in range(500):
                        if (await ac.get("/health")).json()["queue_depth"] == queued:
                            break
                        await asyncio.sleep(0.01)
                gate.set()
                return await first, [await p for p in posts]

        try:
            _, replies = asyncio.run(scenario())
        finally:
            gate.set()
        after = client.get("/metrics").text
    assert [r.status_code for r in replies] == [200] * 5
    got = [x for i, r in enumerate(replies) if i != 1 for x in r.json()["rewards"]]
    assert got == pytest.approx(alone, abs=1e-5)  # 1e-5: as test_server's batching tolerance
    assert wrapped.calls == [1, 6, 1]  # warm-up; the prompt's 6 responses together; the unrelated one after
    submitted = metric(after, "rewardlab_tokens_submitted_total") - metric(before, "rewardlab_tokens_submitted_total")
    computed = metric(after, "rewardlab_tokens_computed_total") - metric(before, "rewardlab_tokens_computed_total")
    other_ids = encode_text(tiny_scorer.encoder, other)[0]
    warm = encode_text(tiny_scorer.encoder, "warm up")[0]
    assert submitted == sum(map(len, encoded)) + len(other_ids) + len(warm)
    assert computed == tree_tokens(encoded) + len(other_ids) + len(warm) < submitted / 2
