"""Pure helpers of benchmarks/train_throughput.py (the benchmark itself needs trl and real data)."""

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "train_throughput.py"
_spec = importlib.util.spec_from_file_location("train_throughput", _PATH)
tt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tt)


def test_padding_fraction():
    assert tt.padding_fraction(75, 100) == pytest.approx(0.25)
    assert tt.padding_fraction(0, 0) == 0.0


def test_mfu_is_six_n_t_over_peak():
    assert tt.mfu(100, 10.0, 6000.0) == pytest.approx(1.0)


def test_timed_window_skips_warmup_step():
    steps, seconds = tt.timed_window([5.0, 7.0, 9.5, 12.0])
    assert steps == 3 and seconds == pytest.approx(7.0)
    with pytest.raises(ValueError):
        tt.timed_window([1.0])


def test_ratio_handles_missing():
    assert tt.ratio(3.0, 1.5) == pytest.approx(2.0)
    assert tt.ratio(None, 1.0) is None and tt.ratio(1.0, 0.0) is None


def test_pooled_metrics_weigh_rounds_by_their_timed_seconds():
    runs = [{"metrics": {"timed_seconds": 10.0, "timed_steps": 5, "real_tokens_per_second": 100.0, "mfu": 0.5,
                         "peak_rss_gb": 4.0}},
            {"metrics": {"timed_seconds": 30.0, "timed_steps": 5, "real_tokens_per_second": 60.0, "mfu": 0.3,
                         "peak_rss_gb": 4.5}}]
    pooled = tt.pooled_metrics(runs, batch=8)
    assert pooled["pairs_per_second"] == pytest.approx(80 / 40)  # not the mean of 4.0 and 1.33
    assert pooled["real_tokens_per_second"] == pytest.approx((1000 + 1800) / 40)
    assert pooled["peak_rss_gb"] == 4.5 and pooled["rounds"] == 2
    cmp = tt.compare({"pairs_per_second": 3.1, "real_tokens_per_second": 1, "peak_rss_gb": 4.6, "mfu": 1},
                     {"pairs_per_second": 1.0, "real_tokens_per_second": 1, "peak_rss_gb": 9.0, "mfu": 1})
    assert cmp["goal_3x_pairs_per_second"] and not cmp["goal_half_peak_memory"]
