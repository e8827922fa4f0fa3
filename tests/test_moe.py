"""Mixture-of-experts reward models (issue 22) on tiny random Mixtral and Qwen2-MoE models built from configs.

The router's load-balancing loss counts every conversation's real tokens as padded sequences do, so the
prefix-tree rows (shared context once), the 4-D-masked rows and padded sequences give the same rewards, loss and
gradients; the last-layer shortcut, lean activations and LoRA are exact or skipped by design; a trained MoE
folder scores through RewardScorer like any other.
"""

import json

import pytest
import torch

from rewardlab.config import TrainConfig
from rewardlab.data.templates import ConversationEncoder
from rewardlab.modeling import lean
from rewardlab.modeling.forward import (
    pack_shared_context,
    packed_pair_rewards,
    packed_token_multiplicity,
    pad_batch,
    sequence_rewards,
)
from rewardlab.modeling.loading import load_reward_model
from rewardlab.modeling.moe import MoeRouting, load_balancing_loss, moe_routing, sparse_moe_block_classes
from rewardlab.modeling.pair_rows import pack_pair_rows, pair_rows_rewards, register_pair_rows_attention
from tests.helpers import synthetic_pairs
from tests.trajectory import assert_same_adam_trajectory

ARCHS = ["mixtral", "qwen2_moe"]
# fp32 on 32-wide tiny models: the layouts sum the same products in other orders (index_add per expert, SDPA
# over other key sets), so values agree to ~1e-7 relative; 1e-5 leaves room without hiding a real difference
# (a token routed to other experts, or a padded token counted, moves the loss by >1e-3)
ATOL, RTOL = 1e-5, 1e-4


@pytest.fixture(scope="module", params=ARCHS)
def moe_dir(request, tmp_path_factory):
    from rewardlab.modeling.tiny import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path_factory.mktemp(request.param), architecture=request.param)


@pytest.fixture(scope="module")
def moe_models(moe_dir):
    """(padded model, pair-rows model with the same weights, tokenizer, chosen ids, rejected ids)."""
    plain, tok = load_reward_model(str(moe_dir))
    rows, _ = load_reward_model(str(moe_dir), attn_implementation=register_pair_rows_attention())
    rows.load_state_dict(plain.state_dict())
    enc = ConversationEncoder(tok, 4096)
    pairs = synthetic_pairs(5)
    chosen = [enc.encode(p.chosen_messages())[0] for p in pairs]
    rejected = [enc.encode(p.rejected_messages())[0] for p in pairs]
    chosen.append(chosen[0][-9:])  # a pair truncated so that chosen and rejected share nothing
    rejected.append(rejected[0][-5:])
    return plain, rows, tok, chosen, rejected


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _objective(rewards, aux):
    # any weighting of the rewards, plus the router term with a coefficient large enough to matter
    return (rewards * torch.linspace(1, 2, rewards.numel())).sum() + 0.5 * aux


