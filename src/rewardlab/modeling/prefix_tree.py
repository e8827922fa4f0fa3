"""How many tokens a set of token sequences costs once every shared prefix is computed once, and how to cut a
batch into prefix-tree rows that respect a budget of such tokens.

Why: rollout scoring (PPO, GRPO, RLOO, best-of-n) sends a reward model 8-16 responses per prompt, each as a full
text, and the prompt is often longer than a response; a system prompt is shared by every conversation. The
packed rows (`modeling.pair_rows.pack_sequences`) already lay whatever one row holds out as a prefix tree; this
module decides WHICH sequences share a row, from the token ids alone, so a prompt's responses land together
whichever request or call they came from.

The counting rests on one fact about sorted order: sort the sequences lexicographically; the longest prefix a
sequence shares with ANY earlier one is the one it shares with its predecessor. So the tree of the sequences has
``sum(len(s_i) - lcp(s_i, s_{i-1}))`` tokens (`tree_tokens`): an identical sequence adds 0, a sequence that
extends another adds its extra tokens, and a prefix of another still keeps its own last position (it ends inside
the other's path; `pack_sequences` reads its reward there).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Leading tokens `a` and `b` share."""
    n = min(len(a), len(b))
    if n and a[0] != b[0]:  # the usual case between unrelated prompts: answered without a loop
        return 0
    if list(a[:n]) == list(b[:n]):
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]; bisect with C-speed slice comparisons
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def tree_order(sequences: Sequence[Sequence[int]]) -> list[int]:
    """Indices of `sequences` in lexicographic order of their tokens: the depth-first order of their prefix tree
    (a sequence before every sequence it is a prefix of; equal sequences adjacent)."""
    return sorted(range(len(sequences)), key=lambda i: list(sequences[i]))


def tree_tokens(sequences: Sequence[Sequence[int]]) -> int:
    """Tokens of the prefix tree of `sequences`: what a packed row holding all of them computes."""
    order = tree_order(sequences)
    total, prev = 0, None
    for i in order:
        seq = sequences[i]
        total += len(seq) - (common_prefix_length(prev, seq) if prev is not None else 0)
        prev = seq
    return total


class PrefixTokens:
    """A growing set of sequences and its `tree_tokens`, updated per added sequence in O(log n) comparisons.

    Inserting s between its sorted neighbours a and b adds ``len(s) - max(lcp(a, s), lcp(s, b))`` tokens (b's own
    share changes from ``lcp(a, b)`` to ``lcp(s, b)``, and ``lcp(a, b) = min(lcp(a, s), lcp(s, b))``).
    `submitted` counts every token added, shared or not.
    """

    def __init__(self) -> None:
        self._sorted: list[list[int]] = []
        self.total = 0
        self.submitted = 0

    def __len__(self) -> int:
        return len(self._sorted)

    def cost(self, seq: Sequence[int]) -> int:
        """Tokens `add(seq)` would add."""
        seq = list(seq)
        k = bisect.bisect_left(self._sorted, seq)
        shared = 0
        if k > 0:
            shared = common_prefix_length(self._sorted[k - 1], seq)
        if k < len(self._sorted):
            shared = max(shared, common_prefix_length(seq, self._sorted[k]))
        return len(seq) - shared

    def add(self, seq: Sequence[int]) -> int:
        """Add `seq`; returns the tokens it added to the tree."""
        added = self.cost(seq)
        bisect.insort(self._sorted, list(seq))
        self.total += added
        self.submitted += len(seq)
        return added

    def copy(self) -> PrefixTokens:
        other = PrefixTokens()
        other._sorted, other.total, other.submitted = list(self._sorted), self.total, self.submitted
        return other


