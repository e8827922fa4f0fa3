"""How many tokens a set of token sequences costs once every shared prefix is computed once, and how to cut a
batch into prefix-tree rows that respect a budget of such tokens.

Why: rollout scoring (PPO, GRPO, RLOO, best-of-n) sends a reward model 8-16 responses per prompt, each as a full
text, and the prompt is often longer than a response; a system prompt is shared by every conversation. The
packed rows (`training.pair_rows.pack_sequences`) already lay whatever one row holds out as a prefix tree; this
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
