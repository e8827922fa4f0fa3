"""One configuration vocabulary: the shared field groups reused by every kind's config, typed command-line values
(lists and tuples too), `train --kind K --help`, and one recipe loader for training configs and data mixtures."""

import dataclasses
import typing

import pytest

from rewardlab.cli import _kind_config, main, parse_overrides
from rewardlab.config import (
    FIELD_GROUPS,
    RECIPES,
    DataFields,
    ModelFields,
    OptimFields,
    RunFields,
    TrainConfig,
    convert_value,
    field_groups,
    load_config,
)
from rewardlab.kinds.multi_objective import MultiObjectiveConfig
from rewardlab.kinds.pairwise import PairwiseConfig
from rewardlab.kinds.process import ProcessConfig
from rewardlab.kinds.regression import RegressionConfig

KINDS = {"bradley_terry": TrainConfig, "pairwise": PairwiseConfig, "regression": RegressionConfig,
         "multi_objective": MultiObjectiveConfig, "process": ProcessConfig}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_takes_the_shared_groups_with_their_types(kind):
    cls = KINDS[kind]
    assert _kind_config(kind) is cls
    groups = [g for _, g in FIELD_GROUPS if issubclass(cls, g)]
    # every kind has the model, data and run groups; all but the frozen-backbone multi-objective optimise
    assert {ModelFields, DataFields, RunFields} <= set(groups)
    assert (OptimFields in groups) == (cls is not MultiObjectiveConfig)
    hints = typing.get_type_hints(cls)
    for group in groups:
        for name, annotation in typing.get_type_hints(group).items():
            assert hints[name] == annotation, (kind, name)  # a redefault keeps the type
    # listed model, data, optimisation, run, then the kind's own; every field exactly once
    listed = [f.name for _, fields in field_groups(cls) for f in fields]
    assert listed == [f.name for f in dataclasses.fields(cls)]
    assert [title for title, _ in field_groups(cls)][:2] == ["model fields", "data fields"]


def test_group_fields_are_not_declared_again_except_to_change_a_default():
    """The Bradley-Terry config keeps every group default (its values are the recipe's); the kinds change only a
    few defaults, each through `redefault`, so the help text without a reason to differ stays the group's."""
    bt = TrainConfig()
    for _, group in FIELD_GROUPS:
        for f in dataclasses.fields(group):
            assert getattr(bt, f.name) == f.default, f.name
    shared_help = {f.name: f.metadata["help"] for _, g in FIELD_GROUPS for f in dataclasses.fields(g)}
    pairwise = {f.name: f for f in dataclasses.fields(PairwiseConfig)}
    assert pairwise["learning_rate"].metadata["help"] == shared_help["learning_rate"]
    assert pairwise["model"].metadata["help"] == shared_help["model"]
    assert (pairwise["max_length"].default, pairwise["batch_size"].default) == (1024, 16)
    assert pairwise["output_dir"].default == "outputs/pairwise-model"
    assert pairwise["output_dir"].metadata["help"] == shared_help["output_dir"]


def test_lists_and_tuples_parse_from_the_command_line():
    overrides = parse_overrides(["--attributes", "helpfulness,correctness", "--weights=1, -0.5", "--data", "x.jsonl"])
    cfg = load_config(RegressionConfig, None, overrides)
    assert cfg.attributes == ("helpfulness", "correctness")  # was ('h', 'e', 'l', ...)
    assert cfg.weights == (1.0, -0.5)
    assert load_config(RegressionConfig, None, {"data": "x", "weights": "none"}).weights == (1.0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="weights: expected float, got 'heavy'"):
        load_config(RegressionConfig, None, {"data": "x", "weights": "1,heavy"})
    mo = load_config(MultiObjectiveConfig, None, {"data": "x", "objectives": "helpfulness,verbosity",
                                                  "ridge_alphas": "0.1,10"})
    assert mo.objectives == ("helpfulness", "verbosity") and mo.ridge_alphas == (0.1, 10.0)
    # a YAML list takes the same path; the items are converted to the item type
    assert convert_value([1, "2"], tuple[float, ...], "w") == (1.0, 2.0)
    assert convert_value("a, b", list[str], "x") == ["a", "b"]
    assert convert_value("", tuple[str, ...], "x") == ()
    with pytest.raises(ValueError, match="expected 2 comma-separated values"):
        convert_value("1,2,3", tuple[int, str], "pair")


@pytest.mark.parametrize("kind, own, absent", [
    ("regression", ["--attributes", "--weights", "outputs/regression-model"], "--shared_context"),
    ("process", ["--step_separator", "--aggregation", "outputs/process-model"], "--attributes"),
    ("multi_objective", ["--ridge_alphas", "--gate_steps"], "--learning_rate"),
    ("bradley_terry", ["--shared_context", "--lora_r", "outputs/reward-model"], "--attributes"),
])
def test_train_help_lists_the_fields_of_the_kind(kind, own, absent, capsys):
    argv = ["train", "--help"] if kind == "bradley_terry" else ["train", "--kind", kind, "--help"]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for text in own + ["model fields:", "--model", "--data_split", "--output_dir", "--seed"]:
        assert text in out, text
    assert absent not in out
    if kind == "regression":
        assert "[default: helpfulness,correctness,coherence,complexity,verbosity]" in out


def test_train_help_refuses_an_unknown_kind(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--kind", "banana", "--help"])
    assert exit_.value.code == 2 and "--kind must be bradley_terry" in capsys.readouterr().err


def test_data_mixture_recipes_load_through_the_same_loader(tmp_path, monkeypatch):
    from rewardlab.data.mixtures import load_config as load_mixture
    from rewardlab.data.schema import DataError

    by_path = load_mixture(RECIPES / "data" / "v2.yaml")
    monkeypatch.chdir(tmp_path)  # a shipped name (or the old checkout path) works from any folder
    assert load_mixture("data/v2") == by_path == load_mixture("recipes/data/v2.yaml")
    bad = tmp_path / "mix.yaml"
    bad.write_text("name: x\nsourcez: []\n")
    with pytest.raises(DataError, match=r"mix.yaml: unknown keys \['sourcez'\]; valid keys: "):
        load_mixture(bad)
    with pytest.raises(ValueError, match=r"mix.yaml: unknown keys \['name', 'sourcez'\]; valid keys: "):
        load_config(TrainConfig, bad)  # the same check and message for a training recipe
    with pytest.raises(DataError, match="no-such: no such recipe file"):
        load_mixture("no-such")