def test_load_balancing_loss_is_transformers_over_real_tokens():
    """0/1 weights give transformers' own load_balancing_loss_func with an attention mask (the function every
    transformers MoE CausalLM adds to its loss); a weight n equals the token repeated n times."""
    from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func
    from transformers.models.qwen2_moe.modeling_qwen2_moe import load_balancing_loss_func as qwen_func

    torch.manual_seed(0)
    layers = tuple(torch.randn(2 * 7, 8) for _ in range(3))  # 3 MoE layers, batch 2 x 7 tokens, 8 experts
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 4:] = 0
    ours = load_balancing_loss(layers, 8, 2, mask)
    assert ours.item() == pytest.approx(load_balancing_loss_func(layers, 8, 2, mask).item(), abs=1e-6)
    assert ours.item() == pytest.approx(qwen_func(layers, 8, 2, mask).item(), abs=1e-6)
    # padding ignored: changing the router logits at padded tokens changes nothing
    noisy = tuple(torch.where(mask.reshape(-1, 1).bool(), x, x + 5) for x in layers)
    assert load_balancing_loss(noisy, 8, 2, mask).item() == pytest.approx(ours.item(), abs=1e-6)
    # a token of weight 3 = the same token three times
    w = torch.tensor([1, 3, 1, 0])
    few = tuple(x[:4] for x in layers)
    repeated = tuple(torch.cat([x[:1], x[1:2], x[1:2], x[1:2], x[2:3]]) for x in few)
    assert load_balancing_loss(few, 8, 2, w).item() == pytest.approx(
        load_balancing_loss(repeated, 8, 2, torch.ones(5)).item(), abs=1e-6)
    # by hand: 2 experts, top-1, one layer, tokens routed p=(0.5+d, 0.5-d) and (0.5-d, 0.5+d): f = P = (1/2, 1/2),
    # loss = 2 * (1/2 * 1/2 + 1/2 * 1/2) = 1 (balanced: top_k); both tokens to expert 0: f = (1, 0), P_0 = 0.5+d
    d = 0.1
    balanced = (torch.log(torch.tensor([[0.5 + d, 0.5 - d], [0.5 - d, 0.5 + d]])),)
    assert load_balancing_loss(balanced, 2, 1, torch.ones(2)).item() == pytest.approx(1.0, abs=1e-6)
    skewed = (torch.log(torch.tensor([[0.5 + d, 0.5 - d], [0.5 + d, 0.5 - d]])),)
    assert load_balancing_loss(skewed, 2, 1, torch.ones(2)).item() == pytest.approx(2 * (0.5 + d), abs=1e-6)


def test_routing_and_leaf_modules_are_found(moe_models, tiny_model_dir):
    plain = moe_models[0]
    routing = moe_routing(plain)
    assert routing == MoeRouting(num_experts=4, top_k=2)
    assert [c.__name__ for c in sparse_moe_block_classes(plain)] in (["MixtralSparseMoeBlock"],
                                                                     ["Qwen2MoeSparseMoeBlock"])
    dense, _ = load_reward_model(str(tiny_model_dir))
    assert moe_routing(dense) is None and sparse_moe_block_classes(dense) == []


@pytest.mark.parametrize("layout", ["pair_rows", "mask4d"])
def test_layouts_give_padded_rewards_router_loss_and_gradients(moe_models, layout):
    plain, rows, tok, chosen, rejected = moe_models
    routing = moe_routing(plain)
    plain.zero_grad()
    ids, mask, last = pad_batch(chosen + rejected, tok.pad_token_id)
    logits = []
    ref = sequence_rewards(plain, ids, mask, last, logits)
    ref_aux = load_balancing_loss(logits, routing.num_experts, routing.top_k, mask)
    _objective(ref, ref_aux).backward()

    model = rows if layout == "pair_rows" else plain
    g_ref = _grads(plain)
    model.zero_grad()
    logits = []
    if layout == "pair_rows":
        rids, pos, segments, ci, ri, ntok = pack_pair_rows(chosen, rejected)
        got = pair_rows_rewards(rows, rids, pos, segments, ci, ri, logits)
        weights = segments.multiplicity
        assert ntok < int(mask.sum())  # the shared contexts ran once...
        assert int(weights.sum()) == int(mask.sum())  # ...and count as often as padded sequences hold them
    else:
        pids, mask4d, pos, ci, ri, _ = pack_shared_context(chosen, rejected, tok.pad_token_id)
        got = packed_pair_rewards(plain, pids, mask4d, pos, ci, ri, logits)
        weights = packed_token_multiplicity(mask4d, ci, ri)
        assert int(weights.sum()) == int(mask.sum())
    aux = load_balancing_loss(logits, routing.num_experts, routing.top_k, weights)
    _objective(got, aux).backward()
    assert torch.allclose(got, ref, atol=ATOL)
    assert aux.item() == pytest.approx(ref_aux.item(), abs=ATOL)
    # the unweighted loss over the row's tokens (shared context once) is a different number: the weights matter
    flat = load_balancing_loss(logits, routing.num_experts, routing.top_k, (weights > 0).long())
    assert abs(flat.item() - ref_aux.item()) > 1e-4
    g = _grads(model)
    assert g.keys() == g_ref.keys()
    assert any("gate" in k and g[k].abs().sum() > 0 for k in g)  # the router gets the aux gradient
    for k in g_ref:
        assert torch.allclose(g[k], g_ref[k], atol=ATOL, rtol=RTOL), k


