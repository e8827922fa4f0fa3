"""The optimisation settings and the one explicit loop shared by the fine-tuned kinds (pairwise, regression).

A plain single-process loop (the model's own device; bf16 autocast on request): these kinds train small
models on a few thousand examples, where accelerate's multi-process machinery adds nothing. The optimizer
and schedule are the Bradley-Terry trainer's (`rewardlab.fitting.optim`), so the kinds train alike.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from rewardlab.config import OptimFields, redefault

PRECISIONS = ("fp32", "bf16")


@dataclasses.dataclass
class OptimSettings(OptimFields):
    """The shared optimisation fields (`rewardlab.config.OptimFields`) with the fine-tuned kinds' defaults: small
    models on a few thousand examples, one process. The concrete configs also take `RunFields` (the seed)."""

    batch_size: int = redefault(OptimFields, "batch_size", 16)
    micro_batch_size: int = redefault(OptimFields, "micro_batch_size", 4)
    precision: str = redefault(OptimFields, "precision", "fp32", "fp32, or bf16 (autocast; weights stay fp32).")

    def check_optim(self) -> None:
        from rewardlab.config import at_least_one, check_fields, check_seed, non_negative_finite, unit_interval

        check_fields(self, ("batch_size", "micro_batch_size"), at_least_one, "at least 1")
        check_fields(self, ("max_steps",), at_least_one, "at least 1 (or none: num_epochs decides)")
        check_fields(self, ("weight_decay", "max_grad_norm"), non_negative_finite, ">= 0")
        check_fields(self, ("warmup_ratio", "adam_beta1", "adam_beta2"), unit_interval, "in [0, 1)")
        check_seed(self.seed)
        if self.batch_size % self.micro_batch_size:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of micro_batch_size "
                             f"({self.micro_batch_size})")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.lr_scheduler not in ("cosine", "linear", "constant"):
            raise ValueError(f"lr_scheduler must be cosine, linear or constant, got {self.lr_scheduler!r}")
        if not (self.learning_rate > 0 and self.num_epochs > 0):  # also refuses nan
            raise ValueError(f"learning_rate and num_epochs must be positive, got {self.learning_rate} and "
                             f"{self.num_epochs}")


def pick_device(device: str | None = None) -> str:
    from rewardlab.scoring import default_device

    return device or default_device()


def run_training(model: torch.nn.Module, cfg: OptimSettings, num_examples: int,
                 example_losses: Callable[[list[int]], torch.Tensor], lengths: Sequence[int],
                 log: Callable[[str], None] = lambda _: None) -> list[dict[str, Any]]:
    """Optimise `model` on per-example losses; returns one log record per optimizer step.

    `example_losses(indices)` -> [m] per-example losses of one micro-batch. Each step draws `batch_size`
    examples in a seeded per-epoch order, cuts them into micro-batches of similar length, and accumulates
    ``sum / batch_size`` so the step's gradient is the mean over its examples.
    """
    from rewardlab.fitting.batching import fit_batch_size, step_indices, total_steps
    from rewardlab.fitting.optim import build_optimizer, build_scheduler
    from rewardlab.modeling import lean

    batch_size = fit_batch_size(num_examples, cfg.batch_size, cfg.micro_batch_size)
    if batch_size != cfg.batch_size:
        log(f"note: batch_size {cfg.batch_size} is more than the {num_examples} training examples; using "
            f"{batch_size}, i.e. one optimizer step per epoch")
        cfg = dataclasses.replace(cfg, batch_size=batch_size)
    steps = total_steps(num_examples, cfg.batch_size, cfg.num_epochs, cfg.max_steps)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg, steps)
    device_type = next(model.parameters()).device.type
    train_log: list[dict[str, Any]] = []
    model.train()
    lean.install(model)  # fewer activations kept for the backward (modeling/lean.py), undone below
    try:
        for step in range(steps):
            t0 = time.perf_counter()
            idx = sorted(step_indices(step, num_examples, cfg.batch_size, cfg.seed), key=lambda i: -lengths[i])
            total = 0.0
            for k in range(0, len(idx), cfg.micro_batch_size):
                with torch.autocast(device_type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                    per_example = example_losses(idx[k : k + cfg.micro_batch_size])
                (per_example.sum() / cfg.batch_size).backward()
                total += float(per_example.detach().sum())
            grad_norm = None
            if cfg.max_grad_norm:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm))
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            record = {"step": step + 1, "loss": total / cfg.batch_size, "learning_rate": lr, "grad_norm": grad_norm,
                      "seconds": time.perf_counter() - t0}
            train_log.append(record)
            log(f"step {step + 1}/{steps}: loss {record['loss']:.4f}, lr {lr:.2e}, {record['seconds']:.1f}s")
    finally:
        lean.uninstall(model)
    model.eval()
    return train_log
