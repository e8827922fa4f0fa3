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
