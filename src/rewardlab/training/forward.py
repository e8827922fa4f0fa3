"""Reward forward passes shared by training and scoring.

`sequence_rewards` reads the score head at given token positions of the backbone's last hidden state, so
pooling never depends on which token id is the pad (the HF default looks for the last non-pad token).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def score_head(model: Any) -> torch.nn.Module | None:
    """The linear reward head of a *ForSequenceClassification model (``score`` on decoder LMs)."""
    return getattr(model, "score", None)


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pad id lists. Returns input_ids [N, T], attention_mask [N, T], last_index [N]."""
    n, t = len(sequences), max(len(s) for s in sequences)
    input_ids = torch.full((n, t), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((n, t), dtype=torch.long)
    for i, s in enumerate(sequences):
        input_ids[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
        attention_mask[i, : len(s)] = 1
    last_index = attention_mask.sum(1) - 1
    return input_ids, attention_mask, last_index


def sequence_rewards(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     last_index: torch.Tensor) -> torch.Tensor:
    """Rewards [N] (float32) read at `last_index` of each right-padded row. input_ids/attention_mask: [N, T]."""
    head = score_head(model)
    if head is None:  # an exotic head: fall back to the model's own pooling
        return model(input_ids=input_ids, attention_mask=attention_mask).logits[:, 0].float()
    hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # [N, T, H]
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return head(hidden[rows, last_index.to(hidden.device)]).squeeze(-1).float()  # [N]
