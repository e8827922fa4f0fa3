"""The micro-batcher alone, with a fake model: budgets, order, cancellation, failures."""

from __future__ import annotations

import asyncio

import pytest

from rewardlab.serving.batching import MicroBatcher, QueueFull, padded_tokens
from rewardlab.serving.config import ServeConfig


def run_batcher(jobs, **kw):
    """Submit `jobs` (lists of id lists) at once; return (results, sizes of each model call)."""
    calls = []

    def fake_model(encoded):  # reward = sum of the ids: any mix-up between requests shows
        calls.append([len(x) for x in encoded])
        return [float(sum(x)) for x in encoded]

    async def main():
        batcher = MicroBatcher(fake_model, **{"max_queue": 1000, "max_wait_ms": 10, **kw})
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(j) for j in jobs))
        finally:
            await batcher.stop()

    return asyncio.run(main()), calls


def test_padded_tokens():
    assert padded_tokens([3, 10, 4]) == 30 and padded_tokens([]) == 0


def test_batches_respect_the_padded_token_budget_and_keep_order():
    jobs = [[[i] * 30] for i in range(7)]  # 7 requests of one 30-token sequence
    results, calls = run_batcher(jobs, max_batch_tokens=100, max_batch_size=64)
    assert results == [[30.0 * i] for i in range(7)]
    assert [len(c) for c in calls] == [3, 3, 1]  # 3 x 30 = 90 <= 100 < 4 x 30


def test_batches_respect_the_count_budget_and_never_split_a_request():
    jobs = [[[1], [2]], [[3], [4], [5]], [[6]], [[7], [8]]]
    results, calls = run_batcher(jobs, max_batch_tokens=10_000, max_batch_size=4)
    assert results == [[1.0, 2.0], [3.0, 4.0, 5.0], [6.0], [7.0, 8.0]]
    assert [len(c) for c in calls] == [2, 4, 2]  # [2] then 3+1 (4 <= 4), then the last 2


def test_other_items_count_the_tokens_item_tokens_gives():
    # (response ids, prompt ids) items, as the multi-objective kind's: the budget counts the longer of the two
    calls = []

    def model(items):
        calls.append(len(items))
        return [float(sum(r) + sum(p)) for r, p in items]

    async def main():
        batcher = MicroBatcher(model, max_batch_tokens=100, max_batch_size=64, max_queue=100, max_wait_ms=10,
                               item_tokens=lambda item: max(len(item[0]), len(item[1])))
        await batcher.start()
        try:  # items of 30 (response) and 2 (prompt) tokens: 3 x 30 = 90 <= 100 < 4 x 30
            return await asyncio.gather(*(batcher.submit([([1] * 30, [i, i])]) for i in range(4)))
        finally:
            await batcher.stop()

    assert asyncio.run(main()) == [[30.0 + 2 * i] for i in range(4)] and calls == [3, 1]


def test_a_request_over_the_budget_runs_alone():
    results, calls = run_batcher([[[1] * 50, [2] * 50], [[3]]], max_batch_tokens=60, max_batch_size=64)
    assert results == [[50.0, 100.0], [3.0]] and calls == [[50, 50], [1]]


def test_queue_bound_and_failures():
    async def main():
        seen = []

        def model(encoded):
            seen.append(len(encoded))
            if len(encoded) == 2:
                raise ValueError("bad batch")
            return [0.0] * len(encoded)

        batcher = MicroBatcher(model, max_batch_tokens=100, max_batch_size=8, max_queue=3, max_wait_ms=50)
        await batcher.start()
        first = asyncio.create_task(batcher.submit([[1], [1], [1]]))
        await asyncio.sleep(0)  # queued, not yet taken (the worker waits max_wait_ms)
        assert batcher.queue_depth == 3
        with pytest.raises(QueueFull):
            await batcher.submit([[1]])
        assert await first == [0.0, 0.0, 0.0]
        with pytest.raises(ValueError, match="bad batch"):
            await batcher.submit([[1], [2]])
        assert await batcher.submit([[5]]) == [0.0]  # the worker survived the failure
        cancelled = asyncio.create_task(batcher.submit([[9], [9], [9]]))
        await asyncio.sleep(0)
        assert batcher.queue_depth == 3
        cancelled.cancel()
        await asyncio.sleep(0)
        assert batcher.queue_depth == 0  # room freed at once, not when the worker reaches the job
        assert await batcher.submit([[5]]) == [0.0]
        await batcher.stop()
        return seen

    assert asyncio.run(main()) == [3, 2, 1, 1]  # the cancelled request never reached the model


@pytest.mark.parametrize("kw, message", [
    ({"max_queue": 0}, "max_queue"),
    ({"max_items_per_request": 100, "max_queue": 10}, "could never be admitted"),
    ({"port": 70000}, "port"),
    ({"api_key": " "}, "api_key"),
    ({"max_wait_ms": -1}, "max_wait_ms"),
])
def test_invalid_serve_configs_are_rejected(kw, message):
    with pytest.raises(ValueError, match=message):
        ServeConfig(**kw)


def test_serve_command_rejects_unknown_options():
    from rewardlab.serving.cli_commands import serve_command

    with pytest.raises(ValueError, match="unknown serve options"):
        serve_command("unused", max_qeue=3)


def test_a_later_part_of_an_admitted_request_is_never_refused():
    """The server submits a big request max_batch_size items at a time; only its first part may get QueueFull."""
    async def main():
        batcher = MicroBatcher(lambda encoded: [0.0] * len(encoded), max_batch_tokens=100, max_batch_size=64,
                               max_queue=2, max_wait_ms=50)
        await batcher.start()
        try:
            first = asyncio.create_task(batcher.submit([[1], [2]]))  # fills the queue while the batcher waits
            await asyncio.sleep(0)
            assert batcher.queue_depth == 2
            with pytest.raises(QueueFull):
                await batcher.submit([[3]])
            later = await batcher.submit([[3]], admitted=True)  # over max_queue by one part, by design
            return await first, later
        finally:
            await batcher.stop()

    assert asyncio.run(main()) == ([0.0, 0.0], [0.0])
