"""Resolve a model name (embedded / local folder / hub id) into a one-label sequence-classification model
and its tokenizer, with a pad token that is never the eos token.

Why the pad fix matters: pooling reads the reward at the last non-pad token. When pad == eos and the chat
template writes eos inside the text (ChatML's ``<|im_end|>``, Llama-3's ``<|eot_id|>``), "last non-pad"
lands on the wrong token and chosen/rejected score alike (loss stuck at 0.693: RLHFlow #49, TRL #2758).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rewardlab.modeling.embedded import embedded_model_dir, is_embedded

PAD_TOKEN = "<|pad|>"


def resolve_model_path(name: str) -> str:
    """Embedded name -> converted cache folder; local folder -> itself; anything else -> a hub id."""
    if is_embedded(name):
        return str(embedded_model_dir(name))
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
            raise FileNotFoundError(f"{name}: folder has no config.json; is it a Hugging Face model folder?")
        return str(path)
    return name  # hub id: transformers downloads it (users have network)


def ensure_distinct_pad_token(tokenizer: Any, model: Any | None = None) -> bool:
    """Give `tokenizer` a pad token distinct from eos (and absent from chat-formatted text); resize `model`.

    Returns True when a token was added.
    """
    pad_ok = tokenizer.pad_token is not None and tokenizer.pad_token_id != tokenizer.eos_token_id
    if pad_ok and getattr(tokenizer, "chat_template", None):
        probe = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
        try:
            ids = tokenizer.apply_chat_template(probe, tokenize=True, add_generation_prompt=False)
            ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
            pad_ok = tokenizer.pad_token_id not in list(ids)
        except Exception:  # a template that needs extra variables: the eos check above is all we can do
            pass
    added = False
    if not pad_ok:
        added = tokenizer.add_special_tokens({"pad_token": PAD_TOKEN}) > 0
        tokenizer.pad_token = PAD_TOKEN
    if model is not None:
        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
        model.config.pad_token_id = tokenizer.pad_token_id
    return added


def load_tokenizer(name: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    path = resolve_model_path(name)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    tokenizer.padding_side = "right"
    tokenizer.truncation_side = "left"
    return tokenizer


def load_reward_model(
    name: str,
    dtype: str = "float32",
    trust_remote_code: bool = False,
    num_labels: int = 1,
    attn_implementation: str | None = None,
    quantization_config: Any | None = None,
) -> tuple[Any, Any]:
    """Load (model, tokenizer): any causal LM or reward-model folder becomes ``AutoModelForSequenceClassification``.

    Loading is safetensors-only (``use_safetensors=True``): no pickle is ever unpickled from a model path.
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    from rewardlab.modeling.lora import adapter_base_model, is_adapter_dir, load_adapter

    if is_adapter_dir(name):  # a LoRA reward model: base model + adapter (with its trained score head)
        base, _ = load_reward_model(adapter_base_model(name), dtype, trust_remote_code, num_labels,
                                    attn_implementation, quantization_config)
        return load_adapter(base, name), load_tokenizer(name, trust_remote_code)
    path = resolve_model_path(name)
    tokenizer = load_tokenizer(name, trust_remote_code)
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    kwargs: dict[str, Any] = {}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if os.path.isdir(path) or not os.environ.get("REWARDLAB_ALLOW_PICKLE"):
        kwargs["use_safetensors"] = True
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report lists the new score head as "missing": expected here
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=num_labels, dtype=torch_dtype, trust_remote_code=trust_remote_code, **kwargs
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    ensure_distinct_pad_token(tokenizer, model)
    return model, tokenizer


def default_attn_implementation() -> str:
    """flash_attention_2 when installed with CUDA, else PyTorch SDPA (works on every device)."""
    import importlib.util

    import torch

    if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"
