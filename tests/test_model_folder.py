"""What a saved model folder holds, for the tools that read it (issue 16, items 4 and 8).

- transformers 4.57 (reward-bench's pin) reads the top-level rope fields, ``torch_dtype`` and a tokenizer class it
  has; transformers 5 must read the very same model from the rewritten files. The real 4.57 check runs in
  benchmarks/compat_transformers4.py (a separate venv); here: the saved keys, and that 5.x reads them unchanged.
- ``pipeline("text-classification")`` returns the raw reward; TRL's GRPOTrainer scores like `rewardlab score`;
  files are readable by other users; the model card names the base model by its hub id.
"""

from __future__ import annotations

import json
import math
import os
import stat

import pytest
import torch

from rewardlab.modeling.saving import portable_config, portable_tokenizer_config

CONVS = [
    [{"role": "user", "content": "Tell me about tea."}, {"role": "assistant", "content": "Happy to help! Tea is a drink."}],
    [{"role": "user", "content": "Tell me about tea."}, {"role": "assistant", "content": "NO!!!"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "4"}],
    [{"role": "user", "content": "Rivers?"}, {"role": "assistant", "content": "Sure, rivers are fun and long and wet."}],
]
ROPE_THETA = 100_000.0  # not Llama's default 10,000, so a loader that drops it shows


# ---- the pure rewrites ------------------------------------------------------------------------------------------

def test_portable_config_adds_top_level_rope_dtype_and_problem_type():
    saved = {"architectures": ["LlamaForSequenceClassification"], "dtype": "bfloat16",
             "rope_parameters": {"rope_theta": ROPE_THETA, "rope_type": "default"}}
    out = portable_config(saved)
    assert out["rope_theta"] == ROPE_THETA and out["rope_scaling"] is None
    assert out["torch_dtype"] == out["dtype"] == "bfloat16"
    assert out["problem_type"] == "regression"
    assert out["rope_parameters"] == saved["rope_parameters"]  # what transformers 5 reads stays as it was


def test_portable_config_scaled_rope_keeps_its_parameters_in_rope_scaling():
    llama3 = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
              "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    out = portable_config({"architectures": ["LlamaForCausalLM"], "rope_parameters": llama3,
                           "partial_rotary_factor": None})
    assert out["rope_theta"] == 500000.0
    assert out["rope_scaling"] == {k: v for k, v in llama3.items() if k != "rope_theta"}
    assert "problem_type" not in out  # a causal LM (the pairwise kind) has no classification head


