"""Padding-free pair rows: every pair of a micro-batch in ONE row, each pair's shared context computed once.

Layout of a micro-batch of k pairs (no padding anywhere)::

    [ ctx_1 | chosen_1 | rejected_1 | ctx_2 | chosen_2 | rejected_2 | ... ]      input_ids [1, T]

Positions restart at 0 for every pair, and the rejected suffix's positions restart where its context ends.
The linear layers (most of the FLOPs) see one [T, hidden] matrix, so their weight-gradient matmuls run on
long inner dimensions (short rows are what makes micro-batch 1 slow on CPU), and no position is padding.

Attention is the only place pairs must not mix. The transformers attention interface is given one extra
function, ``rewardlab_pairs``: for each pair it runs PyTorch SDPA twice, ``[ctx | chosen]`` causally (the
fast ``is_causal`` kernel) and ``rejected`` over ``[ctx | rejected]`` with a bottom-right causal mask. Every
token therefore sees exactly the tokens it would see alone in its own padded sequence, so rewards and
gradients equal the plain computation (tested). Calls without pair segments (evaluation with padded batches,
generation) fall through to ordinary SDPA, so a model loaded with this implementation behaves like ``sdpa``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

ATTN_IMPLEMENTATION = "rewardlab_pairs"
_KWARG = "rewardlab_pairs"


class PairRowsUnsupported(RuntimeError):
    """The model's architecture does not pass keyword arguments down to its attention function."""


@dataclasses.dataclass
class PairSegments:
    """Where each pair lies in the packed row: (start, context, chosen suffix, rejected suffix) lengths."""

    spans: list[tuple[int, int, int, int]]
    calls: int = 0  # attention layers that used the segments (checked after the forward)

    @property
    def length(self) -> int:
        start, p, c, r = self.spans[-1]
        return start + p + c + r


def pair_rows_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                        **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers attention function. query [1, H, T, D], key/value [1, Hkv, T, D] -> ([1, T, H, D], None)."""
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    segments: PairSegments | None = kwargs.pop(_KWARG, None)
    if segments is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    if query.shape[0] != 1 or query.shape[2] != segments.length:
        raise ValueError(f"pair rows: expected one row of {segments.length} tokens, got query {tuple(query.shape)}")
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    outs = []
    for start, p, c, r in segments.spans:
        a, b, e = start + p + c, start + p, start + p + c + r  # chosen ends at a; rejected runs a..e
        outs.append(sdpa(query[:, :, start:a], key[:, :, start:a], value[:, :, start:a], dropout_p=dropout,
                         scale=scaling, is_causal=True))
        k2 = torch.cat([key[:, :, start:b], key[:, :, a:e]], dim=2)
        v2 = torch.cat([value[:, :, start:b], value[:, :, a:e]], dim=2)
        visible = torch.ones(r, p + r, dtype=torch.bool, device=query.device).tril(diagonal=p)
        outs.append(sdpa(query[:, :, a:e], k2, v2, attn_mask=visible, dropout_p=dropout, scale=scaling))
    segments.calls += 1
    return torch.cat(outs, dim=2).transpose(1, 2).contiguous(), None


def register_pair_rows_attention() -> str:
    """Make ``rewardlab_pairs`` a valid ``attn_implementation`` (idempotent); returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(ATTN_IMPLEMENTATION, pair_rows_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTN_IMPLEMENTATION, sdpa_mask)  # padded batches: ordinary SDPA masks
    return ATTN_IMPLEMENTATION


def pack_pair_rows(chosen: Sequence[Sequence[int]], rejected: Sequence[Sequence[int]]
                   ) -> tuple[torch.Tensor, torch.Tensor, PairSegments, torch.Tensor, torch.Tensor, int]:
    """Lay the pairs out in one row. Returns input_ids [1, T], position_ids [1, T], segments, chosen_index [k],
    rejected_index [k] (positions in the row of each reward token) and T (all real tokens)."""
    from rewardlab.training.forward import common_prefix_length

    ids: list[int] = []
    pos: list[int] = []
    spans, ci, ri = [], [], []
    for c, r in zip(chosen, rejected):
        p = min(common_prefix_length(c, r), len(c) - 1, len(r) - 1)  # each suffix keeps at least one token
        start = len(ids)
        ids += list(c) + list(r[p:])
        pos += list(range(len(c))) + list(range(p, len(r)))
        spans.append((start, p, len(c) - p, len(r) - p))
        ci.append(start + len(c) - 1)
        ri.append(start + len(c) + len(r) - p - 1)
    return (torch.tensor([ids]), torch.tensor([pos]), PairSegments(spans), torch.tensor(ci), torch.tensor(ri),
            len(ids))


def pair_rows_rewards(model: Any, input_ids: torch.Tensor, position_ids: torch.Tensor, segments: PairSegments,
                      chosen_index: torch.Tensor, rejected_index: torch.Tensor) -> torch.Tensor:
    """Rewards [2k] = [chosen rewards; rejected rewards] of a `pack_pair_rows` micro-batch."""
    from rewardlab.training.forward import score_head, unwrap_peft

    head = score_head(model)
    if head is None:
        raise ValueError("pair rows need a model with a `score` head; set shared_context: false")
    base = unwrap_peft(model).base_model
    impl = getattr(base.config, "_attn_implementation", None)
    if impl != ATTN_IMPLEMENTATION:
        raise PairRowsUnsupported(f"pair rows need attn_implementation={ATTN_IMPLEMENTATION!r}, the model has {impl!r}")
    segments.calls = 0
    hidden = base(input_ids=input_ids, position_ids=position_ids, **{_KWARG: segments}).last_hidden_state[0]
    if segments.calls == 0:  # the architecture did not pass keyword arguments down to its attention
        raise PairRowsUnsupported(f"{type(base).__name__} does not route attention through the transformers attention "
                           "interface with keyword arguments")
    picked = torch.cat([hidden[chosen_index.to(hidden.device)], hidden[rejected_index.to(hidden.device)]])
    return head(picked).squeeze(-1).float()
