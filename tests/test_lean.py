"""Lean activations: same forward (bitwise), same gradients (to rounding), fewer bytes kept for the backward."""

import json

import pytest
import torch

from rewardlab.config import TrainConfig
from rewardlab.modeling import lean
from tests.trajectory import assert_same_adam_trajectory


def _llama(seed=0, layers=2, hidden=32):
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=64, hidden_size=hidden, intermediate_size=hidden * 3, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, num_labels=1, pad_token_id=0)
    return LlamaForSequenceClassification(cfg).train()


def _gemma(seed=0):
    from transformers import GemmaConfig, GemmaForSequenceClassification

    torch.manual_seed(seed)
    cfg = GemmaConfig(vocab_size=64, hidden_size=32, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, head_dim=8, num_labels=1, pad_token_id=0)
    return GemmaForSequenceClassification(cfg).train()


def _run(model, ids, autocast=False):
    """Rewards, parameter gradients and the bytes of non-parameter tensors kept for the backward."""
    params = {p.data_ptr() for p in model.parameters()}
    kept = {}

    def pack(t):
        if t.data_ptr() not in params:
            kept[(t.data_ptr(), tuple(t.shape), t.dtype)] = t.numel() * t.element_size()
        return t

    model.zero_grad()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        r = model(input_ids=ids).logits.squeeze(-1)
    (r * torch.linspace(1, 2, r.numel())).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return r.detach(), grads, sum(kept.values())


IDS = torch.randint(1, 64, (2, 48), generator=torch.Generator().manual_seed(1))


def test_lean_llama_same_rewards_same_gradients_less_memory():
    model = _llama()
    plain = _run(model, IDS)
    counts = lean.install(model)
    assert counts == {"mlp": 2, "norm": 5}  # an MLP per layer; two norms per layer + the final one
    lean_run = _run(model, IDS)
    assert torch.equal(plain[0], lean_run[0])  # the very same forward ops
    assert plain[1].keys() == lean_run[1].keys()
    for name, g in plain[1].items():
        assert torch.allclose(g, lean_run[1][name], atol=1e-6, rtol=1e-5), name
    assert lean_run[2] < 0.8 * plain[2], (lean_run[2], plain[2])


def test_lean_with_gradient_checkpointing_same_gradients():
    """The trainer's default: checkpointed layers recompute the lean forward in the backward."""
    model = _llama()
    plain = _run(model, IDS)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lean.install(model)
    checkpointed = _run(model, IDS)
    assert torch.equal(plain[0], checkpointed[0])
    for name, g in plain[1].items():
        assert torch.allclose(g, checkpointed[1][name], atol=1e-6, rtol=1e-5), name


def test_lean_under_bf16_autocast_matches_autocast():
    model = _llama()
    plain = _run(model, IDS, autocast=True)
    lean.install(model)
    lean_run = _run(model, IDS, autocast=True)
    assert torch.equal(plain[0], lean_run[0])
    for name, g in plain[1].items():
        assert lean_run[1][name].dtype == torch.float32  # the parameters' own dtype
        assert torch.allclose(g, lean_run[1][name], atol=2e-2, rtol=2e-2), name


def test_gemma_mlp_other_activation_is_lean_its_norm_is_not():
    model = _gemma()
    plain = _run(model, IDS)
    counts = lean.install(model)
    assert counts == {"mlp": 2, "norm": 0}  # Gemma's (1 + w) RMSNorm is another formula: left alone
    lean_run = _run(model, IDS)
    assert torch.equal(plain[0], lean_run[0])
    for name, g in plain[1].items():
        assert torch.allclose(g, lean_run[1][name], atol=1e-6, rtol=1e-5), name
    assert lean_run[2] < plain[2]


def test_uninstall_restores_and_install_is_idempotent():
    model = _llama()
    lean.install(model)
    lean.install(model)
    mlp = model.model.layers[0].mlp
    assert mlp.forward.__func__ is lean._lean_mlp_forward
    lean.uninstall(model)
    assert all("forward" not in m.__dict__ for m in model.modules())
    assert mlp.forward.__func__ is type(mlp).forward


class _DropoutMLP(torch.nn.Module):
    """The gated-MLP line plus a dropout (as SeedOss's MLP has): not the formula the lean forward reproduces."""

    def __init__(self):
        super().__init__()
        self.gate_proj, self.up_proj, self.down_proj = (torch.nn.Linear(8, 16), torch.nn.Linear(8, 16),
                                                        torch.nn.Linear(16, 8))
        self.act_fn = torch.nn.SiLU()

    def forward(self, x):
        down_proj = self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))
        down_proj = torch.nn.functional.dropout(down_proj, p=0.5, training=self.training)
        return down_proj


class _PlainMLP(_DropoutMLP):
    def forward(self, x):
        """A docstring does not change the formula."""
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


def test_only_the_exact_formula_is_made_lean():
    assert lean.install(_DropoutMLP()) == {"mlp": 0, "norm": 0}
    plain = _PlainMLP()
    assert lean.install(plain) == {"mlp": 1, "norm": 0}
    x = torch.randn(3, 8)
    assert torch.equal(plain(x), type(plain).forward(plain, x))


def test_uninstall_puts_back_an_instance_forward_that_was_there_before():
    mlp = _PlainMLP()
    calls = []

    def wrapped(x):  # e.g. a dispatch hook that replaced the instance's forward
        calls.append(1)
        return type(mlp).forward(mlp, x)

    mlp.forward = wrapped
    lean.install(mlp)
    lean.uninstall(mlp)
    mlp(torch.randn(2, 8))
    assert mlp.forward is wrapped and calls == [1]


def test_wrapped_projections_fall_back_to_the_module_forward(monkeypatch):
    """LoRA (or a quantised layer) replaces the projections: the MLP then runs its own forward."""
    from peft import LoraConfig, get_peft_model

    model = _llama()
    lean.install(model)
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["down_proj"], task_type="SEQ_CLS"))

    def refuse(*a, **k):
        raise AssertionError("the lean MLP ran on a LoRA-wrapped projection")

    monkeypatch.setattr(lean._GatedDown, "apply", refuse)
    assert lean.install(peft_model)["mlp"] == 0  # installed after LoRA: counted as what it is
    r = peft_model(input_ids=IDS).logits
    r.sum().backward()
    lora_b = [p for n, p in peft_model.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.grad is not None for p in lora_b)


def test_trainer_lean_activations_follow_the_plain_trajectory(tmp_path, tiny_model_dir, synthetic_jsonl):
    from rewardlab.training.trainer import train

    runs = {}
    for on in (False, True):
        cfg = TrainConfig(model=str(tiny_model_dir), data=str(synthetic_jsonl), output_dir=str(tmp_path / str(on)),
                          batch_size=4, micro_batch_size=2, max_steps=3, eval_fraction=0.0, report_to="none",
                          eval_before_training=False, precision="fp32", learning_rate=1e-3,
                          parallel_micro_batches=1, lean_activations=on)
        result = train(cfg, quiet=True)
        saved = json.loads((result.output_dir / "training_summary.json").read_text())
        runs[on] = ([r["loss"] for r in saved["train_log"]], saved["summary"]["lean_activations"],
                    torch.cat([p.detach().flatten() for p in result.model.parameters()]))
        assert all("forward" not in m.__dict__ for m in result.model.modules())  # handed back as an ordinary model
    assert runs[False][1] is None and runs[True][1] == {"mlp": 2, "norm": 5}
    assert runs[True][0] == pytest.approx(runs[False][0], abs=1e-5)
    assert_same_adam_trajectory(runs[True][2], runs[False][2], lr=1e-3, steps=3)
