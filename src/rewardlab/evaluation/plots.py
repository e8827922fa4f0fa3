"""One PNG report of an evaluation: reward distributions, scores with intervals, calibration, length bias."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rewardlab.evaluation.aggregation import pairwise_outcomes
from rewardlab.evaluation.calibration import expected_calibration_error, pairwise_probabilities, reliability_bins
from rewardlab.evaluation.evaluator import EvalResult, RowScore
from rewardlab.evaluation.length_bias import accuracy_by_length_difference
from rewardlab.evaluation.writers import BENCHMARK_TITLES
from rewardlab.io_utils import atomic_write_bytes


def pairwise_view(rows: Sequence[RowScore], tie_policy: str = "wrong") -> dict[str, np.ndarray]:
    """Every (correct, incorrect) response pair of every row: reward margin, length difference in characters,
    credit; plus all chosen and all rejected rewards. Best-of-4 rows give 3 pairs each."""
    margins, diffs, chosen, rejected = [], [], [], []
    for r in rows:
        k = r.num_chosen
        chosen += r.rewards[:k]
        rejected += r.rewards[k:]
        for i in range(k):
            for j in range(k, len(r.rewards)):
                margins.append(r.rewards[i] - r.rewards[j])
                diffs.append(r.response_chars[i] - r.response_chars[j])
    m = np.asarray(margins, dtype=np.float64)
    return {
        "margins": m,
        "length_diffs": np.asarray(diffs, dtype=np.float64),
        "outcomes": pairwise_outcomes(m, np.zeros_like(m), tie_policy),
        "chosen": np.asarray(chosen, dtype=np.float64),
        "rejected": np.asarray(rejected, dtype=np.float64),
    }


def _score_bars(ax, result: EvalResult) -> None:
    iv = result.intervals
    labels, values, lows, highs, colors = [], [], [], [], []
    entries = [
        (f"{k} (n={result.counts[k]})", v, iv["subsets"][k], "tab:blue") for k, v in result.subset_scores.items()
    ]
    entries += [(f"[{k}]", v, iv["sections"][k], "tab:orange") for k, v in result.sections.items()]
    entries.append(("[overall]", result.overall, iv["overall"], "tab:red"))
    for label, v, (lo, hi), color in entries:
        labels.append(label)
        values.append(v)
        lows.append(max(v - lo, 0.0) if np.isfinite(lo) else 0.0)
        highs.append(max(hi - v, 0.0) if np.isfinite(hi) else 0.0)
        colors.append(color)
    y = np.arange(len(labels))[::-1]
    ax.barh(y, values, xerr=[lows, highs], color=colors, alpha=0.8, capsize=2, error_kw={"lw": 0.8})
    ax.set_yticks(y, labels, fontsize=7 if len(labels) > 20 else 9)
    ax.set_xlim(0, 1)
    ax.axvline(0.5, color="grey", lw=0.6, ls=":")
    ax.set_xlabel(f"score ({round(100 * result.confidence)}% bootstrap interval)")
    ax.set_title("Scores: subsets (blue), sections (orange), overall (red)")


def plot_report(result: EvalResult, path: str | Path, num_bins: int = 10) -> Path:
    """Write a PNG with four panels; returns its path."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state, renders with Agg

    view = pairwise_view(result.rows, result.tie_policy)
    fig = Figure(figsize=(15, 12), layout="constrained")
    grid = fig.add_gridspec(3, 2, width_ratios=[1, 1])
    ax_dist, ax_cal, ax_len = (fig.add_subplot(grid[i, 0]) for i in range(3))
    ax_bar = fig.add_subplot(grid[:, 1])
    title = BENCHMARK_TITLES.get(result.benchmark, result.benchmark)
    fig.suptitle(f"{title} — {result.model or 'model'}: score {100 * result.overall:.1f}", fontsize=14)

    both = np.concatenate([view["chosen"], view["rejected"]])
    bins = np.histogram_bin_edges(both, bins=40) if both.size else 10
    ax_dist.hist(view["chosen"], bins=bins, alpha=0.6, label=f"chosen (n={view['chosen'].size})", color="tab:green")
    ax_dist.hist(
        view["rejected"], bins=bins, alpha=0.6, label=f"rejected (n={view['rejected'].size})", color="tab:red"
    )
    ax_dist.set_xlabel("reward")
    ax_dist.set_ylabel("responses")
    ax_dist.legend()
    ax_dist.set_title("Reward distributions")

    probs, observed = pairwise_probabilities(view["margins"])
    edges, mean_p, freq, counts = reliability_bins(probs, observed, num_bins)
    ece = expected_calibration_error(probs, observed, num_bins)
    centers = (edges[:-1] + edges[1:]) / 2
    ax_cal.bar(
        centers,
        np.nan_to_num(freq),
        width=edges[1] - edges[0],
        alpha=0.6,
        edgecolor="black",
        label="observed frequency",
    )
    ax_cal.plot([0, 1], [0, 1], color="grey", ls="--", label="perfect calibration")
    ax_cal.plot(mean_p, freq, "o-", color="tab:red", ms=3, label="mean predicted")
    ax_cal.set_xlim(0, 1)
    ax_cal.set_ylim(0, 1)
    ax_cal.set_xlabel("sigmoid(r_first - r_second)")
    ax_cal.set_ylabel("P(first preferred)")
    ax_cal.set_title(f"Calibration (both orderings of {view['margins'].size} pairs): ECE = {ece:.3f}")
    ax_cal.legend(loc="upper left", fontsize=8)

    l_edges, acc, l_counts = accuracy_by_length_difference(view["length_diffs"], view["outcomes"])
    x = np.arange(acc.size)
    ax_len.bar(x, np.nan_to_num(acc), color="tab:purple", alpha=0.7)
    for xi, (a, n) in enumerate(zip(acc, l_counts, strict=True)):
        ax_len.text(xi, (0 if np.isnan(a) else a) + 0.02, f"n={n}", ha="center", fontsize=8)
    ax_len.set_xticks(
        x, [f"{l_edges[i]:+.0f}..{l_edges[i + 1]:+.0f}" for i in range(acc.size)], fontsize=8, rotation=20
    )
    ax_len.set_ylim(0, 1.1)
    ax_len.axhline(0.5, color="grey", lw=0.6, ls=":")
    ax_len.set_xlabel("len(chosen) - len(rejected), characters (quantile bins)")
    ax_len.set_ylabel("accuracy")
    ax_len.set_title("Length bias: accuracy by length difference")

    _score_bars(ax_bar, result)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
