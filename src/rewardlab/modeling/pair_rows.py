"""Padding-free prefix-tree rows: many conversations in ONE row, every prefix they share computed once.

A group is one context with n responses (a preference pair is a group of two: chosen, rejected; best-of-n
and RewardBench v2 give larger ones). The sequences of a micro-batch are laid out as a prefix tree (radix
tree): a pair's context is computed once for both responses, and a prefix shared by different groups too (a
chat template's system prompt, or one prompt in several pairs). No padding anywhere::

    [ sys | ctx_1 | resp_1a | resp_1b | ctx_2 | resp_2a | resp_2b | resp_2c | ... ]      input_ids [1, T]

Every token's position is its position in its own sequence (a branch continues the positions of the prefix it
hangs from). The linear layers (most of the FLOPs) see one [T, hidden] matrix, so their weight-gradient
matmuls run on long inner dimensions (short rows are what makes micro-batch 1 slow on CPU).

Attention is the only place branches must not mix. The row splits into attention *calls*: a chain of tree
nodes laid out one after the other (``sys | ctx_1 | resp_1a``) is one causal call (the fast ``is_causal``
kernel); a branch laid out elsewhere (``resp_1b``, ``ctx_2 | resp_2a``) is a call whose keys are its
ancestors' tokens followed by its own, with a bottom-right causal mask. The transformers attention interface
is given one extra function, ``rewardlab_pairs``, that runs these PyTorch SDPA calls. Every token therefore
sees exactly the tokens it would see alone in its own padded sequence, so rewards and gradients equal the
plain computation (tested). Calls without segments (padded batches, generation) fall through to ordinary
SDPA, so a model loaded with this implementation behaves like ``sdpa`` everywhere else.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

import torch

ATTN_IMPLEMENTATION = "rewardlab_pairs"
_KWARG = "rewardlab_pairs"
_LAST_MLP = "_rewardlab_last_mlp"  # plain attribute on the last layer's attention: its MLP (not a submodule)
# Per thread (micro-batches may run concurrently, `trainer.parallel_micro_batches`), keyed by id(MLP):
# rows = (row length, reward positions) for the MLP's next call; scatter = what its forward hook scatters back into
_pending = threading.local()
_install_lock = threading.Lock()


def _state(kind: str) -> dict[int, Any]:
    table = getattr(_pending, kind, None)
    if table is None:
        table = {}
        setattr(_pending, kind, table)
    return table


class PairRowsUnsupported(RuntimeError):
    """The model cannot run shared-context rows (no score head reachable, another attention, or kwargs dropped)."""


@dataclasses.dataclass
class RowSegments:
    """The attention plan of a packed row: calls that cut the row, in order, into contiguous query runs.

    ``plan[i] = (n, context)``: call i's queries are the next n tokens of the row; its keys are the pieces in
    ``context`` -- (earlier call j, its first m tokens), root first -- followed by its own n tokens. An empty
    context is a plain causal call.
    """

    plan: list[tuple[int, tuple[tuple[int, int], ...]]]
    calls: int = 0  # attention layers that used the segments (checked after the forward)
    # [T] sequences each row token belongs to (a pair's shared context: 2): what padded sequences would count
    multiplicity: torch.Tensor | None = None
    reward_index: torch.Tensor | None = None  # distinct row positions whose final hidden state is read (row_rewards)
    _masks: dict[tuple[int, int, Any], torch.Tensor] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def length(self) -> int:
        return sum(n for n, _ in self.plan)

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
    outs = []
    if hasattr(segments, "attend"):  # scoring's dense-masked blocks (modeling/prefix_tree.py TreeBlocks)
        outs.append(segments.attend(query, key, value, dropout=dropout, scaling=scaling, **gqa))
        sizes: list[int] = []
    else:
        # Split the row ONCE into the calls' query runs: the backward of a split is one concatenation, where
        # slicing the whole row per call would make each call's backward zero-fill and add a row-sized gradient.
        sizes = [n for n, _ in segments.plan]
    qs, ks, vs = (query.split(sizes, dim=2), key.split(sizes, dim=2), value.split(sizes, dim=2)) if sizes else ((),) * 3
    for i, (n, context) in enumerate(segments.plan if sizes else ()):
        if not context:
            outs.append(sdpa(qs[i], ks[i], vs[i], dropout_p=dropout, scale=scaling, is_causal=True, **gqa))
            continue
        k2 = torch.cat([ks[j][:, :, :m] for j, m in context] + [ks[i]], dim=2)
        v2 = torch.cat([vs[j][:, :, :m] for j, m in context] + [vs[i]], dim=2)
        mask = segments.response_mask(k2.shape[2] - n, n, query.device)
        outs.append(sdpa(qs[i], k2, v2, attn_mask=mask, dropout_p=dropout, scale=scaling, **gqa))
    segments.calls += 1
    last_mlp = module.__dict__.get(_LAST_MLP)
    if last_mlp is not None and segments.reward_index is not None:  # the next MLP call runs only at the rewards
        _state("rows")[id(last_mlp)] = (segments.length, segments.reward_index)
    return torch.cat(outs, dim=2).transpose(1, 2).contiguous(), None


def _mlp_only_at_rewards(mlp: torch.nn.Module, args: tuple, kwargs: dict) -> Any:
    """Forward pre-hook: run the last MLP on the reward positions only (set by the attention just before)."""
    length, index = _state("rows").pop(id(mlp), (None, None))
    x = args[0] if args else None
    if index is None or len(args) != 1 or kwargs or x.dim() != 3 or x.shape[:2] != (1, length):
        _state("scatter").pop(id(mlp), None)
        return None
    _state("scatter")[id(mlp)] = (length, index)
    return (x[:, index],), {}


def _scatter_back(mlp: torch.nn.Module, args: tuple, kwargs: dict, out: Any) -> Any:
    """Forward hook: put the reward positions' MLP outputs back in a full-length (otherwise zero) tensor."""
    pending = _state("scatter").pop(id(mlp), None)
    if pending is None or not isinstance(out, torch.Tensor):
        return None
    length, index = pending
    return out.new_zeros((1, length, *out.shape[2:])).index_copy(1, index, out)


