"""Mixture recipes: loading every shipped recipe, overrides, deterministic builds, output readable by
`read_pairs`, statistics hand-computed with a tiny word-level tokenizer."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import datasets
import pytest
import yaml

from rewardlab.data.mixtures import DataBuildConfig, build_mixture, load_config
from rewardlab.data.readers import read_pairs
from rewardlab.data.schema import DataError, PreferencePair
from rewardlab.data.stats import PUBLISHED
from tests.data.conftest import FIXTURES, HH_HARMLESS, REPO, make_word_tokenizer, need_shared

RECIPES = sorted((REPO / "recipes" / "data").rglob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_loads(recipe: Path):
    cfg = load_config(recipe)
    first = recipe.read_text().splitlines()[0]
    assert first == f"# rewardlab data build recipes/data/{recipe.name} --out DIR"
    assert cfg.name == recipe.stem
    for spec in cfg.sources:
        assert spec.published in PUBLISHED


def test_shipped_recipes_follow_section_3_2():
    by = {p.stem: load_config(p) for p in RECIPES}
    assert set(by) == {"v1", "v2", "v3", "v4"}
    opts = {v: {s.name: s.options for s in c.sources} for v, c in by.items()}
    assert opts["v1"]["shp"]["max_pairs_per_prompt"] == 1 and opts["v2"]["shp"]["max_pairs_per_prompt"] == 5
    assert (
        opts["v1"]["ultrafeedback"]["pairing"] == "best_vs_random"
        and opts["v1"]["helpsteer"]["pairing"] == "best_vs_random"
    )
    assert opts["v2"]["ultrafeedback"]["pairing"] == "all_pairs" and opts["v2"]["helpsteer"]["pairing"] == "all_pairs"
    v2 = [s.name for s in by["v2"].sources]
    assert [s.name for s in by["v3"].sources] == [*v2, "pku-saferlhf-30k"]
    assert [s.name for s in by["v4"].sources] == [*v2, "pku-saferlhf"]
    assert by["v4"].sources[-1].max_pairs == 150000


def test_every_config_field_is_documented_once():
    from rewardlab.data.mixtures import SourceSpec

    for cls in (DataBuildConfig, SourceSpec):
        for f in dataclasses.fields(cls):
            assert len(f.metadata.get("help", "")) > 10, f"{cls.__name__}.{f.name} has no help"


def test_overrides_and_validation(tmp_path):
    cfg = load_config(
        RECIPES[0],
        {"seed": "7", "sources.shp.path": "/data/shp.jsonl", "sources.shp.options.max_pairs_per_prompt": "3"},
    )
    shp = next(s for s in cfg.sources if s.name == "shp")
    assert cfg.seed == 7 and shp.path == "/data/shp.jsonl" and shp.options["max_pairs_per_prompt"] == 3
    v3 = load_config(REPO / "recipes" / "data" / "v3.yaml", {"sources.pku_saferlhf_30k.options.preference": "better"})
    assert v3.sources[-1].options == {"preference": "better"}  # "-" turned "_" by a CLI still matches
    with pytest.raises(DataError, match="no source 'nope'"):
        load_config(RECIPES[0], {"sources.nope.path": "x"})
    with pytest.raises(DataError, match=r"unknown key\(s\) \['sed'\]"):
        load_config(RECIPES[0], {"sed": 1})
    with pytest.raises(DataError, match="unknown option"):
        load_config(RECIPES[0], {"sources.shp.options.ratio": 2})
    with pytest.raises(DataError, match="listed twice"):
        DataBuildConfig(name="x", sources=[{"name": "shp"}, {"name": "shp"}])


def _fixture_recipe(tmp_path: Path, **extra) -> Path:
    raw = {
        "name": "tiny",
        "seed": 3,
        "shuffle": False,
        "sources": [
            {
                "name": "ultrafeedback-binarized-cleaned",
                "path": str(FIXTURES / "ultrafeedback_binarized_cleaned.jsonl"),
                "published": "ultrafeedback-best-vs-random",
            },
            {"name": "capybara", "path": str(FIXTURES / "capybara.jsonl"), "published": "capybara-3.2"},
        ],
        **extra,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_build_writes_records_stats_and_is_readable(tmp_path):
    out = tmp_path / "out"
    stats = build_mixture(load_config(_fixture_recipe(tmp_path)), out, tokenizer=make_word_tokenizer())
    ds = datasets.load_from_disk(str(out))
    assert ds.column_names == ["context", "chosen", "rejected", "margin", "source"]
    assert ds["chosen"] == ["hello", "Rex", "12", "SALUT"]  # shuffle off: recipe order, then row order
    pairs, report = read_pairs(str(out))
    assert report.total_dropped == 0
    assert [p.to_record() for p in pairs] == [PreferencePair.from_record(r).to_record() for r in ds]
    assert pairs[3].source == "capybara" and pairs[3].context[-1]["content"] == "And in French?"
    # Word-level tokens incl. BOS over "role: content" turns joined by blank lines:
    # "user : Say hello . assistant : hello" = 8 + BOS = 9 (rejected "hi" also 9); "Name a dog" pair: 10, 10.
    uf = stats["sources"]["ultrafeedback-binarized-cleaned"]
    assert (uf["pairs"], uf["avg_chosen"], uf["avg_rejected"], uf["max_len"]) == (2, 9.5, 9.5, 10)
    # capybara: user:What is 2 + 2 ? (8) assistant:4 (3) user:And times three ? (6) assistant:12 (3) + BOS = 21;
    # user:Say hi . (5) assistant:hi (3) user:Louder . (4) assistant:HI (3) user:And in French ? (6) +3 +1 = 25.
    cap = stats["sources"]["capybara"]
    assert (cap["pairs"], cap["avg_chosen"], cap["max_len"]) == (2, 23.0, 25)
    assert stats["total"]["pairs"] == 4 and stats["total"]["avg_chosen"] == round((9 + 10 + 21 + 25) / 4, 1)
    # partial input (3 of the hub's 60,917 rows): the count is flagged as not comparable, with the cause
    assert uf["published"]["status"] == "not comparable" and "read 3 of" in uf["published"]["cause"]
    saved = json.loads((out / "stats.json").read_text())
    assert saved["sources"]["capybara"]["pairs"] == 2
    md = (out / "stats.md").read_text()
    assert "| capybara | 2 | (23.0, 23.0) | 25 | 7,562 | -7,560 | not comparable |" in md
    build = json.loads((out / "build.json").read_text())
    assert build["sources"]["capybara"]["dropped"] == {"equal scores": 1}
    assert build["sources"]["capybara"]["raw_rows"] == 3


def test_build_is_deterministic_and_shuffle_uses_seed(tmp_path):
    recipe = _fixture_recipe(tmp_path, shuffle=True)
    build_mixture(load_config(recipe), tmp_path / "a")
    build_mixture(load_config(recipe), tmp_path / "b")
    a = datasets.load_from_disk(str(tmp_path / "a")).to_list()
    assert a == datasets.load_from_disk(str(tmp_path / "b")).to_list()
    assert sorted(r["chosen"] for r in a) == ["12", "Rex", "SALUT", "hello"]
    orders = set()
    for seed in range(6):
        build_mixture(load_config(recipe, {"seed": seed}), tmp_path / f"s{seed}")
        orders.add(tuple(datasets.load_from_disk(str(tmp_path / f"s{seed}"))["chosen"]))
    assert len(orders) > 1


def _synthetic_ultrafeedback(path: Path, n: int) -> None:
    def comp(i, k, r):
        a = {"Rating": str(r), "Rationale": "r"}
        return {
            "model": f"m{k}",
            "principle": "helpfulness",
            "custom_system_prompt": "",
            "response": f"answer {i}-{k}",
            "annotations": {"helpfulness": a, "honesty": a, "instruction_following": a, "truthfulness": a},
            "critique": "",
            "overall_score": 5.0,
            "fine-grained_score": float(r),
        }

    with path.open("w") as fh:
        for i in range(n):
            row = {
                "source": "s",
                "instruction": f"question {i}",
                "models": ["m0", "m1", "m2", "m3"],
                "completions": [comp(i, k, r) for k, r in enumerate([5, 4, 3, 2])],
                "correct_answers": [],
                "incorrect_answers": [],
            }
            fh.write(json.dumps(row) + "\n")


def test_random_draws_do_not_depend_on_num_proc(tmp_path):
    uf = tmp_path / "uf.jsonl"
    _synthetic_ultrafeedback(uf, 2400)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "name": "t",
                "seed": 1,
                "sources": [{"name": "ultrafeedback", "path": str(uf), "options": {"pairing": "best_vs_random"}}],
            }
        )
    )
    build_mixture(load_config(recipe, {"num_proc": 1}), tmp_path / "p1")
    build_mixture(load_config(recipe, {"num_proc": 2}), tmp_path / "p2")
    one = datasets.load_from_disk(str(tmp_path / "p1")).to_list()
    assert one == datasets.load_from_disk(str(tmp_path / "p2")).to_list()
    assert len(one) == 2400 and {r["chosen"].split("-")[1] for r in one} == {"0"}
    assert {r["rejected"].split("-")[1] for r in one} == {"1", "2", "3"}


def test_failed_build_keeps_the_previous_output(tmp_path):
    out = tmp_path / "out"
    build_mixture(load_config(_fixture_recipe(tmp_path)), out)
    before = datasets.load_from_disk(str(out))["chosen"]
    bad = load_config(_fixture_recipe(tmp_path), {"sources.capybara.path": str(tmp_path / "missing.jsonl")})
    with pytest.raises(DataError, match="missing.jsonl: no such file"):
        build_mixture(bad, out)
    assert datasets.load_from_disk(str(out))["chosen"] == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.shared
def test_max_pairs_subsample_is_seeded(tmp_path):
    path = need_shared(HH_HARMLESS)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "name": "t",
                "seed": 5,
                "shuffle": False,
                "sources": [{"name": "hh-rlhf-harmless-base", "path": str(path), "max_pairs": 100}],
            }
        )
    )
    build_mixture(load_config(recipe), tmp_path / "a")
    build_mixture(load_config(recipe), tmp_path / "b")
    a = datasets.load_from_disk(str(tmp_path / "a"))["chosen"]
    assert len(a) == 100 and a == datasets.load_from_disk(str(tmp_path / "b"))["chosen"]
    build = json.loads((tmp_path / "a" / "build.json").read_text())["sources"]["hh-rlhf-harmless-base"]
    assert build["kept"] == 100 and build["dropped"]["not drawn in the subsample (max_pairs)"] == 1889
