"""Training-curve PNG: loss and accuracy per step (smoothed), held-out accuracy points, learning rate."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _smooth(values: Sequence[float], window: int) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def plot_training_curve(train_log: Sequence[dict[str, Any]], eval_log: Sequence[dict[str, Any]], path: str | Path,
                        title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in train_log]
    window = max(1, len(steps) // 20)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ax = axes[0]
    ax.plot(steps, [r["loss"] for r in train_log], alpha=0.3, color="C0", label="train loss")
    ax.plot(steps, _smooth([r["loss"] for r in train_log], window), color="C0", label=f"smoothed ({window})")
    if eval_log:
        ax.plot([r["step"] for r in eval_log], [r["loss"] for r in eval_log], "o-", color="C3", label="held-out loss")
    ax.axhline(0.6931, ls=":", color="gray", label="ln 2 (chance)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("Bradley-Terry loss")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(steps, _smooth([r["accuracy"] for r in train_log], window), color="C0", label="train (smoothed)")
    if eval_log:
        e_steps = [r["step"] for r in eval_log]
        acc = [r["accuracy"] for r in eval_log]
        lo = [r.get("accuracy_ci_low", a) for r, a in zip(eval_log, acc)]
        hi = [r.get("accuracy_ci_high", a) for r, a in zip(eval_log, acc)]
        ax.errorbar(e_steps, acc, yerr=[[a - lo_ for a, lo_ in zip(acc, lo)], [h - a for a, h in zip(acc, hi)]],
                    fmt="o-", color="C3", capsize=3, label="held-out (95% CI)")
    ax.axhline(0.5, ls=":", color="gray")
    ax.set_ylim(0, 1)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("pairwise accuracy")
    ax.legend(fontsize=8)
    ax = axes[2]
    ax.plot(steps, [r["learning_rate"] for r in train_log], color="C2")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path
