"""Shared fixtures: a tiny random Llama + byte tokenizer (built from a config, no hub), synthetic pairs, and
the path to ../shared data (tests that need it skip with a reason where it is absent, e.g. a user's clone)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