def test_portable_config_nested_rope_and_existing_problem_type():
    nested = {"full_attention": {"rope_type": "default", "rope_theta": 1_000_000.0},
              "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0}}
    out = portable_config({"architectures": ["Gemma3ForSequenceClassification"], "rope_parameters": nested,
                           "problem_type": "multi_label_classification"})
    assert out["rope_theta"] == 1_000_000.0 and out["rope_local_base_freq"] == 10_000.0
    assert out["problem_type"] == "multi_label_classification"  # never overwritten


def test_portable_tokenizer_config():
    saved = {"backend": "tokenizers", "tokenizer_class": "TokenizersBackend", "is_local": True,
             "local_files_only": True, "extra_special_tokens": ["<|a|>", "<|b|>"], "pad_token": "<|pad|>"}
    out = portable_tokenizer_config(saved, has_tokenizer_json=True)
    assert out["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert "is_local" not in out and "local_files_only" not in out and "extra_special_tokens" not in out
    assert out["additional_special_tokens"] == ["<|a|>", "<|b|>"] and out["pad_token"] == "<|pad|>"
    assert portable_tokenizer_config({"tokenizer_class": "Qwen2Tokenizer"}, True)["tokenizer_class"] == "Qwen2Tokenizer"
    with pytest.raises(ValueError, match="tokenizer.json"):
        portable_tokenizer_config(saved, has_tokenizer_json=False)


@pytest.mark.parametrize("rope", [{"rope_type": "default", "rope_theta": ROPE_THETA},
                                  {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                   "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                   "original_max_position_embeddings": 1024},
                                  {"rope_type": "linear", "rope_theta": 20000.0, "factor": 2.0}])
def test_transformers5_reads_the_rewritten_config_unchanged(tmp_path, rope):
    from transformers import AutoConfig, LlamaConfig

    LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                rope_parameters=dict(rope)).save_pretrained(tmp_path)
    before = AutoConfig.from_pretrained(tmp_path)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(portable_config(json.loads(path.read_text()))))
    after = AutoConfig.from_pretrained(tmp_path)
    assert after.rope_parameters == before.rope_parameters
    assert after.rope_parameters["rope_theta"] == rope["rope_theta"]


# ---- folders written by each save path --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rope_model_dir(tmp_path_factory):
    from rewardlab.modeling.tiny import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-rope"), rope_theta=ROPE_THETA)


@pytest.fixture(scope="module")
def trained_folder(rope_model_dir, tmp_path_factory):
    """A folder written by the Bradley-Terry trainer, under umask 022 (whatever the caller's umask is)."""
    from rewardlab.config import TrainConfig
    from rewardlab.data.readers import write_pairs_jsonl
    from rewardlab.training.trainer import train
    from tests.helpers import synthetic_pairs

    root = tmp_path_factory.mktemp("bt")
    write_pairs_jsonl(synthetic_pairs(16), root / "pairs.jsonl")
    cfg = TrainConfig(model=str(rope_model_dir), data=str(root / "pairs.jsonl"), output_dir=str(root / "model"),
                      max_length=128, learning_rate=3e-3, batch_size=8, micro_batch_size=4, max_steps=2,
                      eval_fraction=0.25, precision="fp32", gradient_checkpointing=False, warmup_ratio=0.0,
                      seed=7, report_to="none")
    old = os.umask(0o022)
    try:
        return train(cfg, quiet=True).output_dir
    finally:
        os.umask(old)


def _assert_portable(folder, problem_type="regression"):
    config = json.loads((folder / "config.json").read_text())
    assert config["rope_theta"] == ROPE_THETA == config["rope_parameters"]["rope_theta"]
    assert config["rope_scaling"] is None
    assert config["torch_dtype"] == config["dtype"] == "float32"
    assert config.get("problem_type") == problem_type
    tok = json.loads((folder / "tokenizer_config.json").read_text())
    assert tok["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert "is_local" not in tok and "local_files_only" not in tok


def _assert_readable(folder):
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755, oct(folder.stat().st_mode)
    for path in folder.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, (path.name, oct(path.stat().st_mode))


def test_trainer_folder_is_portable_and_readable(trained_folder):
    _assert_portable(trained_folder)
    _assert_readable(trained_folder)
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(trained_folder)
    assert config.rope_parameters["rope_theta"] == ROPE_THETA and config.problem_type == "regression"


def test_kind_folder_is_portable_and_readable(rope_model_dir, tmp_path):
    from rewardlab.kinds import save_kind_folder
    from rewardlab.modeling.loading import load_reward_model

    model, tokenizer = load_reward_model(str(rope_model_dir), num_labels=2)  # a two-attribute regression head
    old = os.umask(0o022)
    try:
        out = save_kind_folder(tmp_path / "kind", model, tokenizer, "regression", {"attributes": ["a", "b"]},
                               {"summary": {}}, extra_tensors={"head.safetensors": {"w": torch.ones(2)}})
    finally:
        os.umask(old)
    _assert_portable(out)
    _assert_readable(out)


def test_lora_merge_folder_is_portable(rope_model_dir, tmp_path):
    pytest.importorskip("peft")
    from rewardlab.modeling.loading import load_reward_model
    from rewardlab.modeling.lora import add_lora
    from rewardlab.modeling.merge import merge_adapter

    model, tokenizer = load_reward_model(str(rope_model_dir))
    add_lora(model, r=2, alpha=4, dropout=0.0, target_modules="q_proj,v_proj").save_pretrained(tmp_path / "adapter")
    tokenizer.save_pretrained(tmp_path / "adapter")
    old = os.umask(0o022)
    try:
        merged = merge_adapter(tmp_path / "adapter", tmp_path / "merged")
    finally:
        os.umask(old)
    _assert_portable(merged)
    _assert_readable(merged)


def test_umask_077_keeps_files_private(tmp_path):
    from rewardlab.io_utils import atomic_write_json

    old = os.umask(0o077)
    try:
        atomic_write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o600


# ---- plain transformers and TRL read the folder -----------------------------------------------------------------

def test_text_classification_pipeline_returns_the_raw_reward(trained_folder):
    from transformers import pipeline

    from rewardlab.scoring import RewardScorer

    scorer = RewardScorer.from_pretrained(str(trained_folder), device="cpu", dtype="float32")
    pipe = pipeline("text-classification", model=str(trained_folder), device="cpu")
    for conv in CONVS:
        # the model card's recipe: chat template as text; our tokenizer adds BOS itself, so the template's goes
        text = pipe.tokenizer.apply_chat_template(conv, tokenize=False).removeprefix(pipe.tokenizer.bos_token)
        got = pipe(text)[0]["score"]
        (reward,) = scorer.score([conv])
        assert abs(1 / (1 + math.exp(-reward)) - reward) > 1e-3  # a sigmoid would show
        assert got == pytest.approx(reward, abs=1e-5)  # fp32 forward of the same ids, one batch of one


def test_trl_grpo_reward_model_from_a_folder_matches_rewardlab_score(trained_folder):
    """TRL 1.16 GRPOTrainer with ``reward_funcs="<folder>"``, transcribed (trl is not a test dependency) from
    huggingface/trl v1.16.0 trl/trainer/grpo_trainer.py: __init__ ("Reward functions", "Reward processing class")
    and _calculate_rewards (conversational branch), with trl/data_utils.py apply_chat_template for ``messages``."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rewardlab.scoring import RewardScorer

    reward_func = AutoModelForSequenceClassification.from_pretrained(str(trained_folder), num_labels=1)
    reward_processing_class = AutoTokenizer.from_pretrained(reward_func.config._name_or_path)
    if reward_processing_class.pad_token_id is None:
        reward_processing_class.pad_token = reward_processing_class.eos_token
    reward_func.config.get_text_config().pad_token_id = reward_processing_class.pad_token_id
    prompts = [c[:-1] for c in CONVS]
    completions = [c[-1:] for c in CONVS]
    messages = [{"messages": p + c} for p, c in zip(prompts, completions, strict=True)]
    texts = [reward_processing_class.apply_chat_template(x["messages"], tools=None, tokenize=False) for x in messages]
    reward_inputs = reward_processing_class(text=texts, return_tensors="pt", padding=True, padding_side="right",
                                            add_special_tokens=False)
    assert reward_inputs["attention_mask"].sum(1).unique().numel() > 1  # right padding really happens
    with torch.inference_mode():
        trl_rewards = reward_func(**reward_inputs).logits[:, 0].tolist()

    ours = RewardScorer.from_pretrained(str(trained_folder), device="cpu", dtype="float32").score(CONVS)
    # same ids, fp32 on a 2-layer model: padded vs padding-free rows differ only in summation order (~1e-7)
    assert trl_rewards == pytest.approx(ours, abs=2e-6)
    assert max(ours) - min(ours) > 1e-3  # the rewards differ, so matching them means something


# ---- the model card ----------------------------------------------------------------------------------------------

def test_model_card_names_the_base_model_by_hub_id(tmp_path):
    from rewardlab.training.model_card import base_model_hub_id, render_model_card

    assert base_model_hub_id("smollm2-135m-instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert base_model_hub_id("Qwen/Qwen3-0.6B") == "Qwen/Qwen3-0.6B"
    cache = tmp_path / "hub" / "models--meta-llama--Llama-3.2-1B" / "snapshots" / "abc123"
    assert base_model_hub_id(str(cache)) == "meta-llama/Llama-3.2-1B"
    local = tmp_path / "my-model"
    local.mkdir()
    assert base_model_hub_id(str(local)) is None
    (local / "README.md").write_text("---\nbase_model: Qwen/Qwen3-0.6B\n---\n")
    assert base_model_hub_id(str(local)) == "Qwen/Qwen3-0.6B"

    config = {"model": "smollm2-135m-instruct", "data": "demo", "eval_fraction": 0.1, "max_length": 512}
    card = render_model_card(config, {}, "out")
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct\n" in card
    assert "https://github.com/)" not in card and "](" not in card  # no placeholder link
    card = render_model_card({**config, "model": str(tmp_path / "elsewhere" / "ckpt")}, {}, "out")
    assert "base_model:" not in card and str(tmp_path) not in card
