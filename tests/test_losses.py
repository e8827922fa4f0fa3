import math

import pytest
import torch

from rewardlab.losses import (
    bradley_terry_loss,
    bradley_terry_probability,
    pairwise_accuracy,
    reward_centering_penalty,
)
from rewardlab.metrics import accuracy_with_interval, bootstrap_interval, pair_outcomes


def test_bradley_terry_loss_hand_computed():
    chosen = torch.tensor([2.0, 0.0, -1.0])
    rejected = torch.tensor([0.0, 0.0, 1.0])
    # -log(sigmoid(d)) = log(1 + exp(-d)); d = 2, 0, -2
    expected = torch.tensor([math.log1p(math.exp(-2)), math.log(2.0), math.log1p(math.exp(2))])
    assert torch.allclose(bradley_terry_loss(chosen, rejected), expected, atol=1e-6)


def test_bradley_terry_probability_is_the_sigmoid_of_the_scaled_gap():
    r_a, r_b = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([0.0, 0.0, 1.0])
    # sigmoid(2) = 1 / (1 + e^-2); sigmoid(0) = 0.5; with scale 0.5: sigmoid(-1) = 1 / (1 + e)
    expected = [1 / (1 + math.exp(-2)), 0.5, 1 / (1 + math.exp(2))]
    assert bradley_terry_probability(r_a, r_b).tolist() == pytest.approx(expected, rel=1e-12)
    assert bradley_terry_probability(r_a, r_b, 0.5).tolist()[2] == pytest.approx(1 / (1 + math.e), rel=1e-12)
    # the probability whose negative log is the loss
    assert torch.allclose(-bradley_terry_probability(r_a, r_b).log(), bradley_terry_loss(r_a, r_b).double())


def test_margin_is_subtracted_inside_the_sigmoid():
    chosen, rejected, margin = torch.tensor([3.0]), torch.tensor([1.0]), torch.tensor([2.0])
    # d = 3 - 1 - 2 = 0 -> log 2
    assert torch.allclose(bradley_terry_loss(chosen, rejected, margin), torch.tensor([math.log(2.0)]))


def test_loss_gradient_matches_sigmoid_formula():
    chosen = torch.tensor([0.5], requires_grad=True)
    rejected = torch.tensor([1.5], requires_grad=True)
    bradley_terry_loss(chosen, rejected).sum().backward()
    # d/dc -logsigmoid(c - r) = -(1 - sigmoid(c - r)) = -(1 - sigmoid(-1)) = -0.7310586
    assert abs(chosen.grad.item() + 0.7310586) < 1e-6
    assert abs(rejected.grad.item() - 0.7310586) < 1e-6


def test_centering_penalty_and_accuracy():
    c, r = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([1.0, -2.0, 1.5])
    assert reward_centering_penalty(c, r).tolist() == [4.0, 0.0, 4.0]
    assert pairwise_accuracy(c, r).tolist() == [0.0, 1.0, 0.0]  # tie counts as wrong
    assert pairwise_accuracy(c, r, tie_value=0.5).tolist() == [0.5, 1.0, 0.0]


def test_bootstrap_interval_brackets_mean_and_is_seeded():
    outcomes = pair_outcomes([1, 2, 3, 4, 5, 6, 7, 8], [0, 0, 0, 0, 0, 0, 9, 9])  # 6 of 8 right
    low, high = bootstrap_interval(outcomes, seed=3)
    assert low <= 0.75 <= high and high - low > 0.1
    assert (low, high) == bootstrap_interval(outcomes, seed=3)
    wide = accuracy_with_interval([1] * 3 + [0], [0] * 3 + [1])
    narrow = accuracy_with_interval([1] * 300 + [0] * 100, [0] * 300 + [1] * 100)
    assert wide["accuracy"] == narrow["accuracy"] == 0.75
    assert narrow["accuracy_ci_high"] - narrow["accuracy_ci_low"] < wide["accuracy_ci_high"] - wide["accuracy_ci_low"]
