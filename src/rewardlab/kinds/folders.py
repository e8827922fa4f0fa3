"""What marks a trained folder's kind: ``rewardlab_kind.json`` (the kind, its config, what its loader needs), and
the atomic writing of a kind's folder. A folder without the file is a plain Bradley-Terry reward model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rewardlab.kinds.registry import REGISTRY

KIND_FILE = "rewardlab_kind.json"
KINDS = tuple(REGISTRY)  # the registered kinds (`rewardlab.kinds.registry`)


def write_kind_file(folder: str | Path, kind: str, config: dict[str, Any], **extra: Any) -> None:
    """Record the kind (and what its loader needs) inside a model folder."""
    from rewardlab.io_utils import atomic_write_json

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    atomic_write_json(Path(folder) / KIND_FILE, {"kind": kind, "config": config, **extra})


def save_kind_folder(out: str | Path, model: Any, tokenizer: Any, kind: str, config: dict[str, Any],
                     training_record: dict[str, Any], extra_tensors: dict[str, Any] | None = None,
                     overwrite: bool = False, **kind_extra: Any) -> Path:
    """Write a trained model folder of any kind atomically: weights (safetensors), tokenizer, optional extra
    tensor files (name -> state dict), the kind record and training_summary.json. Returns the folder. A folder
    rewardlab wrote is replaced whole; one holding other files is refused unless `overwrite` (io_utils)."""
    import json

    from safetensors.torch import save_file

    from rewardlab.io_utils import AtomicDirectory
    from rewardlab.modeling.saving import make_readable, save_model_folder

    out = Path(out)
    with AtomicDirectory(out, overwrite=overwrite, command=f"train --kind {kind}") as tmp:
        save_model_folder(model, tokenizer, tmp)
        for name, tensors in (extra_tensors or {}).items():
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp / name))
        write_kind_file(tmp, kind, config, **kind_extra)
        (tmp / "training_summary.json").write_text(json.dumps(training_record, indent=2, default=str) + "\n")
        make_readable(tmp)  # the extra safetensors files too
    return out


def read_kind_file(folder: str | Path) -> dict[str, Any]:
    """The folder's kind record; a folder without one is a plain Bradley-Terry reward model."""
    path = Path(folder) / KIND_FILE
    if not path.exists():
        return {"kind": "bradley_terry"}
    record = json.loads(path.read_text())
    if record.get("kind") not in KINDS:
        raise ValueError(f"{path}: unknown kind {record.get('kind')!r}; expected one of {', '.join(KINDS)}")
    return record


def saved_kind(folder: str | Path) -> str:
    return read_kind_file(folder)["kind"] if Path(folder).is_dir() else "bradley_terry"