def plan_tree_rows(sequences: Sequence[Sequence[int]], max_sequences: int,
                   max_tokens: int | None = None) -> list[list[int]]:
    """Cut `sequences` into rows of at most `max_sequences` sequences and `max_tokens` tree tokens each (a
    sequence longer than `max_tokens` alone gets a row of its own). Returns each row's indices, in tree order.

    Rows follow the tree's depth-first order, so sequences that share a prefix share a row; when a row is full,
    it is cut where the fewest shared tokens are lost (among the cuts that keep at least half of the row),
    which for a GRPO batch is a prompt's boundary, not the middle of its responses. Every cut recomputes the
    prefix the two sides share, and nothing else: the rows' tokens are ``tree_tokens`` plus those prefixes.
    """
    if max_sequences < 1:
        raise ValueError(f"max_sequences must be at least 1, got {max_sequences}")
    order = tree_order(sequences)

    def fits(count: int, tokens: int) -> bool:
        return count <= max_sequences and (max_tokens is None or tokens <= max_tokens)

    def layout(indices: list[int]) -> tuple[list[int], int]:
        """Each sequence's prefix shared with the previous one (0 for the first), and the row's tokens."""
        shares = [0] + [common_prefix_length(sequences[a], sequences[b]) for a, b in zip(indices, indices[1:])]
        return shares, sum(len(sequences[j]) - s for j, s in zip(indices, shares))

    rows: list[list[int]] = []
    row: list[int] = []
    shares: list[int] = []  # shares[j] = lcp(row[j], row[j - 1]) (0 for the first)
    tokens = 0
    for i in order:
        seq = sequences[i]
        share = common_prefix_length(sequences[row[-1]], seq) if row else 0
        if row and not fits(len(row) + 1, tokens + len(seq) - share):
            # cut before row[c] (c >= half the row; c == len(row): before `seq`) where the least shared prefix is
            # lost; ties: the latest cut. The moved tail must fit with `seq`, else the row is closed as it is.
            cut = min(range((len(row) + 1) // 2, len(row) + 1),
                      key=lambda c: (shares[c] if c < len(row) else share, -c))
            tail = row[cut:]
            tail_shares, tail_tokens = layout(tail + [i])
            if not tail or not fits(len(tail) + 1, tail_tokens):
                cut, tail, tail_shares, tail_tokens = len(row), [], [0], len(seq)
            rows.append(row[:cut])
            row, shares, tokens = tail + [i], tail_shares, tail_tokens
            continue
        row.append(i)
        shares.append(share)
        tokens += len(seq) - share
    if row:
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------------ block rows
class TreeBlocks:
    """The attention plan of a prefix-tree row laid out in tree order, as a few calls with dense masks.

    Why not one call per branch (`modeling.pair_rows.RowSegments`): a GRPO batch has a branch per response, so
    64 prompts x 8 responses make 512 attention calls per layer, each concatenating its ancestors' keys; measured
    on SmolLM2-135M (CPU, 4 x 8 hh-rlhf rollouts) the concatenations alone took as long as every linear layer.
    Here the row is cut into consecutive query blocks of about `block_tokens`; a block's keys are the ancestors of
    its first token (the only ancestors outside it) followed by its own tokens, gathered once per layer, and its
    mask says which of them each query sees. In tree (depth-first) order every token's subtree is a contiguous run
    ``[position, end)``, so query q sees key k exactly when ``k <= q < end[k]``: its own path to the root, nothing
    of its siblings'. Built once per row, shared by all layers.

    Duck-types the parts of `RowSegments` that `modeling.pair_rows.row_rewards` and its last-layer shortcut use
    (``length``, ``calls``, ``reward_index``, ``multiplicity``); `attend` runs one layer's attention.
    """

    def __init__(self, blocks: list[tuple[int, int, Any, Any]], length: int, multiplicity: Any = None):
        self.blocks = blocks  # (first, end, key positions [K] (long), mask [end - first, K] (bool))
        self._length = length
        self.calls = 0
        self.reward_index = None
        self.multiplicity = multiplicity
        self._on: dict[Any, list[tuple[int, int, Any, Any]]] = {}

    @property
    def length(self) -> int:
        return self._length

    def attend(self, query: Any, key: Any, value: Any, dropout: float = 0.0, scaling: float | None = None,
               enable_gqa: bool = False) -> Any:
        """query [1, H, T, D], key/value [1, Hkv, T, D] -> [1, H, T, D]."""
        import torch

        blocks = self._on.get(query.device)
        if blocks is None:  # moved to the model's device once per row, not once per layer
            blocks = [(a, e, None, None) if mask is None else (a, e, keys.to(query.device), mask.to(query.device))
                      for a, e, keys, mask in self.blocks]
            self._on[query.device] = blocks
        gqa = {"enable_gqa": True} if enable_gqa else {}
        sdpa = torch.nn.functional.scaled_dot_product_attention
        outs = []
        for a, e, keys, mask in blocks:
            if mask is None:  # a block with no ancestors outside it and one causal chain: the plain kernel
                outs.append(sdpa(query[:, :, a:e], key[:, :, a:e], value[:, :, a:e], dropout_p=dropout,
                                 scale=scaling, is_causal=True, **gqa))
                continue
            outs.append(sdpa(query[:, :, a:e], key.index_select(2, keys), value.index_select(2, keys),
                             attn_mask=mask, dropout_p=dropout, scale=scaling, **gqa))
        return torch.cat(outs, dim=2) if len(outs) > 1 else outs[0]


def pack_tree_blocks(sequences: Sequence[Sequence[int]], block_tokens: int = 512
                     ) -> tuple[Any, Any, TreeBlocks, list[int], int]:
    """Lay `sequences` out as one prefix-tree row in tree order (every shared prefix once) with a `TreeBlocks`
    attention plan. Returns input_ids [1, T], position_ids [1, T], the plan, the row position of each sequence's
    last token (input order) and T.

    The layout is each sequence's new suffix, in sorted order: a sequence's tokens past the prefix it shares with
    its predecessor (`tree_order`), at positions continuing that prefix. Blocks start at a sequence's first new
    token, so a block's outside keys are one shared prefix.
    """
    import torch

    if any(len(s) == 0 for s in sequences):
        k = next(i for i, s in enumerate(sequences) if len(s) == 0)
        raise ValueError(f"sequence {k} is empty: a conversation needs at least one token")
    order = tree_order(sequences)
    ids: list[int] = []
    depth: list[int] = []
    end: list[int] = []  # per row token: the end of its subtree (set when a later sequence leaves it, else T)
    path: list[int] = []  # row positions of the latest sequence's tokens, by depth
    cuts: list[tuple[int, list[int]]] = []  # (first position of a block, its first token's ancestors)
    last = [0] * len(sequences)
    prev: Sequence[int] | None = None
    for i in order:
        seq = sequences[i]
        shared = common_prefix_length(prev, seq) if prev is not None else 0
        for p in path[shared:]:  # the previous path's tokens below the branch point: their subtrees end here
            end[p] = len(ids)
        del path[shared:]
        if shared < len(seq) and (not cuts or len(ids) - cuts[-1][0] >= block_tokens):
            cuts.append((len(ids), list(path)))  # a block starts with this suffix; `path` = its ancestors
        for d in range(shared, len(seq)):
            path.append(len(ids))
            ids.append(seq[d])
            depth.append(d)
            end.append(-1)
        last[i] = path[len(seq) - 1]
        prev = seq
    n = len(ids)
    for p in path:
        end[p] = n
    end_t, depth_t = torch.tensor(end), torch.tensor(depth)
    # sequences through each token: those whose last token lies in its subtree [position, end)
    lasts = torch.tensor(sorted(last))
    through = torch.searchsorted(lasts, end_t) - torch.searchsorted(lasts, torch.arange(n))
    blocks = []
    for (a, ancestors), (e, _) in zip(cuts, cuts[1:] + [(n, [])]):
        chain = bool((depth_t[a + 1 : e] == depth_t[a : e - 1] + 1).all())
        if not ancestors and chain:  # one causal run from the root: the plain kernel
            blocks.append((a, e, None, None))
            continue
        keys = torch.tensor(ancestors + list(range(a, e)))
        queries = torch.arange(a, e)
        mask = (keys[None, :] <= queries[:, None]) & (queries[:, None] < end_t[keys][None, :])
        blocks.append((a, e, keys, mask))
    plan = TreeBlocks(blocks, n, multiplicity=through)
    return torch.tensor([ids]), depth_t[None, :], plan, last, n
