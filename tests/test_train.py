"""End-to-end training on a tiny random Llama (built from a config) and synthetic learnable pairs."""

import json

import pytest
import torch
from safetensors.torch import load_file

from rewardlab.config import TrainConfig
from rewardlab.training.trainer import train


def tiny_config(model_dir, data, out, **kw):
    base = dict(model=str(model_dir), data=str(data), output_dir=str(out), max_length=128, learning_rate=3e-3,
                batch_size=8, micro_batch_size=4, num_epochs=2, eval_fraction=0.25, precision="fp32",
                gradient_checkpointing=False, warmup_ratio=0.0, seed=7, report_to="none")
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    from rewardlab.data.readers import write_pairs_jsonl
    from tests.helpers import synthetic_pairs

    root = tmp_path_factory.mktemp("train")
    data = root / "pairs.jsonl"
    write_pairs_jsonl(synthetic_pairs(48), data)
    cfg = tiny_config(tiny_model_dir, data, root / "model", eval_steps=2, report_to="tensorboard")
    return cfg, train(cfg, quiet=True)


def test_loss_falls_and_held_out_accuracy_rises(trained):
    cfg, result = trained
    log = json.loads((result.output_dir / "training_summary.json").read_text())
    losses = [r["loss"] for r in log["train_log"]]
    assert len(losses) == result.summary["total_steps"] == 9  # ceil(36 pairs * 2 epochs / 8)
    assert sum(losses[-3:]) / 3 < 0.5 * losses[0]
    assert result.summary["eval_after"]["accuracy"] == 1.0
    assert result.summary["eval_after"]["loss"] < 0.5 * result.summary["eval_before"]["loss"]
    assert result.summary["num_eval_pairs"] == 12 and result.summary["num_train_pairs"] == 36
    for key in ("accuracy", "margin", "reward_mean", "reward_std", "learning_rate", "tokens_per_second"):
        assert key in log["train_log"][0]