def _restrict_last_mlp(base: Any) -> None:
    """Make the last decoder layer's MLP (most of that layer's FLOPs) run only at the reward positions of a row.

    A reward reads the final hidden state at one position per response; after the last attention nothing
    mixes positions, so the MLP output elsewhere is never used (the rows' rewards and gradients are unchanged,
    tested). A sparse MoE block qualifies too: each token is routed on its own, with no capacity limit in
    transformers' experts, so its outputs at the reward positions are exact (tested on Mixtral and Qwen2-MoE); it is
    skipped when the router's load-balancing loss is asked for, which needs the router at every token. Hooks, not a replaced module: the state dict, saving and padded calls are untouched, and the
    hooks fire again when gradient checkpointing recomputes the layer. Idempotent; architectures without a
    ``layers[-1].self_attn`` / ``.mlp`` pair are left as they are.
    """
    layers = getattr(base, "layers", None)
    last = layers[-1] if isinstance(layers, torch.nn.ModuleList) and len(layers) else None
    attn, mlp = getattr(last, "self_attn", None), getattr(last, "mlp", None)
    if not isinstance(attn, torch.nn.Module) or not isinstance(mlp, torch.nn.Module):
        return
    with _install_lock:  # concurrent micro-batches' first calls must not install the hooks twice
        if _LAST_MLP in attn.__dict__:
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
    from rewardlab.modeling.forward import unwrap_peft

    config = getattr(unwrap_peft(model), "config", None)
    return getattr(config, "_attn_implementation", None) == ATTN_IMPLEMENTATION


