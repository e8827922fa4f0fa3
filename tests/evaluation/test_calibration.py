"""Expected calibration error and the length-bias bins on hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from rewardlab.evaluation.calibration import expected_calibration_error, pairwise_probabilities, reliability_bins
from rewardlab.evaluation.length_bias import accuracy_by_length_difference


def test_ece_hand_computed():
    probs, outcomes = [0.1, 0.4, 0.8, 0.9], [0, 1, 1, 1]
    # 2 bins. [0, 0.5): mean p 0.25, frequency 0.5 -> |0.5 - 0.25| * 2/4 = 0.125
    #         [0.5, 1]: mean p 0.85, frequency 1.0 -> |1.0 - 0.85| * 2/4 = 0.075      ECE = 0.2
    assert expected_calibration_error(probs, outcomes, num_bins=2) == pytest.approx(0.2)
    edges, mean_p, freq, counts = reliability_bins(probs, outcomes, num_bins=2)
    np.testing.assert_allclose(edges, [0, 0.5, 1])
    np.testing.assert_allclose(mean_p, [0.25, 0.85])
    np.testing.assert_allclose(freq, [0.5, 1.0])
    assert counts.tolist() == [2, 2]


def test_ece_edges_and_empty_bins():
    # p = 1.0 falls in the last (closed) bin; p = 0.5 in the upper half; empty bins are ignored
    edges, mean_p, freq, counts = reliability_bins([1.0, 0.5], [1, 0], num_bins=4)
    assert counts.tolist() == [0, 0, 1, 1]
    assert np.isnan(freq[0])
    # bin [0.5, 0.75): |0 - 0.5| * 1/2; bin [0.75, 1]: |1 - 1| * 1/2 -> 0.25
    assert expected_calibration_error([1.0, 0.5], [1, 0], num_bins=4) == pytest.approx(0.25)
    assert np.isnan(expected_calibration_error([], []))


def test_pairwise_probabilities_symmetrise():
    probs, observed = pairwise_probabilities([0.0, np.log(3.0), 800.0])
    # sigmoid(0) = 0.5, sigmoid(ln 3) = 3/4, sigmoid(800) = 1 (no overflow); then the flipped pairs
    np.testing.assert_allclose(probs, [0.5, 0.75, 1.0, 0.5, 0.25, 0.0])
    assert observed.tolist() == [1, 1, 1, 0, 0, 0]
    # a zero margin is a calibrated coin flip: bin [0.5, 0.6) holds (0.5, 1) and (0.5, 0) -> frequency 0.5
    assert expected_calibration_error(*pairwise_probabilities([0.0, 0.0])) == pytest.approx(0.0)


def test_accuracy_by_length_difference():
    diffs, outcomes = [-10, -5, 5, 10], [0, 0, 1, 1]
    edges, acc, counts = accuracy_by_length_difference(diffs, outcomes, num_bins=2)
    # quantile edges at 0%, 50%, 100%: -10, 0, 10; right edge closed
    np.testing.assert_allclose(edges, [-10, 0, 10])
    np.testing.assert_allclose(acc, [0.0, 1.0])
    assert counts.tolist() == [2, 2]
    # all differences equal: a single bin
    edges, acc, counts = accuracy_by_length_difference([3, 3, 3], [1, 0, 1])
    assert counts.tolist() == [3] and acc[0] == pytest.approx(2 / 3)
