"""Fixtures for the server tests: a tiny scorer and wrappers that make the model slow or failing on purpose."""

from __future__ import annotations

import threading
import time

import pytest


@pytest.fixture(scope="session")
def tiny_scorer(tiny_model_dir):
    from rewardlab.scoring import RewardScorer

    return RewardScorer.from_pretrained(str(tiny_model_dir), device="cpu", dtype="float32", batch_size=64)


class InstrumentedScorer:
    """Wraps a scorer: records every model call's size, sleeps `delay_s` in it, tracks overlapping calls."""

    def __init__(self, scorer, delay_s: float = 0.0, fail_times: int = 0, gate: threading.Event | None = None):
        self.inner = scorer
        self.gate = gate  # when set, every model call waits until the test opens it
        self.encoder = scorer.encoder
        self.delay_s = delay_s
        self.fail_times = fail_times
        self.calls: list[int] = []
        self.active = 0
        self.max_active = 0
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def score_ids(self, encoded):
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls.append(len(encoded))
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(self.delay_s)
            if self.gate is not None and not self.gate.wait(timeout=60):
                raise RuntimeError("test gate never opened")
            if self.fail_times > 0:
                self.fail_times -= 1
                raise RuntimeError("simulated out of memory")
            return self.inner.score_ids(encoded)
        finally:
            with self._lock:
                self.active -= 1
