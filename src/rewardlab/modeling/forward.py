"""Reward forward passes shared by training and scoring.

`sequence_rewards` reads the score head at given token positions of the backbone's last hidden state, so
pooling never depends on which token id is the pad (the HF default looks for the last non-pad token).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def unwrap_peft(model: Any) -> Any:
    """The *ForSequenceClassification model inside a peft wrapper (LoRA layers are injected in place)."""
    return model.get_base_model() if hasattr(model, "get_base_model") and hasattr(model, "peft_config") else model


def score_head(model: Any) -> torch.nn.Module | None:
    """The linear reward head of a *ForSequenceClassification model (``score`` on decoder LMs)."""
    return getattr(unwrap_peft(model), "score", None)


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


def _backbone(model: Any, router_logits: list | None, **inputs: Any) -> torch.Tensor:
    """The backbone's last hidden state; a mixture of experts' router logits (one [tokens, experts] tensor per
    MoE layer) appended to `router_logits` when a list is given."""
    if router_logits is None:
        return unwrap_peft(model).base_model(**inputs).last_hidden_state
    out = unwrap_peft(model).base_model(**inputs, output_router_logits=True)
    router_logits.extend(out.router_logits)
    return out.last_hidden_state


def sequence_rewards(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     last_index: torch.Tensor, router_logits: list | None = None) -> torch.Tensor:
    """Rewards [N] (float32) read at `last_index` of each right-padded row. input_ids/attention_mask: [N, T].
    `router_logits`: a list to receive a mixture of experts' router logits ([N * T, experts] per MoE layer)."""
    head = score_head(model)
    if head is None:  # an exotic head: fall back to the model's own pooling
        if router_logits is not None:
            raise ValueError("router logits need a model with a `score` head")
        return model(input_ids=input_ids, attention_mask=attention_mask).logits[:, 0].float()
    hidden = _backbone(model, router_logits, input_ids=input_ids, attention_mask=attention_mask)  # [N, T, H]
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return head(hidden[rows, last_index.to(hidden.device)]).squeeze(-1).float()  # [N]


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def pack_shared_context(chosen: Sequence[Sequence[int]], rejected: Sequence[Sequence[int]], pad_id: int
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Lay each pair out as ONE row ``[shared prefix | chosen suffix | rejected suffix]``.

    The shared prefix is the longest common prefix of the two token sequences (the conversation context),
    computed once. The rejected suffix attends to the prefix and itself, never to the chosen suffix, and its
    positions restart where the prefix ends, so every token sees exactly what it would see in its own
    padded sequence: rewards and gradients equal the plain computation.

    Returns input_ids [B, L], a boolean attention mask [B, 1, L, L] (True = attend), position_ids [B, L],
    chosen_index [B], rejected_index [B], and the number of real tokens.
    """
    rows, spans = [], []
    for c, r in zip(chosen, rejected):
        p = min(common_prefix_length(c, r), len(c) - 1, len(r) - 1)  # each suffix keeps at least one token
        rows.append(list(c) + list(r[p:]))
        spans.append((p, len(c) - p, len(r) - p))
    b, length = len(rows), max(len(x) for x in rows)
    input_ids = torch.full((b, length), pad_id, dtype=torch.long)
    position_ids = torch.zeros((b, length), dtype=torch.long)
    segment = torch.full((b, length), -1, dtype=torch.long)  # 0 prefix, 1 chosen, 2 rejected, -1 pad
    for i, (row, (p, nc, nr)) in enumerate(zip(rows, spans)):
        input_ids[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
        position_ids[i, : p + nc] = torch.arange(p + nc)
        position_ids[i, p + nc : p + nc + nr] = torch.arange(p, p + nr)
        segment[i, :p], segment[i, p : p + nc], segment[i, p + nc : p + nc + nr] = 0, 1, 2
    q, k = segment[:, :, None], segment[:, None, :]  # [B, L, 1], [B, 1, L]
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    visible = (k == 0) | (k == q)  # everyone sees the prefix; a suffix sees itself
    mask = causal & visible & (q >= 0) & (k >= 0)
    # Pad rows attend to themselves only, so softmax never sees an all-masked row (NaN in SDPA's math path).
    mask |= torch.eye(length, dtype=torch.bool) & (q < 0)
    chosen_index = torch.tensor([p + nc - 1 for p, nc, _ in spans])
    rejected_index = torch.tensor([p + nc + nr - 1 for p, nc, nr in spans])
    real_tokens = sum(len(x) for x in rows)
    return input_ids, mask[:, None], position_ids, chosen_index, rejected_index, real_tokens


def packed_pair_rewards(model: Any, input_ids: torch.Tensor, mask4d: torch.Tensor, position_ids: torch.Tensor,
                        chosen_index: torch.Tensor, rejected_index: torch.Tensor,
                        router_logits: list | None = None) -> torch.Tensor:
    """Rewards [2B] = [chosen rewards; rejected rewards] from a `pack_shared_context` batch (`router_logits`: as
    in `sequence_rewards`, [B * L, experts] per MoE layer)."""
    head = score_head(model)
    if head is None:
        raise ValueError("shared-context packing needs a model with a `score` head; set shared_context: false")
    hidden = _backbone(model, router_logits, input_ids=input_ids, attention_mask=mask4d,
                       position_ids=position_ids)  # [B, L, H]
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    picked = torch.cat([hidden[rows, chosen_index.to(hidden.device)], hidden[rows, rejected_index.to(hidden.device)]])
    return head(picked).squeeze(-1).float()


def packed_token_multiplicity(mask4d: torch.Tensor, chosen_index: torch.Tensor,
                              rejected_index: torch.Tensor) -> torch.Tensor:
    """[B, L]: how many of a `pack_shared_context` row's two sequences each token belongs to (shared context 2,
    a suffix 1, padding 0) -- the tokens the reward position of each sequence attends to. mask4d: [B, 1, L, L]."""
    rows = torch.arange(mask4d.shape[0], device=mask4d.device)
    sees = mask4d[:, 0]  # [B, L, L] query x key
    return sees[rows, chosen_index.to(mask4d.device)].long() + sees[rows, rejected_index.to(mask4d.device)].long()
