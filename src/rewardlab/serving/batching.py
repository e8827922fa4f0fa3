"""The micro-batcher: concurrent requests are merged into few forward passes, one at a time, off the event loop.

Why: a reward model on any accelerator (and on CPUs, for short sequences) costs nearly the same per forward
pass for 1 or 32 sequences, so one-request-one-forward servers (OpenRLHF's) waste most of the hardware and,
by running the forward inside the async handler, also freeze every other connection while it runs.

Design: requests append jobs to a FIFO; a single worker task takes as many whole jobs as fit in the token and
count budget, runs ONE model call in a dedicated thread (so the event loop keeps accepting, parsing and
answering /health) and resolves each job's future with its slice of the rewards. The number of waiting
conversations is bounded: `submit` raises `QueueFull` instead of letting memory grow with the backlog.

For a model that scores prefix-tree rows (`tree_ids` given: the Bradley-Terry and regression kinds), the token
budget counts the tokens the model will COMPUTE, every prefix the batch's sequences share once
(`modeling.prefix_tree.PrefixTokens`), not padded tokens; and a job that does not fit does not stop the jobs
behind it from joining: the 8 responses of a GRPO prompt, sent as 8 requests that arrive close together, cost
the prompt once and share the pass even when a bigger request waits between them. A skipped job stays at the
front and opens the next batch, so nothing waits more than one extra pass.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

ScoreIds = Callable[[list[Any]], list[Any]]  # items (token id lists by default) -> one result per item
# (conversations, budgeted tokens, seconds in the model, submitted tokens) for each model call, for metrics
BatchObserver = Callable[[int, int, float, int], None]
LOOKAHEAD_JOBS = 256  # jobs scanned past one that does not fit, looking for ones that share its pass


class QueueFull(Exception):
    """The waiting queue has no room for this request; the caller should retry later (HTTP 503)."""


@dataclasses.dataclass(eq=False)  # identity equality: `deque.remove` must find this very job
class _Job:
    ids: list[Any]
    future: asyncio.Future
    longest: int


def padded_tokens(lengths: Sequence[int]) -> int:
    """Tokens a right-padded batch of these lengths occupies: longest x count."""
    return max(lengths, default=0) * len(lengths)


class MicroBatcher:
    """Merge concurrent `submit` calls into batches for `score_ids` (see the module docstring).

    A single job larger than the budget runs alone; `score_ids` (e.g. `RewardScorer.score_ids`) splits it
    into forward passes under its own limits. Items are token id lists unless `item_tokens` says how many
    tokens another kind of item counts for (e.g. a (response ids, prompt ids) pair: the response's length).
    `tree_ids(item)`: the token ids a prefix-tree model computes for an item; given, the token budget counts
    the batch's prefix-tree tokens (see the module docstring), else padded tokens (longest x count).
    """

    def __init__(self, score_ids: ScoreIds, max_batch_tokens: int, max_batch_size: int, max_queue: int,
                 max_wait_ms: float = 2.0, observer: BatchObserver | None = None,
                 item_tokens: Callable[[Any], int] = len, tree_ids: Callable[[Any], Any] | None = None):
        self.score_ids = score_ids
        self.item_tokens = item_tokens
        self.tree_ids = tree_ids
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self.max_wait_s = max_wait_ms / 1000.0
        self.observer = observer
        self._jobs: collections.deque[_Job] = collections.deque()
        self._queued = 0  # conversations waiting (not yet handed to the model)
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    def batch_tokens(self, items: Sequence[Any]) -> int:
        """What the token budget counts for `items`: prefix-tree tokens with `tree_ids`, else padded tokens."""
        if self.tree_ids is not None:
            from rewardlab.modeling.prefix_tree import tree_tokens

            return tree_tokens([self.tree_ids(x) for x in items])
        return padded_tokens([self.item_tokens(x) for x in items])

    @property
    def queue_depth(self) -> int:
        return self._queued

    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        # One thread: one model call at a time (no thread oversubscription, no concurrent CUDA contexts).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rewardlab-model")
        self._task = asyncio.create_task(self._run(), name="rewardlab-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        while self._jobs:
            job = self._jobs.popleft()
            if not job.future.done():
                job.future.set_exception(RuntimeError("server shutting down"))
        self._queued = 0
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def submit(self, ids: list[Any], admitted: bool = False) -> list[Any]:
        """Results for `ids` (token id lists, or other items), in order. Raises `QueueFull` when the queue has no
        room, unless `admitted`: a later part of a request whose first part was let in (a rollout is not failed
        half-way; the excess is bounded by one part per such request)."""
        if not ids:
            return []
        if self._task is None or self._wakeup is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        if not admitted and self._queued + len(ids) > self.max_queue:
            raise QueueFull(f"{self._queued} conversations already waiting (max_queue={self.max_queue})")
        future = asyncio.get_running_loop().create_future()
        job = _Job(ids, future, max(self.item_tokens(x) for x in ids))
        self._jobs.append(job)
        self._queued += len(ids)
        self._wakeup.set()
        try:
            return await future
        except asyncio.CancelledError:  # the client went away: free its queue room now, not when it is reached
            if job in self._jobs:
                self._jobs.remove(job)
                self._queued -= len(ids)
            raise

    def _take(self) -> list[_Job]:
        """Whole jobs from the front of the queue that fit the budget (at least one), FIFO for fairness; with
        `tree_ids`, later jobs that still fit (sharing the batch's prefixes) join too."""
        if self.tree_ids is not None:
            return self._take_shared()
        taken: list[_Job] = []
        count = longest = 0
        while self._jobs:
            job = self._jobs[0]
            if job.future.done():  # cancelled before `submit` could remove it: drop it without scoring
                self._jobs.popleft()
                self._queued -= len(job.ids)
                continue
            n, lng = count + len(job.ids), max(longest, job.longest)
            if taken and (n > self.max_batch_size or n * lng > self.max_batch_tokens):
                break
            taken.append(self._jobs.popleft())
            self._queued -= len(job.ids)
            count, longest = n, lng
        return taken

    def _take_shared(self) -> list[_Job]:
        from rewardlab.modeling.prefix_tree import PrefixTokens

        assert self.tree_ids is not None
        taken: list[_Job] = []
        tree, count, skipped = PrefixTokens(), 0, 0
        for job in list(self._jobs):
            if job.future.done():  # cancelled before `submit` could remove it: drop it without scoring
                self._jobs.remove(job)
                self._queued -= len(job.ids)
                continue
            grown = tree.copy()
            for item in job.ids:
                grown.add(self.tree_ids(item))
            if taken and (count + len(job.ids) > self.max_batch_size or grown.total > self.max_batch_tokens):
                skipped += 1
                if skipped > LOOKAHEAD_JOBS or count >= self.max_batch_size:
                    break
                continue
            taken.append(job)
            tree, count = grown, count + len(job.ids)
        for job in taken:
            self._jobs.remove(job)
            self._queued -= len(job.ids)
        return taken

    def _full(self) -> bool:
        count = sum(len(j.ids) for j in self._jobs)
        if count >= self.max_batch_size:
            return True
        if self.tree_ids is not None:
            from rewardlab.modeling.prefix_tree import PrefixTokens

            tree = PrefixTokens()
            for job in self._jobs:
                for item in job.ids:
                    if tree.add(self.tree_ids(item)) and tree.total >= self.max_batch_tokens:
                        return True
            return False
        longest = max((j.longest for j in self._jobs), default=0)
        return count * longest >= self.max_batch_tokens

    async def _run(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._jobs:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.max_wait_s > 0 and not self._full():
                await asyncio.sleep(self.max_wait_s)  # let requests arriving together share the pass
            jobs = self._take()
            if not jobs:
                continue
            flat = [ids for job in jobs for ids in job.ids]
            start = time.perf_counter()
            try:
                rewards = await loop.run_in_executor(self._executor, self.score_ids, flat)
                if len(rewards) != len(flat):
                    raise RuntimeError(f"score_ids returned {len(rewards)} rewards for {len(flat)} inputs")
            except asyncio.CancelledError:  # shutdown while the model runs: fail the in-flight requests
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(RuntimeError("server shutting down"))
                raise
            except Exception as e:  # one bad batch fails its requests, never the worker
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(e)
                continue
            if self.observer is not None:
                sizes = [self.item_tokens(x) for x in flat]
                self.observer(len(flat), self.batch_tokens(flat), time.perf_counter() - start, sum(sizes))
            k = 0
            for job in jobs:
                n = len(job.ids)
                if not job.future.done():
                    job.future.set_result(list(rewards[k : k + n]))
                k += n
