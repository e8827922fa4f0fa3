"""Shared pytest fixtures: a tiny random Llama + byte tokenizer (built from a config, no hub), synthetic pair files,
one trained folder per kind, the models of the forward-equivalence tests. Plain helpers (data builders, paths,
upstream code transcribed for comparison) live in tests/helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import REGRESSION_WEIGHTS, synthetic_pairs, write_helpsteer_jsonl

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_addoption(parser):
    parser.addoption("--parallel-micro-batches", default="auto", choices=("auto", "1"),
                     help="the trainer's parallel_micro_batches where a test leaves it at its default (0 = auto); "
                          "`make test` runs the training tests under both, as runs differ only in float rounding")


@pytest.fixture(autouse=True)
def _micro_batch_workers(request, monkeypatch):
    if request.config.getoption("--parallel-micro-batches") != "1":
        return
    from rewardlab.config import TrainConfig

    post_init = TrainConfig.__post_init__

    def sequential_by_default(self):
        if self.parallel_micro_batches == 0:  # the default (tests that want auto or 2 say so)
            self.parallel_micro_batches = 1
        post_init(self)

    monkeypatch.setattr(TrainConfig, "__post_init__", sequential_by_default)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from rewardlab.modeling.tiny import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def synthetic_jsonl(tmp_path) -> Path:
    from rewardlab.data.readers import write_pairs_jsonl

    path = tmp_path / "pairs.jsonl"
    write_pairs_jsonl(synthetic_pairs(48), path)
    return path


# One trained folder per model kind for the whole session, shared by the kinds' own tests and by the tests of the
# verbs that use them (score, serve, label). Each returns (config, TrainResult).
@pytest.fixture(scope="session")
def trained_pairwise(tiny_model_dir, tmp_path_factory):
    from rewardlab.data.readers import write_pairs_jsonl
    from rewardlab.kinds.pairwise import PairwiseConfig, train_pairwise

    root = tmp_path_factory.mktemp("pairwise")
    write_pairs_jsonl(synthetic_pairs(40), root / "train.jsonl")
    write_pairs_jsonl(synthetic_pairs(16, seed=1), root / "eval.jsonl")
    cfg = PairwiseConfig(model=str(tiny_model_dir), data=str(root / "train.jsonl"), eval_data=str(root / "eval.jsonl"),
                         output_dir=str(root / "model"), max_length=256, learning_rate=5e-3, batch_size=16,
                         micro_batch_size=16, num_epochs=2, warmup_ratio=0.0, orderings="both", seed=3)
    return cfg, train_pairwise(cfg, quiet=True, device="cpu")


@pytest.fixture(scope="session")
def trained_regression(tiny_model_dir, tmp_path_factory):
    from rewardlab.kinds.regression import RegressionConfig, train_regression

    root = tmp_path_factory.mktemp("regression")
    data = write_helpsteer_jsonl(root / "helpsteer.jsonl", num_prompts=40)
    cfg = RegressionConfig(model=str(tiny_model_dir), data=str(data), output_dir=str(root / "model"), max_length=128,
                           learning_rate=1e-2, batch_size=16, micro_batch_size=16, num_epochs=4, warmup_ratio=0.0,
                           eval_fraction=0.25, weights=REGRESSION_WEIGHTS, seed=5)
    return cfg, train_regression(cfg, quiet=True, device="cpu")


@pytest.fixture(scope="session")
def trained_multi_objective(tiny_model_dir, tmp_path_factory):
    from rewardlab.kinds.multi_objective import MultiObjectiveConfig, train_multi_objective

    root = tmp_path_factory.mktemp("multi_objective")
    data = write_helpsteer_jsonl(root / "helpsteer.jsonl", num_prompts=60)
    cfg = MultiObjectiveConfig(model=str(tiny_model_dir), data=str(data), output_dir=str(root / "model"),
                               max_length=128, gate_steps=150, gate_lr=3e-3, seed=1)
    return cfg, train_multi_objective(cfg, quiet=True, device="cpu")


# The models of the forward-equivalence tests (test_forward, test_pair_rows, test_parallel_micro_batches): one per
# module that asks for them.
@pytest.fixture(scope="module")
def model_and_pairs(tiny_model_dir):
    """The tiny model, its tokenizer, and the token ids of 6 synthetic pairs plus a pair truncated so that chosen
    and rejected share nothing."""
    from rewardlab.data.templates import ConversationEncoder
    from rewardlab.modeling.loading import load_reward_model

    model, tok = load_reward_model(str(tiny_model_dir))
    enc = ConversationEncoder(tok, 4096)
    pairs = synthetic_pairs(6)
    # a multi-turn pair, and a pair truncated so chosen and rejected share nothing
    chosen = [enc.encode(p.chosen_messages())[0] for p in pairs]
    rejected = [enc.encode(p.rejected_messages())[0] for p in pairs]
    chosen.append(chosen[0][-9:])
    rejected.append(rejected[0][-5:])
    return model, tok, chosen, rejected


@pytest.fixture(scope="module")
def rows_model(tiny_model_dir):
    """The tiny model loaded with the pair-rows attention (padding-free prefix-tree rows)."""
    from rewardlab.modeling.loading import load_reward_model
    from rewardlab.modeling.pair_rows import register_pair_rows_attention

    return load_reward_model(str(tiny_model_dir), attn_implementation=register_pair_rows_attention())
