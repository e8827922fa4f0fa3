"""Run an optimizer step's micro-batches side by side on a CPU, each on its own core(s).

On a CPU, splitting every operation of one micro-batch across cores makes the cores meet at a barrier after each
operation (tens of thousands per step: elementwise ops, attention calls) and leaves them waiting on memory
together. Running two micro-batches at once, each single-threaded, keeps both cores busy with no barrier: the
same work, measured 10-20% faster for forward + backward alone and ~7% for whole training steps on 2 cores
(`benchmarks/results/speed_notes.md`). Both backward passes add
into the same ``.grad`` tensors (autograd locks each accumulation), so the step's gradient is the same sum --
only the order of the additions may vary between runs, at float rounding (set ``parallel_micro_batches: 1`` for
bitwise-reproducible runs). Activation memory is that of all micro-batches in flight.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    """Calls `fn` on each micro-batch: one after another, or `workers` at a time in threads with `threads_each`
    torch threads. Results come back in input order either way."""

    def __init__(self, workers: int, threads_each: int):
        self.workers, self.threads_each = workers, threads_each
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="rewardlab-micro") if workers > 1 else None

    def map(self, fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        if self._pool is None or len(items) < 2:
            return [fn(x) for x in items]
        with torch_threads(self.threads_each):
            return list(self._pool.map(fn, items))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> MicroBatchRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
