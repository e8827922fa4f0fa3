"""Every speed technique must give the rewards and gradients of the plain padded computation."""

import pytest
import torch

from rewardlab.fitting.batching import plan_micro_batches, step_indices, total_steps
from rewardlab.modeling.forward import (
    common_prefix_length,
    pack_shared_context,
    packed_pair_rewards,
    pad_batch,
    sequence_rewards,
)
from tests.helpers import grads


def test_shared_context_packing_equals_padded_rewards_and_gradients(model_and_pairs):
    model, tok, chosen, rejected = model_and_pairs
    model.zero_grad()
    ids, mask, last = pad_batch(chosen + rejected, tok.pad_token_id)
    plain = sequence_rewards(model, ids, mask, last)
    (plain * torch.linspace(1, 2, plain.numel())).sum().backward()
    g_plain = grads(model)
    model.zero_grad()
    packed_ids, mask4d, pos, ci, ri, ntok = pack_shared_context(chosen, rejected, tok.pad_token_id)
    packed = packed_pair_rewards(model, packed_ids, mask4d, pos, ci, ri)
    (packed * torch.linspace(1, 2, packed.numel())).sum().backward()
    g_packed = grads(model)
    assert torch.allclose(plain, packed, atol=1e-5)
    assert g_plain.keys() == g_packed.keys()
    for k in g_plain:
        assert torch.allclose(g_plain[k], g_packed[k], atol=1e-5, rtol=1e-4), k
    assert ntok < int(mask.sum())  # the shared contexts were computed once


def test_pack_layout_positions_and_mask():
    ids, mask, pos, ci, ri, ntok = pack_shared_context([[5, 6, 7, 8]], [[5, 6, 9]], pad_id=0)
    # prefix [5, 6], chosen suffix [7, 8], rejected suffix [9] -> row [5, 6, 7, 8, 9]
    assert ids.tolist() == [[5, 6, 7, 8, 9]] and pos.tolist() == [[0, 1, 2, 3, 2]]
    assert (ci.tolist(), ri.tolist(), ntok) == ([3], [4], 5)
    m = mask[0, 0].int().tolist()
    assert m[4] == [1, 1, 0, 0, 1]  # rejected token sees the prefix and itself, not the chosen suffix
    assert m[3] == [1, 1, 1, 1, 0]
    # identical prefixes keep at least one token per suffix
    _, _, _, ci, ri, _ = pack_shared_context([[1, 2]], [[1, 2, 3]], pad_id=0)
    assert (ci.item(), ri.item()) == (1, 3)
    assert common_prefix_length([1, 2, 3], [1, 2, 4]) == 2


def test_data_order_is_a_seeded_stream_with_full_batches():
    assert total_steps(10, 4, 1.0) == 3 and total_steps(10, 4, 2.0, max_steps=4) == 4
    steps = [step_indices(s, 10, 4, seed=1) for s in range(5)]
    assert all(len(s) == 4 for s in steps)
    flat = [i for s in steps for i in s]
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))  # epoch by epoch
    assert steps[2] == step_indices(2, 10, 4, seed=1)  # resumable from the step number alone
    assert steps != [step_indices(s, 10, 4, seed=2) for s in range(5)]


def test_micro_batches_are_length_grouped_and_evenly_sharded():
    lengths = [5, 50, 10, 40, 20, 30, 60, 1]
    mine = [plan_micro_batches(range(8), lengths, 2, world_size=2, rank=r) for r in (0, 1)]
    assert mine[0] == [[6, 1], [4, 2]] and mine[1] == [[3, 5], [0, 7]]
    assert sorted(i for r in mine for mb in r for i in mb) == list(range(8))  # sharded, not duplicated
    with pytest.raises(ValueError, match="evenly"):
        plan_micro_batches(range(6), lengths, 2, world_size=2)
