"""Write a model folder that transformers 4.4x-4.57 and 5.x both load as the same model.

Every save path (the Bradley-Terry trainer, the LoRA merge, the other kinds) goes through `save_model_folder`.
transformers 5 writes three things that older versions read differently (reward-bench pins 4.57.x):

- RoPE lives only in ``rope_parameters``. transformers 4 reads the top-level ``rope_theta`` and ``rope_scaling``
  and, finding neither, silently builds the rotary embedding with the class default (10,000 for Llama): a
  SmolLM2 folder (theta 100,000) then scores differently, with no error. We write the top-level fields too;
  transformers 5 takes ``rope_parameters`` first and fills anything missing from the top level, so it still
  reads the same numbers.
- ``dtype`` only; transformers < 4.56 reads ``torch_dtype``. We write both.
- ``tokenizer_class: TokenizersBackend``, a class transformers 4 does not have ("Tokenizer class
  TokenizersBackend does not exist"). ``PreTrainedTokenizerFast`` exists in both and loads ``tokenizer.json`` as
  is (in 5.x it is the same class under its old name). Extra special tokens saved as a list go back under the
  name 4.x reads them by (``additional_special_tokens``; 4.x expects ``extra_special_tokens`` to be a dict), and
  two loader arguments that 5.x leaks into the file (``is_local``, ``local_files_only``) are dropped.

And one thing both versions read: ``problem_type: "regression"`` on a sequence-classification head, so
``pipeline("text-classification")`` returns the raw reward instead of its sigmoid (its default for one label).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: tokenizer classes that only transformers 5 has; a folder with a tokenizer.json loads as PreTrainedTokenizerFast
V5_ONLY_TOKENIZER_CLASSES = ("TokenizersBackend",)
PORTABLE_TOKENIZER_CLASS = "PreTrainedTokenizerFast"
LEAKED_TOKENIZER_KEYS = ("is_local", "local_files_only")
#: RoPE entries that transformers 5 moved into rope_parameters and transformers 4 reads from the top level
TOP_LEVEL_ROPE_KEYS = ("rope_theta", "partial_rotary_factor")


def portable_config(config: dict[str, Any]) -> dict[str, Any]:
    """`config` (a config.json dict written by transformers 5) with the fields transformers 4 needs added.

    Nested per-layer-type RoPE (Gemma-3 style ``{"full_attention": {...}, "sliding_attention": {...}}``) takes its
    top-level fields from the ``full_attention`` entry and, where present, ``rope_local_base_freq`` from the
    sliding one, as transformers 4's Gemma-3 config had them.
    """
    out = dict(config)
    rope = config.get("rope_parameters")
    if isinstance(rope, dict) and rope:
        if "full_attention" in rope and isinstance(rope["full_attention"], dict):
            sliding = rope.get("sliding_attention")
            if isinstance(sliding, dict) and "rope_theta" in sliding:
                out.setdefault("rope_local_base_freq", sliding["rope_theta"])
            rope = rope["full_attention"]
        for key in TOP_LEVEL_ROPE_KEYS:
            if key in rope:
                out[key] = rope[key]
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        # transformers 5 reads rope_scaling in place of rope_parameters when both are present, so it must carry
        # the same entries; rope_theta stays out of it (4.x warns on unknown keys; 5.x refills it from the top).
        out["rope_scaling"] = None if rope_type == "default" else {
            k: v for k, v in rope.items() if k not in TOP_LEVEL_ROPE_KEYS}
    if "dtype" in config and config["dtype"] is not None:
        out["torch_dtype"] = config["dtype"]
    architectures = config.get("architectures") or []
    if any(a.endswith("ForSequenceClassification") for a in architectures) and not config.get("problem_type"):
        out["problem_type"] = "regression"  # a reward is a real number: the pipeline must not squash it
    return out


def portable_tokenizer_config(config: dict[str, Any], has_tokenizer_json: bool) -> dict[str, Any]:
    """`config` (a tokenizer_config.json dict written by transformers 5) in a form transformers 4 also loads."""
    out = {k: v for k, v in config.items() if k not in LEAKED_TOKENIZER_KEYS}
    if out.get("tokenizer_class") in V5_ONLY_TOKENIZER_CLASSES:
        if not has_tokenizer_json:
            raise ValueError(f"tokenizer_class {out['tokenizer_class']!r} without a tokenizer.json: transformers 4 "
                             "cannot load this tokenizer")
        out["tokenizer_class"] = PORTABLE_TOKENIZER_CLASS
    extra = out.get("extra_special_tokens")
    if isinstance(extra, list):
        out.pop("extra_special_tokens")
        if extra:
            out["additional_special_tokens"] = extra
    return out


def _rewrite_json(path: Path, transform: Any) -> None:
    from rewardlab.io_utils import atomic_write_json

    atomic_write_json(path, transform(json.loads(path.read_text())))


def make_folder_portable(folder: str | Path) -> None:
    """Rewrite config.json and tokenizer_config.json of a saved folder in place (see the module docstring)."""
    folder = Path(folder)
    if (folder / "config.json").exists():
        _rewrite_json(folder / "config.json", portable_config)
    if (folder / "tokenizer_config.json").exists():
        has_json = (folder / "tokenizer.json").exists()
        _rewrite_json(folder / "tokenizer_config.json", lambda c: portable_tokenizer_config(c, has_json))


def make_readable(folder: str | Path) -> None:
    """Give the folder and the files in it the permissions the umask allows (0755 / 0644 under umask 022).

    Files written through a temporary file (safetensors shards, mkdtemp folders) are created 0600 / 0700, so a
    model saved by one user could not be loaded by another (a shared cluster, a server running as its own user).
    """
    from rewardlab.io_utils import current_umask

    folder = Path(folder)
    umask = current_umask()
    os.chmod(folder, 0o777 & ~umask)
    for path in folder.rglob("*"):
        if path.is_symlink():
            continue
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def save_model_folder(model: Any, tokenizer: Any, folder: str | Path, state_dict: dict[str, Any] | None = None) -> Path:
    """``save_pretrained`` of `model` (safetensors) and `tokenizer` into `folder`, made portable and readable."""
    folder = Path(folder)
    kwargs: dict[str, Any] = {"safe_serialization": True}
    if state_dict is not None:
        kwargs["state_dict"] = state_dict
    model.save_pretrained(folder, **kwargs)
    tokenizer.save_pretrained(folder)
    make_folder_portable(folder)
    make_readable(folder)
    return folder
