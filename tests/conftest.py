"""Shared fixtures: a tiny random Llama + byte tokenizer (built from a config, no hub), synthetic pairs, and
the path to ../shared data (tests that need it skip with a reason where it is absent, e.g. a user's clone)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

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


def shared_path(relative: str) -> Path:
    """A file under ../shared, or skip the test with a clear reason."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs ../shared/{relative} (project data outside the repository; absent in this checkout)")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from rewardlab.modeling.tiny import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-llama"))


def synthetic_pairs(n: int, seed: int = 0) -> list:
    """Learnable pairs: the chosen reply is polite and on-topic, the rejected one curt (a byte-level cue)."""
    import random

    from rewardlab.data.schema import PreferencePair

    rng = random.Random(seed)
    topics = ["tea", "maths", "rain", "python", "music", "bread", "chess", "rivers", "stars", "bikes"]
    pairs = []
    for i in range(n):
        t = rng.choice(topics)
        ctx = ({"role": "user", "content": f"Tell me about {t} #{i}."},)
        if i % 2:  # half the pairs have the longer reply rejected, so length alone does not decide
            chosen = f"Sure, {t} is fun."
            rejected = f"NO. I WILL NOT TALK ABOUT {t.upper()}, GO AWAY AND NEVER ASK AGAIN!!!"
        else:
            chosen = f"Happy to help! Here is a short note on {t}: it is interesting."
            rejected = rng.choice(["NO", "IDK", "WHATEVER", "GO AWAY"]) + "!" * rng.randint(0, 3)
        pairs.append(PreferencePair(ctx, chosen, rejected, source="synthetic"))
    return pairs


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


REGRESSION_WEIGHTS = (1.0, 0.5, 0.0, 0.0, -0.25)


@pytest.fixture(scope="session")
def trained_regression(tiny_model_dir, tmp_path_factory):
    from rewardlab.kinds.regression import RegressionConfig, train_regression
    from tests.kinds.helpsteer_fixture import write_helpsteer_jsonl

    root = tmp_path_factory.mktemp("regression")
    data = write_helpsteer_jsonl(root / "helpsteer.jsonl", num_prompts=40)
    cfg = RegressionConfig(model=str(tiny_model_dir), data=str(data), output_dir=str(root / "model"), max_length=128,
                           learning_rate=1e-2, batch_size=16, micro_batch_size=16, num_epochs=4, warmup_ratio=0.0,
                           eval_fraction=0.25, weights=REGRESSION_WEIGHTS, seed=5)
    return cfg, train_regression(cfg, quiet=True, device="cpu")


@pytest.fixture(scope="session")
def trained_multi_objective(tiny_model_dir, tmp_path_factory):
    from rewardlab.kinds.multi_objective import MultiObjectiveConfig, train_multi_objective
    from tests.kinds.helpsteer_fixture import write_helpsteer_jsonl

    root = tmp_path_factory.mktemp("multi_objective")
    data = write_helpsteer_jsonl(root / "helpsteer.jsonl", num_prompts=60)
    cfg = MultiObjectiveConfig(model=str(tiny_model_dir), data=str(data), output_dir=str(root / "model"),
                               max_length=128, gate_steps=150, gate_lr=3e-3, seed=1)
    return cfg, train_multi_objective(cfg, quiet=True, device="cpu")