def test_router_loss_under_gradient_checkpointing_is_unchanged(moe_models):
    """The recipes checkpoint every layer: the router logits recorded in the forward stay differentiable when the
    backward recomputes the layer (no second recording), so rewards, loss and gradients are the plain ones."""
    plain, rows, tok, chosen, rejected = moe_models
    routing = moe_routing(plain)
    rids, pos, segments, ci, ri, _ = pack_pair_rows(chosen, rejected)
    results = []
    for checkpointing in (False, True):
        rows.zero_grad()
        if checkpointing:
            rows.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            rows.train()
        try:
            logits = []
            got = pair_rows_rewards(rows, rids, pos, segments, ci, ri, logits)
            aux = load_balancing_loss(logits, routing.num_experts, routing.top_k, segments.multiplicity)
            _objective(got, aux).backward()
        finally:
            rows.gradient_checkpointing_disable()
            rows.eval()
        assert len(logits) == plain.config.num_hidden_layers  # recorded once per layer, not again in the backward
        results.append((got.detach(), aux.item(), _grads(rows)))
    (r0, a0, g0), (r1, a1, g1) = results
    assert torch.allclose(r0, r1, atol=ATOL) and a0 == pytest.approx(a1, abs=ATOL)
    for k in g0:
        assert torch.allclose(g0[k], g1[k], atol=ATOL, rtol=RTOL), k


def test_last_layer_shortcut_is_exact_for_experts_and_off_with_the_router_loss(moe_models):
    """Routing is per token, so the last MoE block run on the reward positions alone gives their exact
    outputs; with the router loss the block must see every token (its router logits are the loss's input)."""
    plain, rows, tok, chosen, rejected = moe_models
    block = rows.model.layers[-1].mlp
    seen = []
    handle = block.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape[:2])))
    try:
        rids, pos, segments, ci, ri, ntok = pack_pair_rows(chosen, rejected)
        ids, mask, last = pad_batch(chosen + rejected, tok.pad_token_id)
        plain.zero_grad()
        rows.zero_grad()
        ref = sequence_rewards(plain, ids, mask, last)
        (ref * torch.linspace(1, 2, ref.numel())).sum().backward()
        got = pair_rows_rewards(rows, rids, pos, segments, ci, ri)
        (got * torch.linspace(1, 2, got.numel())).sum().backward()
        assert seen == [(1, 2 * len(chosen))]  # the shortcut ran: one position per response
        assert torch.allclose(got, ref, atol=ATOL)
        g_ref, g = _grads(plain), _grads(rows)
        for k in g_ref:
            assert torch.allclose(g[k], g_ref[k], atol=ATOL, rtol=RTOL), k
        seen.clear()
        logits = []
        with torch.no_grad():
            pair_rows_rewards(rows, *pack_pair_rows(chosen, rejected)[:5], router_logits=logits)
        assert seen == [(1, ntok)]  # with router logits asked for: every token
        assert all(x.shape[0] == ntok for x in logits)
    finally:
        handle.remove()


def test_lean_activations_leave_routed_experts_alone_and_stay_exact(moe_dir):
    """Routed experts are fused [E, out, in] tensors with their own forward: lean skips them by design (its
    statement check does not match them); Qwen-MoE's shared expert is a plain gated MLP and runs lean. Either
    way rewards and gradients are those of the plain model."""
    plain, tok = load_reward_model(str(moe_dir))
    slim, _ = load_reward_model(str(moe_dir))
    slim.load_state_dict(plain.state_dict())
    counts = lean.install(slim)
    n_layers = plain.config.num_hidden_layers
    shared = plain.config.model_type == "qwen2_moe"
    assert counts == {"mlp": n_layers if shared else 0, "norm": 2 * n_layers + 1}
    assert not any(hasattr(m, "_rewardlab_original_forward") for m in slim.modules() if "Experts" in type(m).__name__)
    ids, mask, last = pad_batch([[1, 5, 6, 7, 8, 9], [1, 5, 6, 10]], 0)
    for m in (plain, slim):
        m.train()
        m.zero_grad()
        r = sequence_rewards(m, ids, mask, last)
        (r * torch.tensor([1.0, -2.0])).sum().backward()
    for k, g in _grads(plain).items():
        assert torch.allclose(_grads(slim)[k], g, atol=ATOL, rtol=RTOL), k
    lean.uninstall(slim)


