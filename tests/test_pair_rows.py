"""Padding-free pair rows must give the rewards and gradients of the plain padded computation."""

import json

import pytest
import torch

from rewardlab.modeling.forward import pad_batch, sequence_rewards
from rewardlab.modeling.pair_rows import (
    PairRowsUnsupported,
    pack_pair_rows,
    pair_rows_rewards,
)
from tests.helpers import grads
from tests.trajectory import assert_same_adam_trajectory


def _plain_and_rows(model_and_pairs, rows_model, checkpointing=False):  # noqa: F811
    plain_model, tok, chosen, rejected = model_and_pairs
    model, _ = rows_model
    model.load_state_dict(plain_model.state_dict())
    plain_model.zero_grad()
    model.zero_grad()
    ids, mask, last = pad_batch(chosen + rejected, tok.pad_token_id)
    plain = sequence_rewards(plain_model, ids, mask, last)
    (plain * torch.linspace(1, 2, plain.numel())).sum().backward()
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.train()
    try:
        rids, pos, segments, ci, ri, ntok = pack_pair_rows(chosen, rejected)
        rows = pair_rows_rewards(model, rids, pos, segments, ci, ri)
        (rows * torch.linspace(1, 2, rows.numel())).sum().backward()
    finally:
        if checkpointing:
            model.gradient_checkpointing_disable()
            model.eval()
    return plain, rows, grads(plain_model), grads(model), int(mask.sum()), ntok, segments


@pytest.mark.parametrize("checkpointing", [False, True])
def test_pair_rows_equal_padded_rewards_and_gradients(model_and_pairs, rows_model, checkpointing):  # noqa: F811
    plain, rows, g_plain, g_rows, real_padded, ntok, segments = _plain_and_rows(model_and_pairs, rows_model,
                                                                                checkpointing)
    assert torch.allclose(plain, rows, atol=1e-5)
    assert g_plain.keys() == g_rows.keys()
    for k in g_plain:
        assert torch.allclose(g_plain[k], g_rows[k], atol=1e-5, rtol=1e-4), k
    assert ntok < real_padded  # shared contexts computed once, and the row holds no padding at all
    assert segments.calls >= 2  # every attention layer used the segments (recomputed ones too, if checkpointing)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_last_mlp_runs_only_at_the_reward_positions_of_a_row(model_and_pairs, rows_model, checkpointing):  # noqa: F811
    """The last layer's MLP sees the 2k reward positions of a row (also when checkpointing recomputes it) and
    every position of an ordinary padded batch; the rewards and gradients stay those of the padded maths."""
    model, tok = rows_model
    mlp = model.model.layers[-1].mlp
    _, _, chosen, rejected = model_and_pairs
    with torch.no_grad():  # rewardlab's hooks are installed by the first row forward
        pair_rows_rewards(model, *pack_pair_rows(chosen, rejected)[:5])
    seen = []
    # a pre-hook registered after rewardlab's sees the inputs the MLP really runs on (a checkpoint recompute
    # stops early inside the MLP, so a forward hook would miss it)
    handle = mlp.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape[:2])))
    try:
        plain, rows, g_plain, g_rows, *_ = _plain_and_rows(model_and_pairs, rows_model, checkpointing)
        assert seen[0] == (1, 2 * len(chosen))  # the forward of the row: one position per response
        assert all(shape == (1, 2 * len(chosen)) for shape in seen)  # and the recompute, if any
        assert len(seen) == (2 if checkpointing else 1)
        assert torch.allclose(plain, rows, atol=1e-5)
        for k in g_plain:
            assert torch.allclose(g_plain[k], g_rows[k], atol=1e-5, rtol=1e-4), k
        seen.clear()
        ids, mask, last = pad_batch(chosen, tok.pad_token_id)
        with torch.no_grad():
            sequence_rewards(model, ids, mask, last)
        assert seen == [tuple(ids.shape)]  # padded batches are untouched
    finally:
        handle.remove()


