"""The prefix-tree token counting and row planning (modeling/prefix_tree.py), on hand-made token lists."""

from __future__ import annotations

import random

import pytest

from rewardlab.modeling.prefix_tree import (
    PrefixTokens,
    common_prefix_length,
    plan_tree_rows,
    tree_order,
    tree_tokens,
)


def distinct_prefixes(sequences):
    """The tree's tokens by definition: one node per distinct non-empty prefix."""
    return len({tuple(s[:k]) for s in sequences for k in range(1, len(s) + 1)})


def test_common_prefix_length():
    assert common_prefix_length([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_length([1, 2], [1, 2, 3]) == 2 and common_prefix_length([5], [6]) == 0
    assert common_prefix_length([], [1]) == 0 and common_prefix_length([7] * 100, [7] * 100) == 100
    a = list(range(1000))
    for k in (0, 1, 499, 999):
        b = a[:k] + [-1] + a[k + 1 :]
        assert common_prefix_length(a, b) == k


def test_tree_tokens_by_hand():
    sys_prompt = [1, 2, 3]
    seqs = [sys_prompt + [4, 5, 6], sys_prompt + [4, 5, 7], sys_prompt + [8], [9, 9], sys_prompt + [4, 5, 6],
            sys_prompt + [4]]
    # 3 (system) + 2 ([4, 5]) + 1 (6) + 1 (7) + 1 (8) + 2 ([9, 9]); the repeat and the prefix [1 2 3 4] add nothing
    assert tree_tokens(seqs) == 10 == distinct_prefixes(seqs)
    assert tree_tokens([[1, 2], [3, 4]]) == 4  # nothing shared
    order = tree_order(seqs)
    assert order.index(5) < order.index(0) and abs(order.index(0) - order.index(4)) == 1


def test_prefix_tokens_grows_like_the_tree():
    rng = random.Random(0)
    prompts = [[rng.randrange(5) for _ in range(rng.randrange(1, 6))] for _ in range(4)]
    seqs = [rng.choice(prompts) + [rng.randrange(3) for _ in range(rng.randrange(0, 4))] for _ in range(60)]
    seqs = [s for s in seqs if s]
    counter = PrefixTokens()
    for k, s in enumerate(seqs):
        before = counter.total
        assert counter.cost(s) == counter.add(s) == counter.total - before
        assert counter.total == distinct_prefixes(seqs[: k + 1])
    assert counter.submitted == sum(map(len, seqs)) and len(counter) == len(seqs)
    copy = counter.copy()
    copy.add([99, 98])
    assert copy.total == counter.total + 2 and len(counter) == len(seqs)


def grpo_batch(prompts=4, responses=8, system=20, prompt=30, response=5, seed=0):
    rng = random.Random(seed)
    sys_prompt = [1] * system
    out = []
    for p in range(prompts):
        ctx = sys_prompt + [100 + p] + [rng.randrange(2, 50) for _ in range(prompt - 1)]
        out += [ctx + [200 + r] + [rng.randrange(2, 50) for _ in range(response - 1)] for r in range(responses)]
    rng.shuffle(out)
    return out


def test_plan_tree_rows_cuts_at_prompt_boundaries():
    seqs = grpo_batch()  # 4 prompts x 8 responses, shuffled: a prompt's responses are found by their ids
    one_prompt = 30 + 8 * 5  # a prompt and its 8 responses, the system prompt aside
    assert tree_tokens(seqs) == 20 + 4 * one_prompt
    # room for 2.5 prompts: the row closes at a prompt's boundary, not after half of the third prompt's responses
    rows = plan_tree_rows(seqs, max_sequences=64, max_tokens=20 + 2 * one_prompt + 35)
    prompt_of = [{seqs[i][20] for i in row} for row in rows]
    assert [len(p) for p in prompt_of] == [2, 2] and len(set.union(*prompt_of)) == 4
    assert [tree_tokens([seqs[i] for i in row]) for row in rows] == [20 + 2 * one_prompt] * 2
    # by count: 12 per row; the cut keeps at least half a row, so prompts split only where no boundary is near
    rows = plan_tree_rows(seqs, max_sequences=12)
    assert all(len(r) <= 12 for r in rows) and sorted(i for r in rows for i in r) == list(range(32))
    assert [len(r) for r in rows] == [8, 8, 8, 8]


@pytest.mark.parametrize("max_sequences, max_tokens", [(1, None), (3, None), (5, 40), (64, 25), (7, 1)])
def test_plan_tree_rows_covers_everything_within_budgets(max_sequences, max_tokens):
    rng = random.Random(max_sequences)
    seqs = grpo_batch(prompts=3, responses=5, system=4, prompt=6, response=3, seed=1)
    seqs += [seqs[0], seqs[1][:12], [7] * 30, [8]]  # a repeat, an exact prefix, a long loner, a 1-token one
    rng.shuffle(seqs)
    rows = plan_tree_rows(seqs, max_sequences, max_tokens)
    assert sorted(i for r in rows for i in r) == list(range(len(seqs)))
    for r in rows:
        assert len(r) <= max_sequences
        assert max_tokens is None or tree_tokens([seqs[i] for i in r]) <= max_tokens or len(r) == 1
    with pytest.raises(ValueError, match="max_sequences"):
        plan_tree_rows(seqs, 0)


def visible(plan, n):
    """Dense [T, T] visibility of a TreeBlocks plan (row position q sees row position k)."""
    import torch

    seen = torch.zeros(n, n, dtype=torch.bool)
    for a, e, keys, mask in plan.blocks:
        if mask is None:
            seen[a:e, a:e] = torch.ones(e - a, e - a, dtype=torch.bool).tril()
        else:
            seen[a:e, keys] = mask
    return seen


@pytest.mark.parametrize("block_tokens", [1, 7, 40, 10_000])
def test_pack_tree_blocks_each_token_sees_exactly_its_path(block_tokens):
    from rewardlab.modeling.prefix_tree import pack_tree_blocks

    seqs = grpo_batch(prompts=3, responses=4, system=5, prompt=6, response=3, seed=2)
    seqs += [seqs[0], seqs[1][:9], seqs[2][:1], [7, 7, 7], seqs[3] + [1, 2]]  # repeat, prefixes, loner, extension
    ids, pos, plan, last, n = pack_tree_blocks(seqs, block_tokens)
    assert n == tree_tokens(seqs) == ids.shape[1] == plan.length
    seen = visible(plan, n)
    depth = pos[0].tolist()
    for q in range(n):  # one token per depth from the root to itself
        assert sorted(depth[k] for k in seen[q].nonzero().flatten().tolist()) == list(range(depth[q] + 1))
    for seq, end in zip(seqs, last):  # each sequence's last token sees exactly that sequence, in order
        path = seen[end].nonzero().flatten().tolist()
        assert ids[0, path].tolist() == seq and depth[end] == len(seq) - 1
    # multiplicity: sequences through each token (the root's first token: all that start with it)
    assert plan.multiplicity[last[0]].item() == sum(s[: len(seqs[0])] == seqs[0] for s in seqs)
    if block_tokens == 10_000:
        assert len(plan.blocks) == 1
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        pack_tree_blocks([[1], []])
