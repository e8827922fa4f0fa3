"""Padding-free shared-context rows: many conversations that share a context in ONE row, the context computed once.

A group is one context with n responses (a preference pair is a group of two: chosen, rejected; best-of-n
and RewardBench v2 give larger ones). Layout of a batch of groups (no padding anywhere)::

    [ ctx_1 | resp_1a | resp_1b | ctx_2 | resp_2a | resp_2b | resp_2c | ... ]      input_ids [1, T]

Positions restart at 0 for every group, and every response's positions start where its context ends. The
linear layers (most of the FLOPs) see one [T, hidden] matrix, so their weight-gradient matmuls run on long
inner dimensions (short rows are what makes micro-batch 1 slow on CPU), and no position is padding.

Attention is the only place groups and responses must not mix. The transformers attention interface is given
one extra function, ``rewardlab_pairs``: per group it runs PyTorch SDPA on ``[ctx | first response]`` causally
(the fast ``is_causal`` kernel) and on each further response over ``[ctx | that response]`` with a
bottom-right causal mask. Every token therefore sees exactly the tokens it would see alone in its own padded
sequence, so rewards and gradients equal the plain computation (tested). Calls without segments (padded
batches, generation) fall through to ordinary SDPA, so a model loaded with this implementation behaves like
``sdpa`` everywhere else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

ATTN_IMPLEMENTATION = "rewardlab_pairs"
_KWARG = "rewardlab_pairs"
_LAST_MLP = "_rewardlab_last_mlp"  # plain attribute on the last layer's attention: its MLP (not a submodule)
_ROWS = "_rewardlab_reward_rows"  # plain attribute on that MLP: (row length, reward positions) for its next call


class PairRowsUnsupported(RuntimeError):
    """The model cannot run shared-context rows (no score head reachable, another attention, or kwargs dropped)."""


@dataclasses.dataclass
class RowSegments:
    """Where each group lies in the packed row: (start, context length, response suffix lengths)."""

    spans: list[tuple[int, int, tuple[int, ...]]]
    calls: int = 0  # attention layers that used the segments (checked after the forward)
    reward_index: torch.Tensor | None = None  # row positions whose final hidden state is read (set by row_rewards)
    _masks: dict[tuple[int, int, Any], torch.Tensor] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def length(self) -> int:
        start, p, suffixes = self.spans[-1]
        return start + p + sum(suffixes)

    def response_mask(self, context: int, response: int, device: Any) -> torch.Tensor:
        """[response, context + response] bool, bottom-right causal; built once per shape, shared by all layers."""
        key = (context, response, device)
        if key not in self._masks:
            self._masks[key] = torch.ones(response, context + response, dtype=torch.bool,
                                          device=device).tril(diagonal=context)
        return self._masks[key]


def pair_rows_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                        **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers attention function. query [1, H, T, D], key/value [1, Hkv, T, D] -> ([1, T, H, D], None)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    segments: RowSegments | None = kwargs.pop(_KWARG, None)
    if segments is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    if query.shape[0] != 1 or query.shape[2] != segments.length:
        raise ValueError(f"shared-context rows: expected one row of {segments.length} tokens, "
                         f"got query {tuple(query.shape)}")
    sdpa = torch.nn.functional.scaled_dot_product_attention
    # grouped-query attention without materialising repeated keys/values (SDPA's enable_gqa)
    gqa = {"enable_gqa": True} if getattr(module, "num_key_value_groups", 1) > 1 else {}
    # Split the row ONCE into per-call pieces ([ctx | first response], then each further response): the backward
    # of a split is one concatenation, where slicing the whole row per call would make each call's backward
    # zero-fill and add a gradient the size of the whole row (most of the non-matmul time on CPU).
    sizes = [n for _, p, suffixes in segments.spans for n in (p + suffixes[0], *suffixes[1:])]
    qs, ks, vs = query.split(sizes, dim=2), key.split(sizes, dim=2), value.split(sizes, dim=2)
    outs = []
    j = 0
    for _, p, suffixes in segments.spans:
        outs.append(sdpa(qs[j], ks[j], vs[j], dropout_p=dropout, scale=scaling, is_causal=True, **gqa))
        ctx_k, ctx_v = ks[j][:, :, :p], vs[j][:, :, :p]
        for n, s in enumerate(suffixes[1:], start=1):
            k2, v2 = torch.cat([ctx_k, ks[j + n]], dim=2), torch.cat([ctx_v, vs[j + n]], dim=2)
            outs.append(sdpa(qs[j + n], k2, v2, attn_mask=segments.response_mask(p, s, query.device),
                             dropout_p=dropout, scale=scaling, **gqa))
        j += len(suffixes)
    segments.calls += 1
    last_mlp = module.__dict__.get(_LAST_MLP)
    if last_mlp is not None and segments.reward_index is not None:  # the next MLP call runs only at the rewards
        last_mlp.__dict__[_ROWS] = (segments.length, segments.reward_index)
    return torch.cat(outs, dim=2).transpose(1, 2).contiguous(), None


def _mlp_only_at_rewards(mlp: torch.nn.Module, args: tuple, kwargs: dict) -> Any:
    """Forward pre-hook: run the last MLP on the reward positions only (set by the attention just before)."""
    length, index = mlp.__dict__.pop(_ROWS, (None, None))
    x = args[0] if args else None
    if index is None or len(args) != 1 or kwargs or x.dim() != 3 or x.shape[:2] != (1, length):
        mlp.__dict__.pop("_rewardlab_scatter", None)
        return None
    mlp.__dict__["_rewardlab_scatter"] = (x, index)
    return (x[:, index],), {}


def _scatter_back(mlp: torch.nn.Module, args: tuple, kwargs: dict, out: Any) -> Any:
    """Forward hook: put the reward positions' MLP outputs back in a full-length (otherwise zero) tensor."""
    pending = mlp.__dict__.pop("_rewardlab_scatter", None)
    if pending is None or not isinstance(out, torch.Tensor):
        return None
    x, index = pending
    return out.new_zeros(x.shape[:2] + out.shape[2:]).index_copy(1, index, out)


