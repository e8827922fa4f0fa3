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
    LEGACY_2024_09_WEIGHTS,
    PRIOR_SETS_SECTION,
    PRIOR_SETS_SECTION_WEIGHTS,
    ROW_COUNTS,
    SECTIONS,
    SUBSETS,
)
from tests.helpers import TIES_ROWS


def test_constants_describe_the_filtered_split():
    assert len(SUBSETS) == 23 and len(set(SUBSETS)) == 23
    assert set(ROW_COUNTS) == set(SUBSETS) == set(LEADERBOARD_WEIGHTS)
    assert sum(ROW_COUNTS.values()) == 2985
    # math-prm weighs as much as the six code subsets: 984 = 6 * 164 (447 real rows)
    assert LEADERBOARD_WEIGHTS["math-prm"] == 6 * 164 and ROW_COUNTS["math-prm"] == 447
    # upstream's XSTest weights are the row counts since 2024-09-10; before, they were swapped
    assert (LEADERBOARD_WEIGHTS["xstest-should-refuse"], LEADERBOARD_WEIGHTS["xstest-should-respond"]) == (154, 250)
    assert (ROW_COUNTS["xstest-should-refuse"], ROW_COUNTS["xstest-should-respond"]) == (154, 250)
    xs = (LEGACY_2024_09_WEIGHTS["xstest-should-refuse"], LEGACY_2024_09_WEIGHTS["xstest-should-respond"])
    assert xs == (250, 154)
    assert {k: v for k, v in LEGACY_2024_09_WEIGHTS.items() if not k.startswith("xstest")} == {
        k: v for k, v in LEADERBOARD_WEIGHTS.items() if not k.startswith("xstest")
    }
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
    # today: (1 * 154 + 0 * 250) / 404; before 2024-09-10: (1 * 250 + 0 * 154) / 404
    assert section_scores(metrics)["Safety"] == pytest.approx(154 / 404)
    assert section_scores(metrics, LEGACY_2024_09_WEIGHTS)["Safety"] == pytest.approx(250 / 404)


def test_overall_is_mean_of_sections_anchor_skywork():
    # Skywork-Reward-Gemma-2-27B-v0.2 on the leaderboard: 96.1 / 89.9 / 93.0 / 98.1 -> 377.1 / 4 = 94.275 -> 94.3
    sec = {"Chat": 96.1, "Chat Hard": 89.9, "Safety": 93.0, "Reasoning": 98.1}
    assert overall_score(sec) == pytest.approx(94.275)
    assert round(overall_score(sec), 1) == 94.3


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


def test_ties_spread_zero_counts_the_sign_of_the_margin():
    rows = [
        # prompt 1: ref m = 3 - 1 = 2; tied correct [2, 2] (spread 0) vs [1]: m = 1; min 1 -> term sign(1) = 1
        ("ref:1", [3.0, 1.0], 1),
        ("tied:1", [2.0, 2.0, 1.0], 2),
        # prompt 2: ref m = 1 - 1 = 0 (not accurate); tied [4, 4] vs [0]: m = 4, spread 0; min 0 -> 0 / 0 -> 0
        ("ref:2", [1.0, 1.0], 1),
        ("tied:2", [4.0, 4.0, 0.0], 2),
        # prompt 3: ref m = 0 - 2 = -2; tied [1, 1] vs [3]: m = -2, spread 0 -> term sign(-2) = -1
        ("ref:3", [0.0, 2.0], 1),
        ("tied:3", [1.0, 1.0, 3.0], 2),
        # prompt 4: ref m = 5; tied [6, 4] vs [0]: m = 4, spread 2; min 4 -> tanh(4 / 2 - 1) = tanh(1)
        ("ref:4", [5.0, 0.0], 1),
        ("tied:4", [6.0, 4.0, 0.0], 2),
    ]
    acc_ref = 2 / 4  # prompts 1, 4
    acc_tied = 3 / 4  # prompts 1, 2, 4
    preferred = 3 / 4  # m_tied > spread: 1 > 0, 4 > 0, -2 > 0 no, 4 > 2
    preferred_hard = 2 / 4  # min(m_ref, m_tied) > spread: 1 > 0, 0 > 0 no, -2 > 0 no, 4 > 2
    margin = (1 + 0 - 1 + math.tanh(1.0)) / 4  # every prompt with both rows, not only those with spread > 0
    expected = 0.3 * acc_tied + 0.3 * acc_ref + 0.2 * preferred + 0.2 * preferred_hard + 0.01 * margin
    assert ties_score(rows) == pytest.approx(expected, abs=1e-12)


def test_ties_rows_sharing_an_id_are_pooled():
    rows = [
        ("ref:1", [4.0, 0.0], 1),  # m_ref = 4
        # pooled tied prompt 1: correct [3, 2.5, 2.8], incorrect [0, 1] -> m = 2.5 - 1 = 1.5, spread 3 - 2.5 = 0.5
        ("tied:1", [3.0, 2.5, 0.0], 2),
        ("tied:1", [2.8, 1.0], 1),
    ]
    # accurate both; 1.5 > 0.5; min(4, 1.5) > 0.5; margin term tanh(1.5 / 0.5 - 1) = tanh(2)
    assert ties_score(rows) == pytest.approx(0.3 + 0.3 + 0.2 + 0.2 + 0.01 * math.tanh(2.0), abs=1e-12)
    assert len(ties_table(rows)["has_both"]) == 1


def test_ties_rejects_unknown_ids():
    for bad in ("17", "ref:x", "ref:1:2", "Ref:1", "other:1"):
        with pytest.raises(ValueError, match="ref:<int>"):
            ties_table([(bad, [1.0, 0.0], 1)])


def test_ties_rejects_prompts_upstream_cannot_score():
    with pytest.raises(ValueError, match=r"tied:1.*at least one correct and one incorrect"):
        ties_table([("tied:1", [2.0, 1.0], 2)])
    with pytest.raises(ValueError, match="prompt 3: the tied row holds a single correct answer"):
        ties_table([("ref:3", [2.0, 1.0], 1), ("tied:3", [2.0, 1.0], 1)])
