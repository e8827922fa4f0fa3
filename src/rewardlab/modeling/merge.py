"""A LoRA adapter folder merged into a full reward-model folder (`rewardlab merge`)."""

from __future__ import annotations

from pathlib import Path

from rewardlab.io_utils import AtomicDirectory, check_output_path
from rewardlab.modeling import loading
from rewardlab.modeling.saving import make_readable, save_model_folder


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write a full (merged) reward model folder from a LoRA adapter folder. `out_dir` is checked before the
    model loads: a folder rewardlab wrote is replaced whole, one holding other files refused unless `overwrite`,
    the adapter folder itself (or a folder containing it) always."""
    check_output_path(out_dir, overwrite=overwrite, inputs=(adapter_dir,), what="merged model folder")
    model, tokenizer = loading.load_reward_model(str(adapter_dir))  # looked up at call time (tests patch it)
    merged = model.merge_and_unload()
    with AtomicDirectory(out_dir, overwrite=overwrite, command="merge", inputs=(adapter_dir,)) as tmp:
        save_model_folder(merged, tokenizer, tmp)
        readme = Path(adapter_dir) / "README.md"
        if readme.exists():
            (tmp / "README.md").write_text(readme.read_text() + f"\n\nMerged from the LoRA adapter in `{adapter_dir}`.\n")
            make_readable(tmp)
    return Path(out_dir)