def _restrict_last_mlp(base: Any) -> None:
    """Make the last decoder layer's MLP (most of that layer's FLOPs) run only at the reward positions of a row.

    A reward reads the final hidden state at one position per response; after the last attention nothing
    mixes positions, so the MLP output elsewhere is never used (the rows' rewards and gradients are unchanged,
    tested). Hooks, not a replaced module: the state dict, saving and padded calls are untouched, and the
    hooks fire again when gradient checkpointing recomputes the layer. Idempotent; architectures without a
    ``layers[-1].self_attn`` / ``.mlp`` pair are left as they are.
    """
    layers = getattr(base, "layers", None)
    last = layers[-1] if isinstance(layers, torch.nn.ModuleList) and len(layers) else None
    attn, mlp = getattr(last, "self_attn", None), getattr(last, "mlp", None)
    if not isinstance(attn, torch.nn.Module) or not isinstance(mlp, torch.nn.Module) or _LAST_MLP in attn.__dict__:
        return
    mlp.register_forward_pre_hook(_mlp_only_at_rewards, with_kwargs=True)
    mlp.register_forward_hook(_scatter_back, with_kwargs=True)
    attn.__dict__[_LAST_MLP] = mlp


def register_pair_rows_attention() -> str:
    """Make ``rewardlab_pairs`` a valid ``attn_implementation`` (idempotent); returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(ATTN_IMPLEMENTATION, pair_rows_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTN_IMPLEMENTATION, sdpa_mask)  # padded batches: ordinary SDPA masks
    return ATTN_IMPLEMENTATION


def load_with_pair_rows(name: str, on_fallback: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """`load_reward_model` with the shared-context rows attention; an architecture that refuses a registered
    attention function (e.g. remote code that only knows eager/sdpa) loads with SDPA instead, reported through
    `on_fallback(message)`. Callers then branch on `uses_pair_rows(model)`."""
    from rewardlab.modeling.loading import load_reward_model

    try:
        return load_reward_model(name, attn_implementation=register_pair_rows_attention(), **kwargs)
    except ValueError as exc:
        if on_fallback is not None:
            on_fallback(f"shared-context rows unavailable for this model ({exc}); using SDPA")
        return load_reward_model(name, attn_implementation="sdpa", **kwargs)


def uses_pair_rows(model: Any) -> bool:
    """Was the model loaded with the shared-context rows attention?"""
    from rewardlab.training.forward import unwrap_peft

    config = getattr(unwrap_peft(model), "config", None)
    return getattr(config, "_attn_implementation", None) == ATTN_IMPLEMENTATION


def shared_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Tokens every sequence shares at its start, leaving each at least one token of its own."""
    from rewardlab.training.forward import common_prefix_length

    first = sequences[0]
    p = min(len(s) - 1 for s in sequences)
    for s in sequences[1:]:
        p = min(p, common_prefix_length(first, s))
    return max(p, 0)