def test_lora_targets_attention_and_experts_and_saves_the_head(moe_dir, tmp_path):
    pytest.importorskip("peft")
    from rewardlab.modeling.lora import add_lora

    model, tok = load_reward_model(str(moe_dir))
    model = add_lora(model, 4, 8, 0.0, "all-linear")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("self_attn.q_proj.lora_A" in n for n in trainable)
    assert any(".mlp.experts." in n and "lora_A" in n for n in trainable)  # the routed experts' fused weights
    assert any("score" in n and "modules_to_save" in n for n in trainable)
    with torch.no_grad():  # make the adapters non-zero so that a reload that dropped one would show
        for n, p in model.named_parameters():
            if "lora_B" in n or "score" in n:
                p.normal_(0, 0.05)
    ids, mask, last = pad_batch([[1, 5, 6, 7, 8, 9], [1, 5, 6, 10]], 0)
    model.eval()
    with torch.no_grad():
        before = sequence_rewards(model, ids, mask, last)
    model.save_pretrained(tmp_path / "adapter")
    tok.save_pretrained(tmp_path / "adapter")
    reloaded, _ = load_reward_model(str(tmp_path / "adapter"))
    reloaded.eval()
    with torch.no_grad():
        after = sequence_rewards(reloaded, ids, mask, last)
    assert torch.allclose(after, before, atol=1e-6)


@pytest.fixture(scope="module")
def moe_train_data(tmp_path_factory):
    from rewardlab.data.readers import write_pairs_jsonl

    root = tmp_path_factory.mktemp("moe-data")
    write_pairs_jsonl(synthetic_pairs(16), root / "train.jsonl")
    write_pairs_jsonl(synthetic_pairs(6, seed=1), root / "eval.jsonl")
    return root


def _train(moe_dir, data, out, **kw):
    from rewardlab.training.trainer import train

    cfg = TrainConfig(model=str(moe_dir), data=str(data / "train.jsonl"), eval_data=str(data / "eval.jsonl"),
                      output_dir=str(out), max_length=128, learning_rate=3e-3, batch_size=8, micro_batch_size=4,
                      max_steps=2, precision="fp32", gradient_checkpointing=False, warmup_ratio=0.0,
                      report_to="none", eval_before_training=False, parallel_micro_batches=1, seed=3, **kw)
    return train(cfg, quiet=True)


