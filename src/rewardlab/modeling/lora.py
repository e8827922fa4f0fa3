"""LoRA / QLoRA reward models through peft.

The score head is always in ``modules_to_save``: it is trained in full and stored in the adapter, so a
reloaded LoRA reward model scores exactly like the trained one (the most common complaint with other
trainers: a reloaded LoRA reward model whose head was never saved scores randomly).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCORE_HEAD = "score"


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").exists()


def add_lora(model: Any, r: int, alpha: int, dropout: float, target_modules: str) -> Any:
    from peft import LoraConfig, get_peft_model

    from rewardlab.modeling.moe import expert_parameter_names

    targets: Any = target_modules if target_modules == "all-linear" else [
        t.strip() for t in target_modules.split(",") if t.strip()]
    # a mixture of experts: "all-linear" also means the routed experts, whose weights are 3-D tensors (moe.py)
    experts = expert_parameter_names(model) if target_modules == "all-linear" else []
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, task_type="SEQ_CLS",
                        modules_to_save=[SCORE_HEAD], exclude_modules=[SCORE_HEAD],
                        **({"target_parameters": experts} if experts else {}))
    return get_peft_model(model, config)


def quantization_config_4bit() -> Any:
    import importlib.util

    import torch

    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise ValueError("load_in_4bit (QLoRA) needs a CUDA GPU and the bitsandbytes package; "
                         "on this machine use plain LoRA (lora_r > 0, load_in_4bit false)")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)


def adapter_base_model(path: str | Path) -> str:
    config = json.loads((Path(path) / "adapter_config.json").read_text())
    base = config.get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{path}/adapter_config.json names no base_model_name_or_path")
    return base


def load_adapter(model: Any, path: str | Path) -> Any:
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(path))
