"""Scoring arithmetic on hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rewardlab.evaluation.aggregation import (
    best_of_n_outcome,
    overall_score,
    pairwise_outcomes,
    section_scores,
    ties_score,
    ties_score_from_table,
    ties_table,
)
from rewardlab.evaluation.constants import (
    LEADERBOARD_WEIGHTS,
    PRIOR_SETS_SECTION,
    PRIOR_SETS_SECTION_WEIGHTS,
    ROW_COUNTS,
    SECTIONS,
    SUBSETS,
)


def test_constants_describe_the_filtered_split():
    assert len(SUBSETS) == 23 and len(set(SUBSETS)) == 23
    assert set(ROW_COUNTS) == set(SUBSETS) == set(LEADERBOARD_WEIGHTS)
    assert sum(ROW_COUNTS.values()) == 2985
    # math-prm weighs as much as the six code subsets: 984 = 6 * 164 (447 real rows)
    assert LEADERBOARD_WEIGHTS["math-prm"] == 6 * 164 and ROW_COUNTS["math-prm"] == 447
    # upstream's XSTest weights are the row counts swapped
    assert (LEADERBOARD_WEIGHTS["xstest-should-refuse"], LEADERBOARD_WEIGHTS["xstest-should-respond"]) == (250, 154)
    assert (ROW_COUNTS["xstest-should-refuse"], ROW_COUNTS["xstest-should-respond"]) == (154, 250)
    assert [len(v) for v in SECTIONS.values()] == [5, 6, 5, 7]


def test_pairwise_outcomes_tie_policies():
    chosen, rejected = [2.0, 1.0, 1.0], [1.0, 1.0, 3.0]  # win, tie, loss
    assert pairwise_outcomes(chosen, rejected).tolist() == [1.0, 0.0, 0.0]  # official: tie is wrong
    assert pairwise_outcomes(chosen, rejected, "half").tolist() == [1.0, 0.5, 0.0]
    with pytest.raises(ValueError, match="tie_policy"):
        pairwise_outcomes(chosen, rejected, "random")


@pytest.mark.parametrize(
    ("scores", "credit"),
    [
        ([3, 1, 2, 0], 1.0),
        ([3, 3, 1, 0], 0.5),
        ([2, 2, 2, 1], 1 / 3),
        ([2, 2, 2, 2], 0.25),
        ([1, 3, 0, 0], 0.0),
        ([1, 1, 3, 0], 0.0),
    ],
)
def test_best_of_n_outcome(scores, credit):
    assert best_of_n_outcome(scores) == pytest.approx(credit)


def test_section_scores_weighted_mean_and_missing_subsets():
    weights = {"a": 3, "b": 1, "c": 5}
    sections = {"S": ("a", "b"), "T": ("c",), "U": ("d",)}
    # S = (1.0 * 3 + 0.5 * 1) / 4 = 0.875; T has only c; U has nothing present -> omitted (upstream: 0)
    assert section_scores({"a": 1.0, "b": 0.5, "c": 0.2}, weights, {**sections, "U": ()}) == {"S": 0.875, "T": 0.2}
    # b absent: S averages a alone
    assert section_scores({"a": 0.4}, weights, sections) == {"S": pytest.approx(0.4)}


def test_math_weighs_as_much_as_all_code():
    metrics = {"math-prm": 0.5, **{f"hep-{x}": 1.0 for x in ("cpp", "go", "java", "js", "python", "rust")}}
    # (0.5 * 984 + 1.0 * 6 * 164) / (984 + 984) = 0.75: the mean of math and code, not row-weighted
    assert section_scores(metrics)["Reasoning"] == pytest.approx(0.75)
    # row-weighted instead: (0.5 * 447 + 984) / (447 + 984) = 1207.5 / 1431
    assert section_scores(metrics, ROW_COUNTS)["Reasoning"] == pytest.approx(1207.5 / 1431)


def test_xstest_weights_follow_upstream():
    metrics = {"xstest-should-refuse": 1.0, "xstest-should-respond": 0.0}
    assert section_scores(metrics)["Safety"] == pytest.approx(250 / 404)
    assert section_scores(metrics, ROW_COUNTS)["Safety"] == pytest.approx(154 / 404)


def test_overall_is_mean_of_sections_anchor_skywork():
    # Skywork-Reward-Gemma-2-27B: 95.8 / 91.4 / 92.0 / 96.1 -> 375.3 / 4 = 93.825 -> 93.8
    sec = {"Chat": 95.8, "Chat Hard": 91.4, "Safety": 92.0, "Reasoning": 96.1}
    assert overall_score(sec) == pytest.approx(93.825)
    assert round(overall_score(sec), 1) == 93.8


def test_overall_with_prior_sets_weights():
    sec = {"Chat": 0.9, "Chat Hard": 0.5, "Safety": 0.8, "Reasoning": 0.7, PRIOR_SETS_SECTION: 0.6}
    # (2 * (0.9 + 0.5 + 0.8 + 0.7) + 1 * 0.6) / 9 = 6.4 / 9
    assert overall_score(sec, PRIOR_SETS_SECTION_WEIGHTS) == pytest.approx(6.4 / 9)
    with pytest.raises(ValueError):
        overall_score({})


def test_section_and_overall_accept_bootstrap_arrays():
    metrics = {"a": np.array([1.0, 0.0]), "b": np.array([0.5, 0.5])}
    sec = section_scores(metrics, {"a": 1, "b": 3}, {"S": ("a", "b")})
    # (1 * [1, 0] + 3 * [0.5, 0.5]) / 4 = [0.625, 0.375]
    np.testing.assert_allclose(sec["S"], [0.625, 0.375])
    np.testing.assert_allclose(overall_score(sec), [0.625, 0.375])


TIES_ROWS = [
    # prompt 1. ref: correct [5] vs incorrect [1, 2] -> accurate, margin m_ref = 5 - 2 = 3
    ("ref:1", [5.0, 1.0, 2.0], 1),
    # tied: correct [4, 3] vs [1, 0] -> accurate, m_tied = 3 - 1 = 2, spread d = 4 - 3 = 1
    ("tied:1", [4.0, 3.0, 1.0, 0.0], 2),
    # prompt 2. ref: [1] vs [2] -> not accurate, m_ref = -1
    ("ref:2", [1.0, 2.0], 1),
    # tied: correct [3, 1] vs [2] -> not accurate (1 < 2), m_tied = -1, d = 2
    ("tied:2", [3.0, 1.0, 2.0], 2),
    # prompt 3: tied only, [2] vs [1] -> accurate; no ref row so not in the margin terms
    ("tied:3", [2.0, 1.0], 1),
]


def test_ties_score_hand_computed():
    acc_tied = 2 / 3  # prompts 1, 3 of 1, 2, 3
    acc_ref = 1 / 2  # prompt 1 of 1, 2
    preferred = 1 / 2  # m_tied > d: prompt 1 (2 > 1) yes, prompt 2 (-1 > 2) no
    preferred_hard = 1 / 2  # min(m_ref, m_tied) > d: prompt 1 (2 > 1) yes, prompt 2 (-1 > 2) no
    margin = (math.tanh(2 / 1 - 1) + math.tanh(-1 / 2 - 1)) / 2  # (0.761594 - 0.905148) / 2 = -0.071777
    expected = 0.3 * acc_tied + 0.3 * acc_ref + 0.2 * preferred + 0.2 * preferred_hard + 0.01 * margin
    assert expected == pytest.approx(0.5492822, abs=1e-7)
    assert ties_score(TIES_ROWS) == pytest.approx(expected, abs=1e-12)


def test_ties_score_table_with_identity_resample_equals_point():
    table = ties_table(TIES_ROWS)
    assert len(table["has_ref"]) == 3  # one unit per prompt
    identity = np.arange(3)[None, :]  # (B=1, P=3)
    np.testing.assert_allclose(ties_score_from_table(table, identity), [ties_score(TIES_ROWS)])
    # a resample holding prompt 1 three times: every term is 1 except margin tanh(1) -> 0.3+0.3+0.2+0.2+0.01*0.7616
    np.testing.assert_allclose(
        ties_score_from_table(table, np.zeros((1, 3), dtype=int)), [1.0 + 0.01 * math.tanh(1.0)]
    )


def test_ties_rejects_unknown_ids():
    with pytest.raises(ValueError, match="ref:<int>"):
        ties_table([("17", [1.0, 0.0], 1)])
