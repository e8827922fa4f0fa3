"""Calibration of Bradley-Terry win probabilities sigmoid(r_chosen - r_rejected) against observed preferences."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pairwise_probabilities(margins: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Both orientations of each pair: predicted P(first preferred) and whether it was (1/0).

    A pair with margin m = r_c - r_r contributes (sigmoid(m), 1) and (sigmoid(-m), 0): the labelled direction
    alone would make every observed frequency 1. Returns two (2n,) arrays.
    """
    m = np.asarray(margins, dtype=np.float64)
    p = 0.5 * (1.0 + np.tanh(0.5 * m))  # = sigmoid(m), without overflow warnings for large |m|
    return np.concatenate([p, 1.0 - p]), np.concatenate([np.ones_like(p), np.zeros_like(p)])


def reliability_bins(
    probs: Sequence[float], outcomes: Sequence[float], num_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Equal-width bins on [0, 1] (the last one closed): edges (num_bins+1,), and per bin (num_bins,) the
    mean predicted probability, the observed frequency (nan where empty) and the count."""
    p, y = np.asarray(probs, dtype=np.float64), np.asarray(outcomes, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=False), 0, num_bins - 1)
    counts = np.bincount(which, minlength=num_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(which, weights=p, minlength=num_bins) / counts
        freq = np.bincount(which, weights=y, minlength=num_bins) / counts
    return edges, mean_p, freq, counts.astype(np.int64)


def expected_calibration_error(probs: Sequence[float], outcomes: Sequence[float], num_bins: int = 10) -> float:
    """ECE = sum over bins of (n_b / N) * |observed frequency_b - mean predicted probability_b|."""
    _, mean_p, freq, counts = reliability_bins(probs, outcomes, num_bins)
    total = counts.sum()
    if total == 0:
        return float("nan")
    nonempty = counts > 0
    return float(np.sum(counts[nonempty] / total * np.abs(freq[nonempty] - mean_p[nonempty])))
