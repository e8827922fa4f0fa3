"""Percentile-bootstrap intervals for every score: per subset, per section and overall.

Rows are resampled with replacement within each subset (Ties: prompts, so a prompt's "ref" and "tied" rows move
together); each replicate's subset scores go through the same section/overall arithmetic as the point estimate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from rewardlab.evaluation.aggregation import overall_score, section_scores, ties_score_from_table

_MAX_INDEX_CELLS = 4_000_000  # resample in chunks so (chunk, n) index matrices stay ~32 MB


def _resample_indices(rng: np.random.Generator, n: int, num_samples: int):
    chunk = max(1, _MAX_INDEX_CELLS // max(n, 1))
    for start in range(0, num_samples, chunk):
        yield rng.integers(0, n, size=(min(chunk, num_samples - start), n))


def bootstrap_subset_samples(
    outcomes: Mapping[str, Sequence[float] | np.ndarray],
    num_samples: int = 1000,
    seed: int = 0,
    ties_tables: Mapping[str, dict[str, np.ndarray]] | None = None,
) -> dict[str, np.ndarray]:
    """(num_samples,) replicate scores per subset.

    `outcomes` maps a subset to its per-row credits (score = their mean); `ties_tables` maps a subset to a
    `ties_table` (score = `ties_score_from_table`). Subsets are drawn in sorted order from one seeded generator,
    so the result depends only on the data and `seed`.
    """
    if num_samples < 1:
        raise ValueError("num_samples must be at least 1")
    ties_tables = ties_tables or {}
    rng = np.random.default_rng(seed)
    samples: dict[str, np.ndarray] = {}
    for name in sorted({*outcomes, *ties_tables}):
        if name in ties_tables:
            table = ties_tables[name]
            n = len(next(iter(table.values())))
            parts = [ties_score_from_table(table, idx) for idx in _resample_indices(rng, n, num_samples)]
        else:
            x = np.asarray(outcomes[name], dtype=np.float64)
            n = x.size
            parts = [x[idx].mean(axis=1) for idx in _resample_indices(rng, n, num_samples)] if n else []
        samples[name] = np.concatenate(parts) if n else np.full(num_samples, np.nan)
    return samples


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    if np.isnan(samples).any():
        return float("nan"), float("nan")
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_intervals(
    subset_samples: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    sections: Mapping[str, Sequence[str]],
    section_weights: Mapping[str, float] | None = None,
    confidence: float = 0.95,
) -> dict[str, object]:
    """``{"subsets": {name: (lo, hi)}, "sections": {name: (lo, hi)}, "overall": (lo, hi)}``."""
    sec = section_scores(subset_samples, weights, sections)  # each (B,)
    out: dict[str, object] = {
        "subsets": {k: percentile_interval(v, confidence) for k, v in subset_samples.items()},
        "sections": {k: percentile_interval(v, confidence) for k, v in sec.items()},
        "overall": percentile_interval(overall_score(sec, section_weights), confidence)
        if sec
        else (float("nan"), float("nan")),
    }
    return out