def test_trained_moe_layouts_agree_and_the_folder_scores_like_the_model(moe_dir, moe_train_data, tmp_path):
    """Two steps with the router loss as prefix-tree rows and as padded sequences: the same logged losses and
    weights; the saved folder records the coefficient and scores through RewardScorer (the scorer the server,
    evaluation and labelling share) exactly like the trained model in memory."""
    from safetensors.torch import load_file

    from rewardlab.scoring import RewardScorer

    rows = _train(moe_dir, moe_train_data, tmp_path / "rows", router_aux_loss_coef=0.1, shared_context=True)
    padded = _train(moe_dir, moe_train_data, tmp_path / "padded", router_aux_loss_coef=0.1, shared_context=False)
    log_r = json.loads((rows.output_dir / "training_summary.json").read_text())
    log_p = json.loads((padded.output_dir / "training_summary.json").read_text())
    for a, b in zip(log_r["train_log"], log_p["train_log"]):
        assert a["loss"] == pytest.approx(b["loss"], abs=ATOL)
        assert a["router_aux_loss"] == pytest.approx(b["router_aux_loss"], abs=ATOL)
        assert a["router_aux_loss"] > 1.0  # near top_k = 2 for a router that is roughly balanced
    w_r, w_p = load_file(rows.output_dir / "model.safetensors"), load_file(padded.output_dir / "model.safetensors")
    assert w_r.keys() == w_p.keys()
    assert_same_adam_trajectory(torch.cat([w_r[k].flatten() for k in sorted(w_r)]),
                                torch.cat([w_p[k].flatten() for k in sorted(w_p)]), lr=3e-3, steps=2)
    assert log_r["config"]["router_aux_loss_coef"] == 0.1
    assert log_r["summary"]["moe"] == {"num_experts": 4, "top_k": 2, "router_aux_loss_coef": 0.1}
    card = (rows.output_dir / "README.md").read_text()
    assert "| router_aux_loss_coef | 0.1 |" in card and "| experts (top-k) | 4 (top-2) |" in card
    convs = [[{"role": "user", "content": p.context[0]["content"]}, {"role": "assistant", "content": r}]
             for p in synthetic_pairs(4, seed=2) for r in (p.chosen, p.rejected)]
    in_memory = RewardScorer(rows.model, rows.tokenizer, max_length=128).score(convs)
    loaded = RewardScorer.from_pretrained(str(rows.output_dir), device="cpu", dtype="float32", max_length=128)
    assert loaded.score(convs) == pytest.approx(in_memory, abs=1e-5)
    assert len({round(x, 5) for x in in_memory}) > 1  # a constant reward would pass the checks above
    _serve_and_label_like_any_model(rows.output_dir, convs, in_memory, tmp_path)


def _serve_and_label_like_any_model(folder, convs, expected, tmp_path):
    """What `serve`, `label` and `eval` load (kinds.load_scorer) serves over HTTP and labels best-of-n with the
    trained model's rewards."""
    import httpx

    from rewardlab.kinds import load_scorer
    from rewardlab.labeling import label_file
    from rewardlab.serving.app import create_app
    from rewardlab.serving.background import serve_in_thread

    scorer = load_scorer(str(folder), device="cpu", dtype="float32", max_length=128)
    with serve_in_thread(create_app(scorer)) as url, httpx.Client(base_url=url, timeout=60) as client:
        r = client.post("/v1/rewards", json={"conversations": convs})
        assert r.status_code == 200, r.text
        assert r.json()["rewards"] == pytest.approx(expected, abs=1e-5)
    prompt = convs[0][0]["content"]
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"id": "q", "prompt": prompt, "responses": [c[1]["content"] for c in convs[:2]]})
                       + "\n")
    best = tmp_path / "best.jsonl"
    label_file(scorer, str(samples), str(best))
    row = json.loads(best.read_text().splitlines()[0])
    assert row["rewards"] == pytest.approx(expected[:2], abs=1e-5)
    assert row["best_index"] == max(range(2), key=lambda i: expected[i])


def test_router_loss_coefficient_checks(tiny_model_dir, moe_train_data, tmp_path):
    with pytest.raises(ValueError, match="router_aux_loss_coef must be >= 0"):
        TrainConfig(router_aux_loss_coef=-0.1)
    with pytest.raises(ValueError, match="not a mixture of experts"):
        _train(tiny_model_dir, moe_train_data, tmp_path / "dense", router_aux_loss_coef=0.01)


def test_sparse_moe_blocks_become_zero3_leaf_modules(moe_dir):
    """Every sparse MoE block, and nothing else, is flagged as a ZeRO-3 leaf: ZeRO-3 then fetches all its experts
    on entering the block instead of hooking each expert, whose calls depend on the routing (the trainer does this
    before accelerator.prepare when the DeepSpeed plugin runs stage 3)."""
    pytest.importorskip("deepspeed")
    from deepspeed.utils import z3_leaf_module

    from rewardlab.modeling.moe import set_zero3_leaf_modules

    model, _ = load_reward_model(str(moe_dir))
    names = set_zero3_leaf_modules(model)
    leaves = [m for m in model.modules() if z3_leaf_module(m)]
    assert names == [type(model.model.layers[0].mlp).__name__]
    assert leaves == [layer.mlp for layer in model.model.layers]


