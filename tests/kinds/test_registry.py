"""Every registered kind through every verb's lookup (issue 19.2): train, load (eval / score / serve / label and
the Python API all load through `load_scorer`), score, serve, label. No model is trained here: the lookups are
what a new kind must satisfy; tests/kinds/test_*.py train and use each kind for real."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest

from rewardlab.kinds import KIND_FILE, KINDS, load_judge, score_command
from rewardlab.kinds.registry import ANSWERS, REGISTRY, Kind, get_kind, kind_of

ALL = sorted(REGISTRY)


def test_the_registry_is_the_list_of_kinds():
    assert KINDS == tuple(REGISTRY)  # kind files, the CLI and the verbs all read the same list
    assert set(ALL) == {"bradley_terry", "pairwise", "regression", "multi_objective", "process"}
    with pytest.raises(ValueError, match="--kind must be bradley_terry, pairwise, regression"):
        get_kind("ranking")
    with pytest.raises(ValueError, match="answers must be a non-empty subset"):
        Kind("x", "a:b", "a:b", frozenset({"logits"}))


@pytest.mark.parametrize("name", ALL)
def test_train_lookup(name):
    """`rewardlab train --kind K`: K's config is a dataclass the CLI builds from flags, and K's train function
    takes that config (Bradley-Terry: the shared trainer, which the CLI holds)."""
    from rewardlab.cli import _kind_config as kind_config

    kind = get_kind(name)
    cls = kind_config(name)
    assert cls is kind.config_class() and dataclasses.is_dataclass(cls)
    assert {"model", "data", "output_dir", "seed"} <= {f.name for f in dataclasses.fields(cls)}
    train = kind.train_function()
    if name == "bradley_terry":
        assert train is None
    else:
        assert list(inspect.signature(train).parameters)[0] == "cfg"


@pytest.mark.parametrize("name", ALL)
def test_load_lookup(name):
    """The loader of K takes `device` and every option `load_scorer` passes for K, and judges by rank_responses;
    a kind that answers a reward also scores single conversations."""
    kind = get_kind(name)
    loader = kind.loader_class()
    params = inspect.signature(loader.from_pretrained).parameters
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    assert "device" in params
    assert takes_kwargs or set(kind.load_options) - {"batch_size", "max_length"} <= set(params)
    assert callable(getattr(loader, "rank_responses", None))
    assert callable(getattr(loader, "score", None)) == kind.gives_reward
    assert getattr(loader, "kind", "bradley_terry") == name
    assert kind_of(loader) is kind


@pytest.mark.parametrize("name", [n for n in ALL if n != "bradley_terry"])
def test_load_judge_dispatches_through_the_registry(name, tmp_path, monkeypatch):
    """`load_judge(folder)` reads the kind file and calls that kind's registered loader."""
    kind = get_kind(name)
    (tmp_path / KIND_FILE).write_text(json.dumps({"kind": name, "config": {}}))
    seen = {}
    monkeypatch.setattr(kind.loader_class(), "from_pretrained",
                        classmethod(lambda cls, folder, device=None, **kw: seen.update(cls=cls, kw=kw) or "judge"))
    assert load_judge(tmp_path, device="cpu", batch_size=3) == "judge"
    assert seen == {"cls": kind.loader_class(), "kw": {"batch_size": 3}}


@pytest.mark.parametrize("name", ALL)
def test_score_serve_label_eval_lookups(name, tmp_path):
    """score refuses a kind without a reward before loading anything; serve advertises /compare exactly for the
    kinds that answer a probability and the reward routes for those that answer a reward; label ranks by reward,
    or by knockout comparisons for a kind that only compares."""
    from rewardlab.labeling import knockout_labels, labeller_for, reward_labels
    from rewardlab.serving.cli_commands import served_endpoints

    kind = get_kind(name)
    endpoints = served_endpoints(kind)
    assert ("/compare" in endpoints) == ("probability" in kind.answers)
    assert ("/get_reward" in endpoints) == kind.gives_reward
    assert labeller_for(kind) is (reward_labels if kind.gives_reward else knockout_labels)
    if not kind.gives_reward:
        (tmp_path / KIND_FILE).write_text(json.dumps({"kind": name, "config": {}}))
        with pytest.raises(ValueError, match="gives no reward to a single response"):
            score_command(str(tmp_path), str(tmp_path / "in.jsonl"))
    assert set(kind.answers) <= set(ANSWERS)
    # eval: the label upstream's flat results file gives the model (its REWARD_MODEL_CONFIG vocabulary)
    assert kind.upstream_model_type == ("Seq. Classifier" if name in ("bradley_terry", "regression")
                                        else "Custom Classifier")
