"""Work per request is capped before tokenizing, and a big request's tokenizing does not hold small ones (issue 18.6:
one 8 MB body held every other request ~18 s in the tokenizer thread)."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from rewardlab.data.templates import ConversationEncoder
from rewardlab.serving.app import TOKENIZE_SLICE_CHARS, create_app, tokenize_slices
from rewardlab.serving.background import serve_in_thread
from rewardlab.serving.config import ServeConfig

BIG = 60_000  # characters: each big text is one tokenizer turn (two do not fit TOKENIZE_SLICE_CHARS)


class SlowTokenizer:
    """The scorer's tokenizer, taking `big_s` seconds more on texts of BIG characters or more, counting calls."""

    def __init__(self, tokenizer, big_s: float):
        self._inner, self.big_s = tokenizer, big_s
        self.calls: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, text, *args, **kwargs):
        with self._lock:
            self.calls.append(len(text))
        if len(text) >= BIG:
            time.sleep(self.big_s)
        return self._inner(text, *args, **kwargs)

    def __len__(self):
        return len(self._inner)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class SlowTokenizingScorer:
    def __init__(self, scorer, big_s: float):
        self.tokenizer = SlowTokenizer(scorer.tokenizer, big_s)
        self.encoder = ConversationEncoder(self.tokenizer, max_length=64)
        self.score_ids = scorer.score_ids


@pytest.mark.parametrize("sizes, budget, slices", [
    ([], 10, []),
    ([3, 3, 3], 10, [(0, 3)]),
    ([6, 6, 6], 10, [(0, 1), (1, 2), (2, 3)]),
    ([25, 1, 1], 10, [(0, 1), (1, 3)]),  # an item over the budget is a turn of its own
    ([4, 6, 1], 10, [(0, 2), (2, 3)]),  # 4 + 6 = 10 fits exactly
])
def test_tokenize_slices(sizes, budget, slices):
    assert tokenize_slices(sizes, budget) == slices


def test_text_over_max_text_chars_is_413_naming_it_before_any_tokenizing(tiny_scorer):
    slow = SlowTokenizingScorer(tiny_scorer, big_s=0.0)
    config = ServeConfig(max_text_chars=1000)
    with serve_in_thread(create_app(slow, config)) as url, httpx.Client(base_url=url, timeout=30) as client:
        before = len(slow.tokenizer.calls)
        r = client.post("/get_reward", json={"query": ["[INST] ok [/INST] fine</s>", "x" * 1001]})
        assert r.status_code == 413 and "query[1]" in r.json()["detail"] and "max_text_chars" in r.json()["detail"]
        conversation = [{"role": "user", "content": "y" * 600}, {"role": "assistant", "content": "z" * 401}]
        r = client.post("/v1/rewards", json={"conversations": [conversation]})
        assert r.status_code == 413 and "conversations[0]" in r.json()["detail"]
        r = client.post("/classify", json={"model": "m", "input": ["ok", "w" * 2000]})
        assert r.status_code == 413 and "input[1]" in r.json()["detail"]
        assert len(slow.tokenizer.calls) == before  # refused before the tokenizer saw anything
        assert client.post("/get_reward", json={"query": ["x" * 1000]}).status_code == 200  # the limit is inclusive


def test_a_small_request_is_not_held_behind_a_big_ones_tokenizing(tiny_scorer):
    assert BIG <= TOKENIZE_SLICE_CHARS < 2 * BIG
    slow = SlowTokenizingScorer(tiny_scorer, big_s=0.4)  # 8 big texts: 3.2 s of tokenizing
    with serve_in_thread(create_app(slow, ServeConfig(max_wait_ms=0))) as url:
        async def scenario():
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                big_query = {"query": [f"[INST] q{i} [/INST] " + "a" * BIG + "</s>" for i in range(8)]}
                big = asyncio.create_task(client.post("/get_reward", json=big_query))
                for _ in range(500):  # until the big request's tokenizing has begun
                    if any(n >= BIG for n in slow.tokenizer.calls):
                        break
                    await asyncio.sleep(0.01)
                t0 = time.perf_counter()
                small = await client.post("/get_reward", json={"query": ["[INST] hi [/INST] hello</s>"]})
                small_s = time.perf_counter() - t0
                return await big, small, small_s, big.done()

        big, small, small_s, _ = asyncio.run(scenario())
    assert big.status_code == 200 and len(big.json()["rewards"]) == 8
    assert small.status_code == 200
    # one big text's turn (0.4 s) at most, not the remaining ~2.8 s of the big request (margin for a loaded CPU)
    assert small_s < 1.6, small_s
    big_turns = [i for i, n in enumerate(slow.tokenizer.calls) if n >= BIG]
    small_turn = next(i for i, n in enumerate(slow.tokenizer.calls) if n < 100 and i > big_turns[0])
    assert small_turn < big_turns[-1]  # tokenized between the big request's turns