@pytest.mark.slow
def test_two_processes_train_an_moe_like_one(moe_train_data, tmp_path):
    """Two processes (DDP over gloo, a plain launch; ZeRO-3 with an MoE is in tests/test_deepspeed.py)
    with the router loss: each rank's micro-batches carry their own router term, and the averaged gradient and
    the logged losses are those of one process running all the micro-batches; the saved folder scores alike."""
    from safetensors.torch import load_file

    from rewardlab.modeling.tiny import build_tiny_model_dir
    from rewardlab.scoring import RewardScorer
    from tests.helpers import run_train

    model = build_tiny_model_dir(tmp_path / "mixtral", architecture="mixtral")
    common = ["--model", str(model), "--data", str(moe_train_data / "train.jsonl"), "--eval_data",
              str(moe_train_data / "eval.jsonl"), "--max_length", "128", "--learning_rate", "3e-3", "--batch_size", "8",
              "--micro_batch_size", "2", "--max_steps", "2", "--precision", "fp32", "--gradient_checkpointing",
              "false", "--warmup_ratio", "0", "--seed", "7", "--report_to", "none", "--router_aux_loss_coef", "0.1",
              "--parallel_micro_batches", "1", "--eval_before_training", "false"]
    one = run_train([*common, "--output_dir", str(tmp_path / "one")], 1, tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_train([*common, "--output_dir", str(tmp_path / "two")], 2, tmp_path)
    assert two.returncode == 0, two.stderr[-3000:]
    log1 = json.loads((tmp_path / "one" / "training_summary.json").read_text())
    log2 = json.loads((tmp_path / "two" / "training_summary.json").read_text())
    assert log2["summary"]["world_size"] == 2
    for a, b in zip(log2["train_log"], log1["train_log"]):
        assert a["loss"] == pytest.approx(b["loss"], abs=ATOL)
        assert a["router_aux_loss"] == pytest.approx(b["router_aux_loss"], abs=ATOL)
    w1, w2 = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    assert w1.keys() == w2.keys()
    assert_same_adam_trajectory(torch.cat([w2[k].flatten() for k in sorted(w2)]),
                                torch.cat([w1[k].flatten() for k in sorted(w1)]), lr=3e-3, steps=2)
    conv = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]]
    s1 = RewardScorer.from_pretrained(str(tmp_path / "one"), device="cpu", dtype="float32").score(conv)
    s2 = RewardScorer.from_pretrained(str(tmp_path / "two"), device="cpu", dtype="float32").score(conv)
    assert s2 == pytest.approx(s1, abs=1e-4)


def test_moe_recipes_use_the_recipe_values_and_their_own_router_coefficient():
    from rewardlab.config import RECIPES, load_config

    mixtral = load_config(TrainConfig, "mixtral-8x7b-instruct-v0.1")
    qwen = load_config(TrainConfig, "qwen1.5-moe-a2.7b-chat")
    assert (mixtral.router_aux_loss_coef, qwen.router_aux_loss_coef) == (0.02, 0.001)
    for cfg, name in ((mixtral, "mixtral-8x7b-instruct-v0.1"), (qwen, "qwen1.5-moe-a2.7b-chat")):
        assert (cfg.batch_size, cfg.learning_rate, cfg.num_epochs, cfg.lr_scheduler) == (512, 5e-6, 1, "cosine")
        assert cfg.gradient_checkpointing and cfg.precision == "bf16" and cfg.max_length == 4096
        header = (RECIPES / f"{name}.yaml").read_text().splitlines()[:2]
        assert header[0] == f"# rewardlab train {name}"
        launch = header[1].split("--config_file ")[1].split()[0]
        assert (RECIPES.parent / launch).exists() and header[1].endswith(f"train {name}")
    offload = json.loads((RECIPES / "deepspeed" / "zero3_offload.json").read_text())["zero_optimization"]
    assert offload["stage"] == 3 and offload["offload_optimizer"]["device"] == "cpu"
