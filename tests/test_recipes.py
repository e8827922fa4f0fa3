"""Every shipped recipe loads (recursive glob over the package's recipes/ folder), with the config class its folder implies."""

import json
from pathlib import Path

import pytest
import yaml

from rewardlab.config import RECIPES, TrainConfig, load_config, resolve_recipe

ALL = sorted(p for p in RECIPES.rglob("*") if p.suffix in (".yaml", ".json"))


def test_recipes_exist():
    names = {str(p.relative_to(RECIPES)) for p in ALL}
    for required in ("quickstart.yaml", "gemma-2b-it.yaml", "gemma-7b-it.yaml", "mistral-7b-instruct-v0.2.yaml",
                     "llama-3-8b-instruct.yaml", "data/v1.yaml", "data/v4.yaml", "accelerate/zero3.yaml",
                     "deepspeed/zero2_offload.json", "deepspeed/zero3.json"):
        assert required in names


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(RECIPES)))
def test_every_shipped_recipe_loads(path: Path):
    kind = path.relative_to(RECIPES).parts[0]
    if path.suffix == ".json":
        ds = json.loads(path.read_text())
        assert ds["zero_optimization"]["stage"] in (2, 3)
        return
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and ("rewardlab" in first or "accelerate launch" in first), "header shows the command"
    if kind == "data":
        from rewardlab.data.mixtures import load_config as load_data_config

        assert load_data_config(path).sources
    elif kind == "accelerate":
        cfg = yaml.safe_load(path.read_text())
        ds_file = cfg.get("deepspeed_config", {}).get("deepspeed_config_file")
        if ds_file:
            assert (RECIPES.parent / ds_file).exists(), ds_file
    else:
        cfg = load_config(TrainConfig, path)
        assert cfg.batch_size % cfg.micro_batch_size == 0


def test_recipe_hyperparameters_follow_the_recipe():
    gemma = load_config(TrainConfig, "gemma-2b-it")
    mistral = load_config(TrainConfig, "mistral-7b-instruct-v0.2")
    assert (gemma.batch_size, gemma.learning_rate) == (256, 1e-5)
    assert (mistral.batch_size, mistral.learning_rate) == (512, 5e-6)
    for cfg in (gemma, mistral):
        assert (cfg.num_epochs, cfg.lr_scheduler, cfg.weight_decay, cfg.warmup_ratio) == (1, "cosine", 0.001, 0.03)
        assert cfg.gradient_checkpointing and cfg.precision == "bf16" and cfg.max_length == 4096


def test_overrides_are_typed_and_unknown_keys_rejected():
    cfg = load_config(TrainConfig, "quickstart", {"learning_rate": "1e-4", "max_steps": "3", "eval_data": "none"})
    assert cfg.learning_rate == 1e-4 and cfg.max_steps == 3 and cfg.eval_data is None
    with pytest.raises(ValueError, match="unknown option --learnin_rate"):
        load_config(TrainConfig, "quickstart", {"learnin_rate": "1"})
    with pytest.raises(ValueError, match="max_steps: expected int"):
        load_config(TrainConfig, None, {"max_steps": "lots"})
    with pytest.raises(FileNotFoundError, match="shipped recipes: .*quickstart"):
        resolve_recipe("no-such-recipe")
