"""The kinds' pure maths on hand-computed tensors (the arithmetic is written next to each expectation)."""

import math

import pytest
import torch

from rewardlab.kinds.multi_objective import (
    gated_score,
    masked_mse,
    ridge_fit,
    select_ridge_alpha,
    verbosity_decorrelation,
)
from rewardlab.kinds.pairwise import (
    answer_token_loss,
    average_orderings,
    first_better_probability,
    knockout_winner,
    knockout_winners,
    round_robin_scores,
    training_examples,
)
from rewardlab.kinds.regression import combine_attributes, masked_mse_loss, pairs_from_rows, per_attribute_mse

NAN = float("nan")


def test_masked_mse_ignores_missing_labels():
    pred = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [5.0, 5.0, 5.0]])
    target = torch.tensor([[2.0, NAN, 1.0], [NAN, NAN, NAN], [5.0, 3.0, NAN]])
    # row 0: ((1-2)^2 + (3-1)^2) / 2 = 2.5; row 1: nothing observed -> 0; row 2: (0 + 4) / 2 = 2
    assert masked_mse_loss(pred, target).tolist() == [2.5, 0.0, 2.0]
    # per attribute: col 0 (1 + 0) / 2 = 0.5; col 1 4 / 1 = 4; col 2 4 / 1 = 4
    assert per_attribute_mse(pred, target).tolist() == [0.5, 4.0, 4.0]
    # a missing label passes no gradient
    p = pred.clone().requires_grad_()
    masked_mse_loss(p, target).sum().backward()
    assert p.grad[1].abs().sum() == 0 and p.grad[0, 1] == 0 and p.grad[0, 0] == 2 * (1 - 2) / 2


def test_combine_attributes_is_a_weighted_sum():
    scores = torch.tensor([[4.0, 2.0, 1.0], [1.0, 1.0, 3.0]], dtype=torch.float64)
    # 4*0.5 + 2*1 + 1*(-1) = 3; 1*0.5 + 1*1 + 3*(-1) = -1.5
    assert combine_attributes(scores, torch.tensor([0.5, 1.0, -1.0], dtype=torch.float64)).tolist() == [3.0, -1.5]


def test_pairs_from_rows_groups_by_prompt_and_skips_ties_and_missing():
    from rewardlab.kinds.regression import AttributeExample

    ctx = ({"role": "user", "content": "q"},)
    other = ({"role": "user", "content": "q2"},)
    rows = [AttributeExample(ctx, "a", (3.0,)), AttributeExample(ctx, "b", (1.0,)), AttributeExample(ctx, "c", (3.0,)),
            AttributeExample(ctx, "d", (NAN,)), AttributeExample(other, "e", (2.0,))]
    pairs = pairs_from_rows(rows, [1.0])
    # a>b, b<c, a=c (tie: skipped), d missing, e alone in its prompt
    assert [(p.chosen, p.rejected) for p in pairs] == [("a", "b"), ("c", "b")]


def test_answer_token_loss_scores_only_the_answer_token():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    # row 0, target 0: -log(e^2 / (e^2 + 2)); row 1, target 2: -log(1/3)
    expected = [-math.log(math.exp(2) / (math.exp(2) + 2)), math.log(3)]
    assert answer_token_loss(logits, torch.tensor([0, 2])).tolist() == pytest.approx(expected)


def test_first_better_probability_is_softmax_over_a_and_b_only():
    logits = torch.tensor([[1.0, 9.0, 3.0, -50.0]])  # ids: A=2, B=0; token 1 (large) is ignored
    # softmax([3, 1])[0] = e^3 / (e^3 + e^1) = 1 / (1 + e^-2)
    assert first_better_probability(logits, 2, 0).item() == pytest.approx(1 / (1 + math.exp(-2)))


def test_average_orderings_cancels_a_position_bias():
    # the model prefers slot A by +0.2 whatever is there: (a, b) -> 0.9, (b, a) -> 0.5
    # P(a better) = (0.9 + (1 - 0.5)) / 2 = 0.7; a pure position bias (0.6 both ways) gives a tie 0.5
    p = average_orderings(torch.tensor([0.9, 0.6]), torch.tensor([0.5, 0.6]))
    assert p.tolist() == pytest.approx([0.7, 0.5])


def test_round_robin_sums_win_probabilities():
    w = torch.tensor([[0.0, 0.7, 0.4], [0.3, 0.0, 0.9], [0.6, 0.1, 0.0]])
    # 0.7 + 0.4 = 1.1; 0.3 + 0.9 = 1.2; 0.6 + 0.1 = 0.7 (the diagonal is ignored)
    assert round_robin_scores(w + torch.eye(3)).tolist() == pytest.approx([1.1, 1.2, 0.7])
    # a group of two: [p, 1 - p]
    assert round_robin_scores(torch.tensor([[0.0, 0.8], [0.2, 0.0]])).tolist() == pytest.approx([0.8, 0.2])


