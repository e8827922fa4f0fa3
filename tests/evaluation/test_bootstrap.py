"""Bootstrap intervals: contain the estimate, narrow with more rows, repeat per seed."""

from __future__ import annotations

import numpy as np
import pytest

from rewardlab.evaluation import bootstrap
from rewardlab.evaluation.aggregation import overall_score, section_scores, ties_score, ties_table
from rewardlab.evaluation.bootstrap import bootstrap_intervals, bootstrap_subset_samples, percentile_interval
from rewardlab.evaluation.constants import LEADERBOARD_WEIGHTS, SECTIONS
from tests.helpers import TIES_ROWS


def _rewardbench_like(rows_per_subset: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.5, 0.95, size=len(LEADERBOARD_WEIGHTS))
    return {s: (rng.random(rows_per_subset) < pi).astype(float) for s, pi in zip(LEADERBOARD_WEIGHTS, p, strict=True)}


def _width(pair):
    return pair[1] - pair[0]


def test_intervals_contain_point_estimates_everywhere():
    outcomes = _rewardbench_like(60)
    samples = bootstrap_subset_samples(outcomes, num_samples=400, seed=0)
    assert {k: v.shape for k, v in samples.items()} == {k: (400,) for k in outcomes}
    iv = bootstrap_intervals(samples, LEADERBOARD_WEIGHTS, SECTIONS)
    point = {k: v.mean() for k, v in outcomes.items()}
    sec = section_scores(point)
    for k, (lo, hi) in iv["subsets"].items():
        assert lo <= point[k] <= hi and lo < hi
    for k, (lo, hi) in iv["sections"].items():
        assert lo <= sec[k] <= hi
    lo, hi = iv["overall"]
    assert lo <= overall_score(sec) <= hi
    # averaging shrinks noise: the overall interval is narrower than a typical subset interval
    assert _width(iv["overall"]) < np.median([_width(v) for v in iv["subsets"].values()])


def test_interval_narrows_with_more_rows():
    rng = np.random.default_rng(3)
    small = {"s": (rng.random(50) < 0.7).astype(float)}
    large = {"s": (rng.random(5000) < 0.7).astype(float)}
    w_small = _width(percentile_interval(bootstrap_subset_samples(small, 500, 0)["s"]))
    w_large = _width(percentile_interval(bootstrap_subset_samples(large, 500, 0)["s"]))
    # width ~ 2 * 1.96 * sqrt(0.21 / n): ~0.25 at n=50, ~0.025 at n=5000
    assert 0.15 < w_small < 0.35 and 0.015 < w_large < 0.035


def test_deterministic_per_seed():
    outcomes = _rewardbench_like(30)
    a = bootstrap_subset_samples(outcomes, 200, seed=7)
    b = bootstrap_subset_samples(outcomes, 200, seed=7)
    c = bootstrap_subset_samples(outcomes, 200, seed=8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_chunked_resampling_draws_the_same_stream(monkeypatch):
    outcomes = {"s": np.arange(10) % 3 == 0}
    whole = bootstrap_subset_samples(outcomes, 100, seed=5)["s"]
    monkeypatch.setattr(bootstrap, "_MAX_INDEX_CELLS", 30)  # 3 replicates per chunk
    np.testing.assert_array_equal(bootstrap_subset_samples(outcomes, 100, seed=5)["s"], whole)


def test_constant_outcomes_give_a_point_interval():
    samples = bootstrap_subset_samples({"all_right": np.ones(20), "all_wrong": np.zeros(20)}, 100, 0)
    assert percentile_interval(samples["all_right"]) == (1.0, 1.0)
    assert percentile_interval(samples["all_wrong"]) == (0.0, 0.0)


def test_ties_subset_is_resampled_by_prompt():
    table = ties_table(TIES_ROWS)
    samples = bootstrap_subset_samples({}, 300, seed=0, ties_tables={"Ties": table})["Ties"]
    lo, hi = percentile_interval(samples)
    assert lo <= ties_score(TIES_ROWS) <= hi
    # each resample is a multiset of the 3 prompts: the extremes are all-prompt-1, 1 + 0.01 tanh(1), and
    # all-prompt-2, 0 + 0.01 tanh(-1.5) (the margin term can be negative)
    assert samples.max() == pytest.approx(1.0 + 0.01 * np.tanh(1.0))
    assert samples.min() == pytest.approx(0.01 * np.tanh(-1.5))


def test_invalid_sample_count():
    with pytest.raises(ValueError):
        bootstrap_subset_samples({"s": np.ones(3)}, 0)
