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


def bradley_terry_probability(r_a: torch.Tensor, r_b: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """P(a better than b) = sigmoid(scale * (r_a - r_b)): the probability the Bradley-Terry loss fits (scale: a
    temperature learned with the loss, as the multi-objective gate's; 1 for a plain reward model). [B] -> [B]."""
    return torch.sigmoid(scale * (r_a.double() - r_b.double()))


def reward_centering_penalty(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Per-pair ``(r_c + r_r)^2`` (Eisenstein et al. 2023; TRL's center_rewards_coefficient term). [B] -> [B]."""
    return (chosen + rejected) ** 2


def pairwise_accuracy(chosen: torch.Tensor, rejected: torch.Tensor, tie_value: float = 0.0) -> torch.Tensor:
    """Per-pair 1.0 when chosen scores strictly higher, `tie_value` on a tie, else 0.0. [B] -> [B]."""
    acc = (chosen > rejected).float()
    return torch.where(chosen == rejected, torch.full_like(acc, tie_value), acc)
