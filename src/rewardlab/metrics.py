"""Pure statistics shared by training and evaluation: accuracy with a percentile-bootstrap interval."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_interval(values: Sequence[float], num_samples: int = 1000, confidence: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of `values` (rows resampled with replacement)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(num_samples, x.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha))


def pair_outcomes(chosen: Sequence[float], rejected: Sequence[float], tie_value: float = 0.0) -> np.ndarray:
    """Per pair: 1 when chosen > rejected, `tie_value` on a tie (official RewardBench: 0), else 0."""
    c, r = np.asarray(chosen, dtype=np.float64), np.asarray(rejected, dtype=np.float64)
    return np.where(c > r, 1.0, np.where(c == r, tie_value, 0.0))


def accuracy_with_interval(chosen: Sequence[float], rejected: Sequence[float], tie_value: float = 0.0,
                           num_samples: int = 1000, seed: int = 0) -> dict[str, float]:
    outcomes = pair_outcomes(chosen, rejected, tie_value)
    low, high = bootstrap_interval(outcomes, num_samples, seed=seed)
    return {"accuracy": float(outcomes.mean()) if outcomes.size else float("nan"), "accuracy_ci_low": low,
            "accuracy_ci_high": high, "num_pairs": int(outcomes.size)}


# Below this many pairs a held-out accuracy interval is not worth printing: each pair moves the accuracy by 1/n,
# and the percentile bootstrap of a proportion under-covers at small n (it needs roughly n p (1 - p) >= 5-10).
MIN_PAIRS_FOR_INTERVAL = 30


def interval_note(num_pairs: int, low: float, high: float, unit: str = "pairs") -> str | None:
    """Why an accuracy interval from `accuracy_with_interval` says nothing, or None when it can be shown.

    When every pair agrees (accuracy 0 or 1) every resample is the same and the bootstrap interval collapses to
    a point: 4 of 4 right printed "95% CI 1.000-1.000", where the exact (Clopper-Pearson) interval is
    [0.025 ** (1/4), 1] = [0.40, 1].
    """
    if num_pairs < MIN_PAIRS_FOR_INTERVAL:
        return f"{num_pairs} {unit}: too few for a meaningful 95% interval"
    if low == high:
        return "every bootstrap resample gave the same accuracy: no meaningful 95% interval"
    return None
