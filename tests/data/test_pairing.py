"""Selection rules of recipe section 3, on hand-made scores."""

from __future__ import annotations

import pytest

from rewardlab.data.pairing import (
    all_pairs,
    best_vs_random,
    helpsteer_score,
    is_equal_score,
    mean_rating,
    parse_rating,
    pku_pair,
    rng_for,
    select_pairs,
    shp_select,
)


def test_mean_rating_skips_na():
    # UltraFeedback ratings are strings and may be "N/A": (4 + 4 + 5) / 3 = 13/3.
    assert mean_rating(["4", "N/A", "4", "5"]) == pytest.approx(13 / 3)
    assert mean_rating(["N/A", "N/A"]) is None
    assert mean_rating([]) is None
    assert parse_rating("n/a") is None and parse_rating(float("nan")) is None and parse_rating(True) is None
    assert parse_rating(" 3 ") == 3.0


def test_helpsteer_score_is_mean_of_helpfulness_and_correctness():
    assert helpsteer_score(2, 4) == 3.0
    assert helpsteer_score(None, 4) is None


def test_all_pairs_orders_higher_first_and_skips_unrated():
    scores = [1.0, 3.0, None, 2.0]
    # unordered pairs of {0, 1, 3}: (0,1) -> (1,0); (0,3) -> (3,0); (1,3) -> (1,3)
    assert all_pairs(scores) == [(1, 0), (3, 0), (1, 3)]
    assert all_pairs([2.0, 2.0]) == [(0, 1)]  # ties kept in index order, dropped by the caller
    assert is_equal_score([2.0, 2.0], (0, 1)) and not is_equal_score(scores, (1, 0))


def test_best_vs_random_draws_from_others_or_lower():
    scores = [2.0, 5.0, 5.0, 1.0, None]
    for seed in range(20):
        ((best, other),) = best_vs_random(scores, rng_for(seed, "x"), pool="others")
        assert best == 1  # first of the tied best
        assert other in (0, 2, 3)
        ((_, lower),) = best_vs_random(scores, rng_for(seed, "x"), pool="lower")
        assert lower in (0, 3)  # never the equal-scored 2
    assert best_vs_random([3.0, 3.0], rng_for(0), pool="lower") == []
    assert best_vs_random([3.0, None], rng_for(0)) == []
    drawn = {best_vs_random([9.0, 1.0, 2.0, 3.0], rng_for(s))[0][1] for s in range(50)}
    assert drawn == {1, 2, 3}  # every other response can be drawn


def test_best_vs_random_is_deterministic_per_key():
    scores = [1.0, 2.0, 3.0, 4.0, 5.0]
    a = [best_vs_random(scores, rng_for(7, "src", i)) for i in range(10)]
    b = [best_vs_random(scores, rng_for(7, "src", i)) for i in range(10)]
    assert a == b
    with pytest.raises(ValueError, match="pairing must be one of"):
        select_pairs(scores, "best_vs_worst", rng_for(0))


def test_shp_select_ratio_and_per_prompt_limit():
    posts = ["a", "a", "a", "b", "c", "a"]
    ratios = [3.0, 2.5, 1.5, 2.0, 10.0, 4.0]
    # ratio > 2 strictly: rows 0, 1, 4, 5 (row 3 is exactly 2.0)
    assert shp_select(posts, ratios, 2.0, None) == [0, 1, 4, 5]
    assert shp_select(posts, ratios, 2.0, 5) == [0, 1, 4, 5]
    assert shp_select(posts, ratios, 2.0, 1, pick="first") == [0, 4]
    assert shp_select(posts, ratios, 2.0, 2, pick="highest_ratio") == [0, 4, 5]  # a: 4.0 and 3.0
    picks = {tuple(shp_select(posts, ratios, 2.0, 1, pick="random", seed=s)) for s in range(30)}
    assert picks == {(0, 4), (1, 4), (4, 5)}  # one of post a's three rows, always c's row
    with pytest.raises(ValueError):
        shp_select(posts, ratios, 2.0, 0)


def test_pku_pair_choices():
    assert pku_pair(0, 1, "safer") == (1, 0)
    assert pku_pair(0, 1, "better") == (0, 1)
    assert pku_pair(0, 1, "agree") is None
    assert pku_pair(1, 1, "agree") == (1, 0)
    with pytest.raises(ValueError, match="better_response_id must be 0 or 1"):
        pku_pair(2, 1)


def test_pku_safe_then_better():
    # (better, safer, [safe0, safe1]) -> (chosen, rejected)
    assert pku_pair(0, 1, is_safe=[False, True]) == (1, 0)  # one safe: the safe one beats the more helpful
    assert pku_pair(1, 0, is_safe=[True, True]) == (1, 0)  # both safe: helpfulness decides, not safer_id
    assert pku_pair(1, 0, is_safe=[False, False]) == (1, 0)  # both unsafe: likewise
    assert pku_pair(0, 0, is_safe=[True, False]) == (0, 1)
    assert pku_pair(0, 1, is_safe=[True, False]) is None  # safer_response_id names the unsafe one: contradiction
    with pytest.raises(ValueError, match="is_response_1_safe must be true or false"):
        pku_pair(0, 0, is_safe=[True, "no"])
    with pytest.raises(ValueError, match="needs both"):
        pku_pair(0, 0, "safe_then_better")
