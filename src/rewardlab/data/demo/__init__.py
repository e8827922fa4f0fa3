"""The bundled demo preference set (written for rewardlab; see README.md in this folder)."""

from __future__ import annotations

from pathlib import Path

DEMO_DIR = Path(__file__).parent
SPLITS = ("train", "test")


def demo_path(split: str) -> Path:
    """Path of the demo JSONL file for `split` (``"train"`` or ``"test"``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown demo split {split!r}; valid splits: {', '.join(SPLITS)}")
    return DEMO_DIR / f"{split}.jsonl"
