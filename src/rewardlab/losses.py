"""Pure loss and metric functions for reward modelling. Shapes in comments: B = pairs in the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bradley_terry_loss(
    chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-pair Bradley-Terry negative log-likelihood ``-logsigmoid(r_c - r_r - margin)``.

    chosen, rejected, margin: [B] -> [B] (not reduced, so callers can normalise over a global batch).
    """
    diff = chosen - rejected
    if margin is not None:
        diff = diff - margin
    return -F.logsigmoid(diff)


def reward_centering_penalty(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Per-pair ``(r_c + r_r)^2`` (Eisenstein et al. 2023; TRL's center_rewards_coefficient term). [B] -> [B]."""
    return (chosen + rejected) ** 2


def pairwise_accuracy(chosen: torch.Tensor, rejected: torch.Tensor, tie_value: float = 0.0) -> torch.Tensor:
    """Per-pair 1.0 when chosen scores strictly higher, `tie_value` on a tie, else 0.0. [B] -> [B]."""
    acc = (chosen > rejected).float()
    return torch.where(chosen == rejected, torch.full_like(acc, tie_value), acc)