def test_knockout_winner_brackets_byes_and_ties():
    strength = [3.0, 9.0, 1.0, 7.0, 5.0]
    played = []

    def play(matches):
        played.append(matches)
        return [0.5 if strength[a] == strength[b] else float(strength[a] > strength[b]) for a, b in matches]

    # round 1: (0 v 1) -> 1, (2 v 3) -> 3, 4 bye; round 2: (1 v 3) -> 1, 4 bye; final (1 v 4) -> 1
    assert knockout_winner(5, play) == 1
    assert played == [[(0, 1), (2, 3)], [(1, 3)], [(1, 4)]]
    assert sum(len(r) for r in played) == 4  # n - 1 matches
    assert knockout_winner(2, lambda m: [0.5]) == 0  # a tie keeps the earlier entrant
    assert knockout_winner(1, lambda m: []) == 0


def test_training_examples_orderings():
    from tests.helpers import synthetic_pairs

    pairs = synthetic_pairs(40)
    both = training_examples(pairs, "both", seed=0)
    assert len(both) == 80 and both[0][1:] == (pairs[0].chosen, pairs[0].rejected, 0)
    assert both[1][1:] == (pairs[0].rejected, pairs[0].chosen, 1)
    one = training_examples(pairs, "random", seed=0)
    assert len(one) == 40 and 10 < sum(y for *_, y in one) < 30  # the answer is "B" about half of the time
    assert all((a, b) == ((p.chosen, p.rejected) if y == 0 else (p.rejected, p.chosen))
               for (_, a, b, y), p in zip(one, pairs))


def test_ridge_closed_form_matches_hand_computation():
    x = torch.tensor([[0.0], [1.0], [2.0], [NAN]]).nan_to_num(5.0)
    y = torch.tensor([1.0, 3.0, 5.0, NAN])  # the 4th label is missing: masked out
    # centred: x = [-1, 0, 1], y = [-2, 0, 2]; w = sum(xy) / (sum(x^2) + alpha) = 4 / (2 + 2) = 1; b = 3 - 1 * 1 = 2
    w, b = ridge_fit(x, y, alpha=2.0)
    assert w.tolist() == pytest.approx([1.0]) and float(b) == pytest.approx(2.0)
    w0, b0 = ridge_fit(x, y, alpha=1e-12)  # no penalty: the exact line y = 2x + 1
    assert w0.tolist() == pytest.approx([2.0]) and float(b0) == pytest.approx(1.0)


def test_select_ridge_alpha_uses_the_validation_split():
    x = torch.tensor([[0.0], [1.0], [2.0]])
    y = torch.tensor([1.0, 3.0, 5.0])
    xv, yv = torch.tensor([[3.0]]), torch.tensor([7.0])
    # alpha ~ 0: prediction 2*3+1 = 7 (MSE 0); alpha 2: 1*3 + 2 = 5 (MSE 4); alpha 1e6: ~3 (MSE ~16)
    alpha, scores = select_ridge_alpha(x, y, xv, yv, [1e-9, 2.0, 1e6])
    assert alpha == 1e-9 and scores[2.0] == pytest.approx(4.0) and scores[1e6] == pytest.approx(16.0, rel=1e-3)
    assert math.isnan(masked_mse(torch.tensor([1.0]), torch.tensor([NAN])))


def test_verbosity_decorrelation_subtracts_the_regression_on_verbosity():
    # objectives: [quality, verbosity]; quality = 2 * verbosity + noise (mean-zero, orthogonal to verbosity)
    v = torch.tensor([0.0, 1.0, 2.0, 3.0])
    noise = torch.tensor([1.0, -1.0, -1.0, 1.0])  # sum 0, sum(noise * (v - 1.5)) = -1.5 + 0.5 - 0.5 + 1.5 = 0
    r = torch.stack([2 * v + noise, v], 1)
    t = verbosity_decorrelation(r, verbosity_index=1)
    # slope c = cov(q, v) / var(v) = 2: T = [[1, -2], [0, 1]]
    assert t.flatten().tolist() == pytest.approx([1.0, -2.0, 0.0, 1.0])
    corrected = r.double() @ t.T
    assert corrected[:, 0].tolist() == pytest.approx(noise.tolist())  # quality minus 2 x verbosity
    assert corrected[:, 1].tolist() == v.tolist()  # the verbosity objective itself is kept
    vc = v.double() - v.double().mean()
    assert float((corrected[:, 0] - corrected[:, 0].mean()) @ vc) == pytest.approx(0.0, abs=1e-12)


def test_gated_score():
    g = torch.tensor([[0.25, 0.75], [1.0, 0.0]])
    r = torch.tensor([[4.0, -4.0], [2.0, 100.0]])
    # 0.25*4 - 0.75*4 = -2; 1*2 + 0*100 = 2
    assert gated_score(g, r).tolist() == [-2.0, 2.0]


def test_knockout_winners_plays_every_groups_round_together():
    strength = [[3.0, 9.0, 1.0], [5.0, 2.0], [4.0]]
    played = []

    def play(matches):
        played.append(matches)
        return [float(strength[g][a] > strength[g][b]) for g, a, b in matches]

    # group 0: (0 v 1) -> 1, 2 bye; then (1 v 2) -> 1. group 1: (0 v 1) -> 0. group 2: no match.
    assert knockout_winners([3, 2, 1], play) == [1, 0, 0]
    assert played == [[(0, 0, 1), (1, 0, 1)], [(0, 1, 2)]]
    with pytest.raises(ValueError, match="at least one entrant"):
        knockout_winners([2, 0], play)

