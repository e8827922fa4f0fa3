"""The optimizer, its learning-rate schedule, the seed and a run's result, shared by the Bradley-Terry trainer
(`rewardlab.training.trainer`) and the fine-tuned kinds (`rewardlab.kinds.finetune`), so every kind trains alike."""

from __future__ import annotations

import dataclasses
import functools
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch


@dataclasses.dataclass
class TrainResult:
    output_dir: Path
    summary: dict[str, Any]
    model: Any = None  # the trained model in memory (unwrapped), for callers that keep using it
    tokenizer: Any = None


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_optimizer(model: torch.nn.Module, cfg: Any) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters: decayed [weights], undecayed [norms, biases, vectors]. `cfg` holds
    the optimisation fields (`rewardlab.config.OptimFields`)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in name.lower() or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused: one kernel per step for all parameters (CPU and CUDA; same update as the foreach default)
    fused = all(p.dtype in (torch.float32, torch.float16, torch.bfloat16) for p in decay + no_decay)
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2), fused=fused)


def lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """The learning rate of optimizer step `step` (0-based) as a fraction of the peak.

    Warm-up rises linearly over `warmup` steps from 1/(warmup+1) and reaches the peak at step `warmup`.
    transformers' ``get_*_schedule_with_warmup`` start at exactly 0 (step / warmup), so their first step updates
    nothing, and a one-step run on a small file (ceil(0.03 x 1) = 1 warm-up step) saved the untrained weights.
    After warm-up the decay is transformers' own: cosine or linear to 0 at step `total`, or constant.
    """
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Any, steps: int) -> Any:
    warmup = int(math.ceil(cfg.warmup_ratio * steps))
    factor = functools.partial(lr_factor, warmup=warmup, total=steps, schedule=cfg.lr_scheduler)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