def test_output_is_a_standard_model_folder(trained, tiny_model_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    _, result = trained
    out = result.output_dir
    for name in ("model.safetensors", "config.json", "tokenizer.json", "README.md", "training_curve.png"):
        assert (out / name).exists(), name
    assert list((out / "logs").glob("events.out.tfevents*"))
    model = AutoModelForSequenceClassification.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert model.config.num_labels == 1 and tok.chat_template and tok.pad_token_id != tok.eos_token_id
    weights = load_file(out / "model.safetensors")
    base = load_file(tiny_model_dir / "model.safetensors")
    assert not torch.equal(weights["model.layers.0.mlp.down_proj.weight"], base["model.layers.0.mlp.down_proj.weight"])
    card = (out / "README.md").read_text()
    assert f"{result.summary['eval_after']['accuracy']:.4f}" in card and "learning_rate | 0.003" in card


def test_recipe_pipeline_snippet_scores_like_the_scorer(trained):
    """recipe.md section 4.2, unchanged but for the model path and device=-1 (CPU).

    transformers 5 dropped `return_all_scores` (now `top_k=None`): the pipeline then returns one dict per text
    instead of a one-element list, so the snippet's last line needs `output["score"]` there. Both are checked.
    """
    from transformers import AutoTokenizer, pipeline

    from rewardlab.scoring import RewardScorer

    model_path = str(trained[1].output_dir)
    rm_tokenizer = AutoTokenizer.from_pretrained(model_path)
    device = -1
    rm_pipe = pipeline("sentiment-analysis", model=model_path, device=device, tokenizer=rm_tokenizer,
                       model_kwargs={"torch_dtype": torch.bfloat16})
    pipe_kwargs = {"return_all_scores": True, "function_to_apply": "none", "batch_size": 1}
    chat = [
        {"role": "user", "content": "Hello, how are you?"},
        {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
        {"role": "user", "content": "I'd like to show off how chat templating works!"},
        {"role": "assistant", "content": "Can you explain more?"},
    ]
    test_texts = [rm_tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=False).replace(
        rm_tokenizer.bos_token, "")]
    pipe_outputs = rm_pipe(test_texts, **pipe_kwargs)
    rewards = [(output[0] if isinstance(output, list) else output)["score"] for output in pipe_outputs]
    v5_outputs = rm_pipe(test_texts, top_k=None, function_to_apply="none", batch_size=1)
    assert v5_outputs[0][0]["score"] == pytest.approx(rewards[0])
    ours = RewardScorer.from_pretrained(model_path, device="cpu", dtype="bfloat16").score([chat])
    assert rewards[0] == pytest.approx(ours[0], abs=0.05 + 0.02 * abs(ours[0]))  # both in bf16


def test_same_seed_same_weights(tiny_model_dir, synthetic_jsonl, tmp_path):
    # bitwise: micro-batches one after another (run side by side, the gradient sums may differ in rounding)
    a = train(tiny_config(tiny_model_dir, synthetic_jsonl, tmp_path / "a", max_steps=3, parallel_micro_batches=1),
              quiet=True)
    b = train(tiny_config(tiny_model_dir, synthetic_jsonl, tmp_path / "b", max_steps=3, parallel_micro_batches=1),
              quiet=True)
    wa, wb = load_file(a.output_dir / "model.safetensors"), load_file(b.output_dir / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_continues_exactly(tiny_model_dir, synthetic_jsonl, tmp_path):
    full = train(tiny_config(tiny_model_dir, synthetic_jsonl, tmp_path / "full", max_steps=6), quiet=True)
    # a run that stopped after its step-3 checkpoint: train 3 steps of the 6-step schedule, then resume
    part = tiny_config(tiny_model_dir, synthetic_jsonl, tmp_path / "part", max_steps=6, save_steps=3)
    from rewardlab.training import trainer as trainer_mod

    class Stop(Exception):
        pass

    original = trainer_mod.save_checkpoint

    def save_then_stop(*args, **kwargs):
        original(*args, **kwargs)
        raise Stop

    trainer_mod.save_checkpoint = save_then_stop
    try:
        with pytest.raises(Stop):
            train(part, quiet=True)
    finally:
        trainer_mod.save_checkpoint = original
    assert (tmp_path / "part" / "checkpoints" / "step-0000003" / "COMPLETE").exists()
    part.resume = True
    resumed = train(part, quiet=True)
    wf, wr = load_file(full.output_dir / "model.safetensors"), load_file(resumed.output_dir / "model.safetensors")
    assert all(torch.allclose(wf[k], wr[k], atol=1e-6) for k in wf)
    lf = json.loads((full.output_dir / "training_summary.json").read_text())["train_log"]
    lr = json.loads((resumed.output_dir / "training_summary.json").read_text())["train_log"]
    assert [r["learning_rate"] for r in lf] == [r["learning_rate"] for r in lr]
    assert [round(r["loss"], 5) for r in lf] == [round(r["loss"], 5) for r in lr]


def test_margin_column_changes_the_loss(tiny_model_dir, tmp_path):
    from rewardlab.data.readers import write_pairs_jsonl
    from rewardlab.data.schema import PreferencePair
    from tests.helpers import synthetic_pairs

    plain = synthetic_pairs(16)
    with_margin = [PreferencePair(p.context, p.chosen, p.rejected, margin=5.0) for p in plain]
    write_pairs_jsonl(plain, tmp_path / "p.jsonl")
    write_pairs_jsonl(with_margin, tmp_path / "m.jsonl")
    kw = dict(max_steps=1, eval_before_training=False, eval_fraction=0.0)
    a = train(tiny_config(tiny_model_dir, tmp_path / "p.jsonl", tmp_path / "a", **kw), quiet=True)
    b = train(tiny_config(tiny_model_dir, tmp_path / "m.jsonl", tmp_path / "b", **kw), quiet=True)
    la = json.loads((a.output_dir / "training_summary.json").read_text())["train_log"][0]["loss"]
    lb = json.loads((b.output_dir / "training_summary.json").read_text())["train_log"][0]["loss"]
    assert lb > la + 3.0  # -logsigmoid(d - 5) ~ 5 - d for small d


def test_bad_config_is_rejected_with_advice():
    with pytest.raises(ValueError, match="multiple of micro_batch_size"):
        TrainConfig(batch_size=10, micro_batch_size=4)
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp8")
