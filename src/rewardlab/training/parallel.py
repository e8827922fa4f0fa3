"""Run an optimizer step's micro-batches side by side on a CPU, each on its own core(s).

On a CPU, splitting every operation of one micro-batch across cores makes the cores meet at a barrier after each
operation (tens of thousands per step: elementwise ops, attention calls) and leaves them waiting on memory
together. Running two micro-batches at once, each single-threaded, keeps both cores busy with no barrier: the
same work, measured 10-20% faster for forward + backward alone and ~7% for whole training steps on 2 cores
(`benchmarks/results/speed_notes.md`). Both backward passes add
into the same ``.grad`` tensors (autograd locks each accumulation), so the step's gradient is the same sum --
only the order of the additions may vary between runs, at float rounding (set ``parallel_micro_batches: 1`` for
bitwise-reproducible runs). Activation memory is that of all micro-batches in flight.

The step's pairs are shared out as *lanes*, one per worker, with even token counts (`batching.plan_lanes`); a
worker whose lane is done takes over the other lanes' not yet started micro-batches.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, TypeVar

import torch

T = TypeVar("T")


def plan_workers(requested: int, micro_per_step: int, threads: int, on_cpu: bool, single_process: bool
                 ) -> tuple[int, int]:
    """(micro-batches run at once, torch threads each). `requested` 0 means auto: one per thread.

    Only on a CPU in a single process (multi-process runs and GPUs already keep every device busy). `requested` is
    `TrainConfig.parallel_micro_batches`, already checked to be >= 0 there."""
    if not on_cpu or not single_process or micro_per_step < 2:
        return 1, threads
    workers = min(requested or threads, micro_per_step)
    if workers <= 1:
        return 1, threads
    return workers, max(1, threads // workers)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Set torch's intra-op threads for the block, then restore them."""
    old = torch.get_num_threads()
    if n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


class MicroBatchRunner:
    """Runs lanes of micro-batches: one after another, or `workers` lanes at a time in threads with
    `threads_each` torch threads each."""

    def __init__(self, workers: int, threads_each: int):
        self.workers, self.threads_each = workers, threads_each
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="rewardlab-micro") if workers > 1 else None

    def map_lanes(self, fn: Callable[[Any], T], lanes: Sequence[Sequence[Any]]) -> list[list[T]]:
        """Each lane's items one after another, the lanes side by side (`batching.plan_lanes` evens out their
        work). A worker whose lane is done takes the last not yet started item of the longest other lane, so a
        core slowed by something else does not hold the step up. Results per lane, in order, whoever ran them."""
        if self._pool is None or sum(1 for lane in lanes if lane) < 2:
            return [[fn(x) for x in lane] for lane in lanes]
        if len(lanes) > self.workers:
            raise ValueError(f"{len(lanes)} lanes for {self.workers} workers")
        queues = [collections.deque((k, j) for j in range(len(lane))) for k, lane in enumerate(lanes)]
        results: list[list[Any]] = [[None] * len(lane) for lane in lanes]
        lock = threading.Lock()

        def work(k: int) -> None:
            while True:
                with lock:
                    if queues[k]:
                        lane, j = queues[k].popleft()
                    elif any(queues):
                        lane, j = max(queues, key=len).pop()
                    else:
                        return
                try:
                    results[lane][j] = fn(lanes[lane][j])
                except BaseException:
                    with lock:  # stop the other workers at their next item
                        for q in queues:
                            q.clear()
                    raise

        with torch_threads(self.threads_each):
            futures = [self._pool.submit(work, k) for k in range(len(lanes))]
            wait(futures)  # every worker done (none still using the model) before an error propagates
            for f in futures:
                f.result()
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> MicroBatchRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