def shared_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Tokens every sequence shares at its start, leaving each at least one token of its own."""
    from rewardlab.modeling.forward import common_prefix_length

    first = sequences[0]
    p = min(len(s) - 1 for s in sequences)
    for s in sequences[1:]:
        p = min(p, common_prefix_length(first, s))
    return max(p, 0)


class _Node:
    """A radix-tree node: a run of tokens, its children by first token (in insertion order), the sequences
    that end at its last token."""

    __slots__ = ("tokens", "children", "ends")

    def __init__(self, tokens: list[int]):
        self.tokens = tokens
        self.children: dict[int, _Node] = {}
        self.ends: list[int] = []

    def sequences(self) -> int:
        """How many sequences pass through this node (end in it or below)."""
        return len(self.ends) + sum(child.sequences() for child in self.children.values())


def _prefix_tree(sequences: Sequence[Sequence[int]]) -> _Node:
    root = _Node([])
    for k, seq in enumerate(sequences):
        if len(seq) == 0:
            raise ValueError(f"sequence {k} is empty: a conversation needs at least one token")
        node, i = root, 0
        while i < len(seq):
            child = node.children.get(seq[i])
            if child is None:
                node.children[seq[i]] = child = _Node(list(seq[i:]))
                node = child
                break
            t = child.tokens
            j, n = 1, min(len(t), len(seq) - i)
            while j < n and t[j] == seq[i + j]:
                j += 1
            if j < len(t):  # the sequence leaves (or ends inside) this node: split it there
                tail = _Node(t[j:])
                tail.children, tail.ends = child.children, child.ends
                child.tokens, child.children, child.ends = t[:j], {t[j]: tail}, []
            node, i = child, i + j
        node.ends.append(k)
    return root


def pack_sequences(sequences: Sequence[Sequence[int]]
                   ) -> tuple[torch.Tensor, torch.Tensor, RowSegments, list[int], int]:
    """Lay token sequences out in one row as a prefix tree (every shared prefix once).

    Returns input_ids [1, T], position_ids [1, T], segments, the row position of each sequence's last token (in
    input order) and T.
    """
    ids: list[int] = []
    pos: list[int] = []
    through: list[int] = []  # per row token: the sequences it belongs to
    plan: list[tuple[int, tuple[tuple[int, int], ...]]] = []
    last = [0] * len(sequences)
    root = _prefix_tree(sequences)
    # (node, its first position, the context pieces before it); a call follows first children down a chain
    stack = [(child, 0, ()) for child in reversed(root.children.values())]
    while stack:
        node, depth, context = stack.pop()
        call, n = len(plan), 0
        branches = []
        while True:
            ids += node.tokens
            pos += range(depth, depth + len(node.tokens))
            through += [node.sequences()] * len(node.tokens)
            n, depth = n + len(node.tokens), depth + len(node.tokens)
            for k in node.ends:
                last[k] = len(ids) - 1
            kids = list(node.children.values())
            # the other children, pushed so the deepest comes off the stack first (depth-first order)
            branches += reversed([(kid, depth, context + ((call, n),)) for kid in kids[1:]])
            if not kids:
                break
            node = kids[0]
        plan.append((n, context))
        stack += branches
    segments = RowSegments(plan, multiplicity=torch.tensor(through))
    return torch.tensor([ids]), torch.tensor([pos]), segments, last, len(ids)


def pack_group_rows(groups: Sequence[Sequence[Sequence[int]]]
                    ) -> tuple[torch.Tensor, torch.Tensor, RowSegments, list[list[int]], int]:
    """Lay groups of token sequences out in one row (`pack_sequences`: shared prefixes, within a group or across
    groups, computed once). Returns input_ids [1, T], position_ids [1, T], segments, the row position of each
    sequence's last token (per group, in input order) and T (all real tokens)."""
    if any(not seqs for seqs in groups):
        raise ValueError("a group needs at least one sequence")
    ids, pos, segments, flat, n = pack_sequences([s for seqs in groups for s in seqs])
    last, k = [], 0
    for seqs in groups:
        last.append(flat[k : k + len(seqs)])
        k += len(seqs)
    return ids, pos, segments, last, n


def pack_pair_rows(chosen: Sequence[Sequence[int]], rejected: Sequence[Sequence[int]]
                   ) -> tuple[torch.Tensor, torch.Tensor, RowSegments, torch.Tensor, torch.Tensor, int]:
    """Pairs in one row. Returns input_ids [1, T], position_ids [1, T], segments, chosen_index [k],
    rejected_index [k] (row positions of each reward token) and T."""
    ids, pos, segments, last, n = pack_group_rows([(c, r) for c, r in zip(chosen, rejected)])
    return ids, pos, segments, torch.tensor([e[0] for e in last]), torch.tensor([e[1] for e in last]), n


def row_rewards(model: Any, input_ids: torch.Tensor, position_ids: torch.Tensor, segments: RowSegments,
                index: torch.Tensor, router_logits: list | None = None) -> torch.Tensor:
    """Rewards (float32) read at the row positions `index` of a packed row.

    `router_logits`: a list to receive a mixture-of-experts model's router logits, one [T, experts] tensor per
    MoE layer. The last-layer shortcut is then off for this call: the router must see every token.
    """
    from rewardlab.modeling.forward import score_head, unwrap_peft

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
    # identical sequences share their last position; index_copy in the last MLP's hook needs distinct ones
    segments.calls, segments.reward_index = 0, torch.unique(index) if router_logits is None else None
    extra = {} if router_logits is None else {"output_router_logits": True}
    out = base(input_ids=input_ids, position_ids=position_ids, **{_KWARG: segments}, **extra)
    if router_logits is not None:
        router_logits.extend(out.router_logits)
    hidden = out.last_hidden_state[0]
    if segments.calls == 0:  # the architecture did not pass keyword arguments down to its attention
        raise PairRowsUnsupported(f"{type(base).__name__} does not route attention through the transformers "
                                  "attention interface with keyword arguments")
    return head(hidden[index]).squeeze(-1).float()  # the only positions the last MLP ran


def pair_rows_rewards(model: Any, input_ids: torch.Tensor, position_ids: torch.Tensor, segments: RowSegments,
                      chosen_index: torch.Tensor, rejected_index: torch.Tensor,
                      router_logits: list | None = None) -> torch.Tensor:
    """Rewards [2k] = [chosen rewards; rejected rewards] of a `pack_pair_rows` micro-batch."""
    return row_rewards(model, input_ids, position_ids, segments, torch.cat([chosen_index, rejected_index]),
                       router_logits)