def test_pair_rows_layout():
    ids, pos, segments, ci, ri, n = pack_pair_rows([[5, 6, 7, 8], [1, 2]], [[5, 6, 9], [1, 2, 3]])
    # pair 1: context [5, 6], chosen [7, 8], rejected [9]; pair 2: chosen [1, 2] is the rejected's prefix
    assert ids.tolist() == [[5, 6, 7, 8, 9, 1, 2, 3]] and n == 8
    assert pos.tolist() == [[0, 1, 2, 3, 2, 0, 1, 2]]
    # calls: [5 6 7 8] causal; [9] after the first 2 tokens of call 0; [1 2 3] causal (chosen ends inside it)
    assert segments.plan == [(4, ()), (1, ((0, 2),)), (3, ())] and segments.length == 8
    assert ci.tolist() == [3, 6] and ri.tolist() == [4, 7]


def test_prefix_tree_rows_share_prefixes_across_groups():
    from rewardlab.modeling.pair_rows import pack_group_rows

    sys_prompt = [1, 2, 3]
    groups = [[sys_prompt + [4, 5, 6], sys_prompt + [4, 5, 7]], [sys_prompt + [8, 9], sys_prompt + [8, 10, 11]],
              [[12, 13]], [sys_prompt + [4, 5, 6]]]  # the last repeats the first sequence
    ids, pos, segments, last, n = pack_group_rows(groups)
    #        sys      ctx1  6  | 7 | ctx2 9 | 10 11 | 12 13
    assert ids.tolist() == [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]] and n == 13
    assert pos.tolist() == [[0, 1, 2, 3, 4, 5, 5, 3, 4, 4, 5, 0, 1]]
    assert segments.plan == [(6, ()), (1, ((0, 5),)), (2, ((0, 3),)), (2, ((0, 3), (2, 1))), (2, ())]
    assert last == [[5, 6], [8, 10], [12], [5]]
    for seqs, ends in zip(groups, last):  # each sequence is the tokens along its path, positions 0..len-1
        for seq, end in zip(seqs, ends):
            assert ids[0, end].item() == seq[-1] and pos[0, end].item() == len(seq) - 1
    with pytest.raises(ValueError, match="empty"):
        pack_group_rows([[[1, 2], []]])


def test_prefix_tree_rows_equal_padded_rewards_and_gradients(model_and_pairs, rows_model):  # noqa: F811
    """Pairs that share a prefix across pairs (like a system prompt), and a chosen response that is a prefix of
    its rejected one: the tree row computes each shared token once and still gives the padded maths."""
    plain_model, tok, chosen, rejected = model_and_pairs
    model, _ = rows_model
    model.load_state_dict(plain_model.state_dict())
    prefix = chosen[0][:3]
    c = [prefix + s for s in chosen[:3]] + [list(chosen[0])]
    r = [prefix + s for s in rejected[:3]] + [list(chosen[0]) + list(rejected[0][-2:])]
    plain_model.zero_grad()
    model.zero_grad()
    ids, mask, last = pad_batch(c + r, tok.pad_token_id)
    plain = sequence_rewards(plain_model, ids, mask, last)
    (plain * torch.linspace(1, 2, plain.numel())).sum().backward()
    rids, pos, segments, ci, ri, ntok = pack_pair_rows(c, r)
    rows = pair_rows_rewards(model, rids, pos, segments, ci, ri)
    (rows * torch.linspace(1, 2, rows.numel())).sum().backward()
    assert ntok < sum(len(x) for x in c + r) - 3 * 3  # the shared prefix ran once, not once per pair
    assert len(segments.plan) >= 5 and any(len(ctx) >= 2 for _, ctx in segments.plan)  # a three-level tree
    assert torch.allclose(plain, rows, atol=1e-5)
    g_plain, g_rows = grads(plain_model), grads(model)
    for k in g_plain:
        assert torch.allclose(g_plain[k], g_rows[k], atol=1e-5, rtol=1e-4), k


def test_model_with_pair_rows_attention_scores_padded_batches_like_sdpa(model_and_pairs, rows_model):  # noqa: F811
    plain_model, tok, chosen, rejected = model_and_pairs
    model, _ = rows_model
    model.load_state_dict(plain_model.state_dict())
    ids, mask, last = pad_batch(chosen, tok.pad_token_id)
    with torch.no_grad():
        assert torch.allclose(sequence_rewards(model, ids, mask, last), sequence_rewards(plain_model, ids, mask, last),
                              atol=1e-6)


