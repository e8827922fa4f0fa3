"""Checks that run before any work: inputs that must exist, outputs that must be writable.

Without them a typo was found late and slowly: `--data my_pairs.jsonl` that does not exist was taken for a hub
dataset id (30-50 s of hub retries, after the model had loaded), and `score -o /full/or/missing/dir/out.jsonl`
failed only after every conversation was scored. These checks take microseconds and name the option at fault.
They are pure path logic (no network, no model), so every verb can call them first.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

# Endings that name a file, never a hub repository (hub ids such as "org/Llama-3.1-8B" contain dots, so only
# these known endings count, not any dot).
FILE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".gz", ".parquet", ".arrow", ".csv", ".tsv", ".txt", ".yaml",
                 ".yml", ".safetensors", ".bin", ".gguf", ".pt", ".pth", ".zip", ".tar")

# huggingface_hub's `validate_repo_id` rules (huggingface_hub/utils/_validators.py): "name" or "namespace/name",
# each part 1-96 of [A-Za-z0-9_.-], not starting or ending with '-' or '.', no "--" or "..", no ".git" ending.
_HUB_PART = re.compile(r"[A-Za-z0-9_](?:[\w.-]{0,94}[A-Za-z0-9_])?")


def is_hub_id_form(name: str) -> bool:
    """True when `name` is shaped like a Hugging Face hub repository id ("gpt2", "org/name")."""
    parts = name.split("/")
    if len(parts) > 2 or "--" in name or ".." in name or name.endswith(".git"):
        return False
    return all(_HUB_PART.fullmatch(p) for p in parts)


def looks_like_path(name: str) -> bool:
    """True when `name` can only mean a local path: ./x, ../x, /x, ~/x, a file ending, not a hub id form, or
    "a/b" where a local folder `a` exists (outputs/my-model before training wrote it)."""
    return (name.startswith(("/", "./", "../", "~", ".\\")) or "\\" in name or name in (".", "..")
            or name.lower().endswith(FILE_SUFFIXES) or not is_hub_id_form(name)
            or ("/" in name and os.path.isdir(name.split("/")[0])))


def check_local_or_hub(name: str | None, option: str, *, special: tuple[str, ...] = ()) -> None:
    """Refuse at once a model / data name that is neither an existing path nor a possible hub id.

    `special` names (lower case) that mean something else, the embedded models and the bundled 'demo' data,
    pass as they are.
    Raises FileNotFoundError (or ValueError for an empty name) naming `option`.
    """
    if name is None or str(name).lower() in special:
        return
    if not str(name).strip():
        raise ValueError(f"{option} is empty (an unset shell variable?); give a path or a hub id")
    if os.path.exists(name) or os.path.exists(os.path.expanduser(name)):
        return
    if looks_like_path(name):
        where = Path(name).expanduser().parent
        hint = "" if where.is_dir() else f" (folder {where} does not exist either)"
        raise FileNotFoundError(f"{option} {name}: no such file or folder{hint}; a hub id looks like 'org/name'")


# A model folder holds one of these: a transformers model, a LoRA adapter, or a rewardlab kind's folder.
MODEL_FOLDER_FILES = ("config.json", "adapter_config.json", "rewardlab_kind.json")


def check_model(name: str | None, option: str = "model") -> None:
    """A model name: an embedded one, a possible hub id, or an existing model folder (not a file, not a folder
    without a config). Checked before the data is read and the model loads."""
    from rewardlab.modeling.embedded import EMBEDDED_MODELS  # a dict of names: nothing heavy is imported

    check_local_or_hub(name, option, special=tuple(EMBEDDED_MODELS))
    if name is None or str(name).lower() in EMBEDDED_MODELS:
        return
    path = Path(name).expanduser()
    if path.is_file():
        raise ValueError(f"{option} {name} is a file; give a model folder (config.json and weights) or a hub id")
    if path.is_dir() and not any((path / f).exists() for f in MODEL_FOLDER_FILES):
        raise FileNotFoundError(f"{option} {name}: folder has no {' / '.join(MODEL_FOLDER_FILES)}; is it a model "
                                "folder?")


def check_device(device: str | None, option: str = "--device") -> None:
    """`device` (None: the best available) names a device type torch knows and this machine has."""
    if device is None:
        return
    import torch

    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        raise ValueError(f"{option} {device!r}: not a device; use cpu, cuda, cuda:1 or mps") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(kind, True):
        raise ValueError(f"{option} {device}: no {kind} device on this machine; use cpu or leave {option} out")


def check_training_inputs(cfg: Any) -> None:
    """`model`, `data` and `eval_data` of a training config of any kind (fields it lacks are skipped)."""
    check_model(getattr(cfg, "model", None))
    for option in ("data", "eval_data"):
        check_local_or_hub(getattr(cfg, option, None), option, special=("demo",))


def check_input_file(path: str, option: str) -> None:
    """`path` must be an existing file (not a folder)."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise ValueError(f"{option} {path} is a folder; give a file")
    if not p.exists():
        raise FileNotFoundError(f"{option} {path}: no such file")
    if not os.access(p, os.R_OK):
        raise PermissionError(f"{option} {path}: not readable")


def _nearest_existing(path: Path) -> Path:
    """`path` itself or its nearest ancestor that exists (what a later mkdir -p would start from)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_creatable_under(ancestor: Path, path: str, option: str) -> None:
    if not ancestor.is_dir():
        raise ValueError(f"{option} {path}: {ancestor} is a file, so no folder can be made there")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PermissionError(f"{option} {path}: folder {ancestor} is not writable")


def check_output_file(path: str | None, option: str, inputs: tuple[str, ...] = ()) -> None:
    """`path` (None: stdout) can be written as a file: not a folder, not one of the verb's `inputs` (writing
    would replace the very rows being read), and its folder writable or creatable."""
    if path is None:
        return
    if not str(path).strip():
        raise ValueError(f"{option} is empty (an unset shell variable?); give a file name")
    p = Path(path).expanduser()
    if p.is_dir():
        raise ValueError(f"{option} {path} is a folder; give a file name, e.g. {Path(path) / 'out.jsonl'}")
    for source in inputs:
        if p.exists() and Path(source).expanduser().exists() and p.samefile(Path(source).expanduser()):
            raise ValueError(f"{option} {path} is the input file {source}: writing it would replace the rows being "
                             "read; give another name")
    if p.exists():
        if not os.access(p, os.W_OK):
            raise PermissionError(f"{option} {path}: file is not writable")
        return
    _check_creatable_under(_nearest_existing(p.parent), path, option)


def check_output_folder(path: str | None, option: str) -> None:
    """`path` (None: the verb's default) can hold output files: a writable folder, or creatable as one."""
    if path is None:
        return
    if not str(path).strip():
        raise ValueError(f"{option} is empty (an unset shell variable?); give a folder")
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise ValueError(f"{option} {path} is a file; give a folder")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise PermissionError(f"{option} {path}: folder is not writable")
        return
    _check_creatable_under(_nearest_existing(p), path, option)
