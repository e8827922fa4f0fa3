"""Length-bias probe: accuracy as a function of len(chosen) - len(rejected) in characters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def accuracy_by_length_difference(
    length_diffs: Sequence[float], outcomes: Sequence[float], num_bins: int = 6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin pairs by length difference at quantiles (so bins hold similar counts; duplicate edges merged).

    Returns edges (k+1,), accuracy per bin (k,) (nan where empty) and count per bin (k,). A model that tracks
    length rather than quality scores high where chosen is longer (right) and low where it is shorter (left).
    """
    d, y = np.asarray(length_diffs, dtype=np.float64), np.asarray(outcomes, dtype=np.float64)
    if d.size == 0:
        return np.zeros(1), np.zeros(0), np.zeros(0, dtype=np.int64)
    edges = np.unique(np.quantile(d, np.linspace(0.0, 1.0, num_bins + 1)))
    if edges.size == 1:  # all differences equal: one bin
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    k = edges.size - 1
    which = np.clip(np.searchsorted(edges, d, side="right") - 1, 0, k - 1)
    counts = np.bincount(which, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(which, weights=y, minlength=k) / counts
    return edges, acc, counts