def pack_group_rows(groups: Sequence[Sequence[Sequence[int]]]
                    ) -> tuple[torch.Tensor, torch.Tensor, RowSegments, list[list[int]], int]:
    """Lay groups of token sequences (each group shares a context) out in one row.

    Returns input_ids [1, T], position_ids [1, T], segments, the row position of each sequence's last token
    (per group, in input order) and T (all real tokens).
    """
    ids: list[int] = []
    pos: list[int] = []
    spans, last = [], []
    for seqs in groups:
        if not seqs:
            raise ValueError("a group needs at least one sequence")
        p = shared_prefix_length(seqs)
        start = len(ids)
        ids += list(seqs[0][:p])
        pos += list(range(p))
        ends = []
        for s in seqs:
            ids += list(s[p:])
            pos += list(range(p, len(s)))
            ends.append(len(ids) - 1)
        spans.append((start, p, tuple(len(s) - p for s in seqs)))
        last.append(ends)
    return torch.tensor([ids]), torch.tensor([pos]), RowSegments(spans), last, len(ids)


def pack_pair_rows(chosen: Sequence[Sequence[int]], rejected: Sequence[Sequence[int]]
                   ) -> tuple[torch.Tensor, torch.Tensor, RowSegments, torch.Tensor, torch.Tensor, int]:
    """Pairs in one row. Returns input_ids [1, T], position_ids [1, T], segments, chosen_index [k],
    rejected_index [k] (row positions of each reward token) and T."""
    ids, pos, segments, last, n = pack_group_rows([(c, r) for c, r in zip(chosen, rejected)])
    return ids, pos, segments, torch.tensor([e[0] for e in last]), torch.tensor([e[1] for e in last]), n


def row_rewards(model: Any, input_ids: torch.Tensor, position_ids: torch.Tensor, segments: RowSegments,
                index: torch.Tensor) -> torch.Tensor:
    """Rewards (float32) read at the row positions `index` of a packed row."""
    from rewardlab.training.forward import score_head, unwrap_peft

    head = score_head(model)
    if head is None:
        raise PairRowsUnsupported("shared-context rows need a model with a `score` head")
    if not uses_pair_rows(model):
        impl = getattr(getattr(unwrap_peft(model), "config", None), "_attn_implementation", None)
        raise PairRowsUnsupported(f"shared-context rows need attn_implementation={ATTN_IMPLEMENTATION!r}, "
                                  f"the model has {impl!r}")
    base = unwrap_peft(model).base_model
    _restrict_last_mlp(base)
    index = index.to(input_ids.device)
    segments.calls, segments.reward_index = 0, index
    hidden = base(input_ids=input_ids, position_ids=position_ids, **{_KWARG: segments}).last_hidden_state[0]
    if segments.calls == 0:  # the architecture did not pass keyword arguments down to its attention
        raise PairRowsUnsupported(f"{type(base).__name__} does not route attention through the transformers "
                                  "attention interface with keyword arguments")
    return head(hidden[index.to(hidden.device)]).squeeze(-1).float()  # the only positions the last MLP ran


def pair_rows_rewards(model: Any, input_ids: torch.Tensor, position_ids: torch.Tensor, segments: RowSegments,
                      chosen_index: torch.Tensor, rejected_index: torch.Tensor) -> torch.Tensor:
    """Rewards [2k] = [chosen rewards; rejected rewards] of a `pack_pair_rows` micro-batch."""
    return row_rewards(model, input_ids, position_ids, segments, torch.cat([chosen_index, rejected_index]))
