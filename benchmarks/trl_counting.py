"""Instruments TRL's RewardTrainer for the throughput benchmarks: tokens per collated micro-batch, step end times."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def trl_instruments(pad_token_id: int, before_stamp: Callable[[], None] = lambda: None
                    ) -> tuple[Any, Any, list[tuple[int, int]], list[float]]:
    """(collator, callback, batches, step_ends): the collator is TRL's own, also appending (real, padded) tokens of
    each collated micro-batch to `batches`; the callback appends `time.perf_counter()` at each optimizer step's end
    to `step_ends`, after `before_stamp()` (e.g. a device synchronisation)."""
    from transformers import TrainerCallback
    from trl.trainer.reward_trainer import DataCollatorForPreference

    batches: list[tuple[int, int]] = []
    step_ends: list[float] = []

    class CountingCollator(DataCollatorForPreference):
        def torch_call(self, examples):  # noqa: ANN001
            out = super().torch_call(examples)
            batches.append((int(out["attention_mask"].sum()), int(out["attention_mask"].numel())))
            return out

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
            before_stamp()
            step_ends.append(time.perf_counter())

    return CountingCollator(pad_token_id=pad_token_id), Clock(), batches, step_ends
