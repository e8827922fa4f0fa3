"""Fixtures for the server tests: a tiny scorer and wrappers that make the model slow or failing on purpose."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_scorer(tiny_model_dir):
    from rewardlab.scoring import RewardScorer

    return RewardScorer.from_pretrained(str(tiny_model_dir), device="cpu", dtype="float32", batch_size=64)