def test_pair_rows_refuse_a_model_without_the_attention(model_and_pairs):  # noqa: F811
    plain_model, _, chosen, rejected = model_and_pairs
    ids, pos, segments, ci, ri, _ = pack_pair_rows(chosen[:2], rejected[:2])
    with pytest.raises(PairRowsUnsupported, match="rewardlab_pairs"):
        pair_rows_rewards(plain_model, ids, pos, segments, ci, ri)


def test_trained_folder_names_plain_sdpa_not_the_training_attention(tmp_path, tiny_model_dir, synthetic_jsonl):
    from rewardlab.config import TrainConfig
    from rewardlab.training.trainer import train

    cfg = TrainConfig(model=str(tiny_model_dir), data=str(synthetic_jsonl), output_dir=str(tmp_path / "out"),
                      batch_size=4, micro_batch_size=2, max_steps=2, eval_fraction=0.0, report_to="none",
                      eval_before_training=False, precision="fp32")
    result = train(cfg, quiet=True)
    saved = json.loads((result.output_dir / "config.json").read_text())
    assert "rewardlab_pairs" not in json.dumps(saved)
    from transformers import AutoModelForSequenceClassification

    reloaded = AutoModelForSequenceClassification.from_pretrained(result.output_dir)
    assert reloaded.config._attn_implementation != "rewardlab_pairs"


def test_trainer_with_pair_rows_follows_the_plain_trajectory(tmp_path, tiny_model_dir, synthetic_jsonl):
    """Same seed, same pairs: pair rows (micro-batches of 4 and of 1) and plain padded batches train alike."""
    from rewardlab.config import TrainConfig
    from rewardlab.training.trainer import train

    runs = {}
    for name, shared, micro in (("plain", False, 4), ("rows4", True, 4), ("rows1", True, 1)):
        cfg = TrainConfig(model=str(tiny_model_dir), data=str(synthetic_jsonl), output_dir=str(tmp_path / name),
                          batch_size=4, micro_batch_size=micro, max_steps=3, eval_fraction=0.0, report_to="none",
                          eval_before_training=False, precision="fp32", shared_context=shared, learning_rate=1e-3)
        result = train(cfg, quiet=True)
        log = json.loads((result.output_dir / "training_summary.json").read_text())["train_log"]
        runs[name] = ([r["loss"] for r in log],
                      torch.cat([p.detach().flatten() for p in result.model.parameters()]))
    assert runs["rows4"][0] != pytest.approx([runs["rows4"][0][0]] * 3)  # it did train
    for name in ("rows4", "rows1"):
        assert runs[name][0] == pytest.approx(runs["plain"][0], abs=1e-5)
        assert_same_adam_trajectory(runs[name][1], runs["plain"][1], lr=1e-3, steps=3)


def test_sparse_embedding_gradients_give_the_dense_update(tmp_path, tiny_model_dir, synthetic_jsonl, monkeypatch):
    """The trainer's sparse embedding gradients (summed over micro-batches, densified once per step) train
    exactly like dense ones."""
    import rewardlab.training.trainer as T
    from rewardlab.config import TrainConfig

    def run(name):
        cfg = TrainConfig(model=str(tiny_model_dir), data=str(synthetic_jsonl), output_dir=str(tmp_path / name),
                          batch_size=4, micro_batch_size=1, max_steps=3, eval_fraction=0.0, report_to="none",
                          eval_before_training=False, precision="fp32", learning_rate=1e-3)
        result = T.train(cfg, quiet=True)
        emb = result.model.get_input_embeddings()
        return emb.sparse, torch.cat([p.detach().flatten() for p in result.model.parameters()]), emb.weight

    seen = []
    original = T._sparse_embedding_gradients
    monkeypatch.setattr(T, "_sparse_embedding_gradients", lambda m: seen.append(original(m)) or seen[-1])
    sparse_flag, sparse_params, weight = run("sparse")
    assert seen and seen[0] is weight and not sparse_flag  # it was used, and the returned model is ordinary
    monkeypatch.setattr(T, "_sparse_embedding_gradients", lambda m: None)
    _, dense_params, _ = run("dense")
    assert torch.allclose(sparse_params, dense_params, atol=1e-6)
