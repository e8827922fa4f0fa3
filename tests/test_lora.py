"""LoRA reward models: the score head is trained and saved, so reloaded and merged models score like the
trained one."""

import pytest
import torch

from rewardlab.config import TrainConfig
from rewardlab.scoring import RewardScorer
from rewardlab.training.trainer import train
from tests.helpers import synthetic_pairs

pytest.importorskip("peft")

CONVS = [[{"role": "user", "content": p.context[0]["content"]}, {"role": "assistant", "content": r}]
         for p in synthetic_pairs(6) for r in (p.chosen, p.rejected)]


def test_lora_train_reload_merge_same_scores(tiny_model_dir, synthetic_jsonl, tmp_path):
    from safetensors.torch import load_file

    from rewardlab.cli import main

    cfg = TrainConfig(model=str(tiny_model_dir), data=str(synthetic_jsonl), output_dir=str(tmp_path / "lora"),
                      max_length=128, learning_rate=5e-3, batch_size=8, micro_batch_size=4, max_steps=6,
                      precision="fp32", gradient_checkpointing=False, warmup_ratio=0.0, report_to="none",
                      lora_r=4, lora_alpha=8, eval_fraction=0.25)
    result = train(cfg, quiet=True)
    out = result.output_dir
    assert (out / "adapter_config.json").exists() and (out / "adapter_model.safetensors").exists()
    adapter = load_file(out / "adapter_model.safetensors")
    assert any("score" in k for k in adapter), "the trained score head must be saved with the adapter"
    trained = RewardScorer(result.model, result.tokenizer, max_length=128).score(CONVS)
    reloaded = RewardScorer.from_pretrained(str(out), device="cpu", dtype="float32", max_length=128).score(CONVS)
    assert reloaded == pytest.approx(trained, abs=1e-5)
    assert main(["merge", str(out), "--out", str(tmp_path / "merged")]) == 0
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    merged = RewardScorer.from_pretrained(str(tmp_path / "merged"), device="cpu", dtype="float32", max_length=128)
    assert merged.score(CONVS) == pytest.approx(trained, abs=1e-4)
    # the head really learned something: chosen beats rejected on most pairs after training
    wins = sum(c > r for c, r in zip(trained[0::2], trained[1::2]))
    assert wins >= 5
    assert torch.is_tensor(next(result.model.parameters()))


def test_qlora_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="set lora_r"):
        TrainConfig(load_in_4bit=True)
    from rewardlab.modeling.lora import quantization_config_4bit

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA GPU and the bitsandbytes"):
            quantization_config_4bit()
