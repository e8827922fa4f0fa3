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
from rewardlab.data.stats import PUBLISHED, stats_markdown
from tests.helpers import DATA_FIXTURES as FIXTURES
from tests.helpers import HH_HARMLESS, REPO, make_word_tokenizer, need_shared

RECIPES = sorted((REPO / "src" / "rewardlab" / "recipes" / "data").rglob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_loads(recipe: Path):
    cfg = load_config(recipe)
    first = recipe.read_text().splitlines()[0]
    assert first == f"# rewardlab data build data/{recipe.stem} --out DIR"
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
    # the recipe-era PKU-SafeRLHF (dataset card: load_dataset(..., revision="v0")); main has ~73.9K train rows
    assert by["v4"].sources[-1].revision == "v0"
    assert opts["v4"]["pku-saferlhf"] == opts["v3"]["pku-saferlhf-30k"] == {"preference": "safe_then_better"}


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
    v3 = load_config("data/v3", {"sources.pku_saferlhf_30k.options.preference": "better"})
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


# ----------------------------------------------------------------------------- revisions, shortfalls, causes
def _pku_rows() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "pku_saferlhf.jsonl").read_text().splitlines()]


def test_revision_reaches_load_dataset_and_a_short_source_says_so(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_load_dataset(path, **kwargs):  # the hub, offline: records what would be asked for
        calls.append((path, kwargs))
        return datasets.Dataset.from_list(_pku_rows())

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    v4 = load_config("data/v4")
    pku = v4.sources[-1]
    cfg = DataBuildConfig(name="v4", sources=[dataclasses.asdict(pku)], shuffle=False)
    stats = build_mixture(cfg, tmp_path / "out")
    assert calls == [
        ("PKU-Alignment/PKU-SafeRLHF", {"data_dir": None, "split": "train", "cache_dir": None, "revision": "v0"})
    ]
    # 6 rows, one safety-label conflict dropped: 5 pairs of the 150,000 asked for -- loud everywhere
    err = capsys.readouterr().err
    assert (
        "warning: SHORT: source 'pku-saferlhf' was asked for 150,000 pairs (max_pairs) but 6 rows of "
        "PKU-Alignment/PKU-SafeRLHF@v0[train] gave only 5 (-149,995)" in err
    )
    row = stats["sources"]["pku-saferlhf"]
    assert row["pairs"] == 5 and row["published"]["status"] == "SHORT"
    assert stats["warnings"] and stats["warnings"][0].startswith("SHORT: source 'pku-saferlhf'")
    md = (tmp_path / "out" / "stats.md").read_text()
    assert "| pku-saferlhf | 5 | (–, –) | – | 150,000 | -149,995 | SHORT |" in md
    assert "preference: safe_then_better, the default" in md and "hub revision v0" in md
    assert "6 rows read; dropped by the selection rules: 1 (safety labels contradict safer_response_id 1)" in md
    assert "**Warnings**" in md and "- **SHORT: source 'pku-saferlhf'" in md
    build = json.loads((tmp_path / "out" / "build.json").read_text())
    assert build["sources"]["pku-saferlhf"]["read_from"] == "PKU-Alignment/PKU-SafeRLHF@v0[train]"
    assert build["sources"]["pku-saferlhf"]["shortfall"] == stats["warnings"][0]
    assert build["config"]["sources"][0]["revision"] == "v0"


def test_stats_cause_names_pku_30k_train_split_and_the_default_rule(tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "pku_saferlhf_30k.jsonl").read_text().splitlines()]
    path = tmp_path / "pku30k.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = DataBuildConfig(
        name="v3", sources=[{"name": "pku-saferlhf-30k", "path": str(path), "published": "pku-saferlhf-30k"}]
    )
    md = stats_markdown(build_mixture(cfg, tmp_path / "out"))
    line = next(x for x in md.splitlines() if x.startswith("| pku-saferlhf-30k"))
    assert "'30K samples' counts train + test together (26.9K + 3.0K rows on the hub)" in line
    assert "only the train split is read" in line and "preference: safe_then_better, the default" in line


def test_unusable_rows_are_named_apart_from_selection_drops(tmp_path):
    f = tmp_path / "hh.jsonl"
    f.write_text(
        '{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: hello", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: hello"}\n'
        '{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: hello", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: go away"}\n'
        '{"chosen": "\\n\\nHuman: hi\\n\\nAssistant:", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: no"}\n'
        '{"chosen": "\\n\\nHuman: a\\n\\nHuman: b\\n\\nAssistant: c", "rejected": "\\n\\nHuman: a\\n\\nHuman: b\\n\\nAssistant: d"}\n'
    )
    cfg = DataBuildConfig(
        name="v1", sources=[{"name": "hh-rlhf-helpful-base", "path": str(f), "published": "hh-rlhf-base"}]
    )
    row = build_mixture(cfg, tmp_path / "out")["sources"]["hh-rlhf-helpful-base"]
    assert row["pairs"] == 1
    assert row["notes"] == [
        "4 rows read",
        "unusable (empty or malformed): 2 (bad roles 1, empty response 1)",
        "dropped by the selection rules: 1 (identical responses 1)",
    ]


@pytest.mark.shared
def test_real_hh_rlhf_rows_dropped_for_bad_turns_are_a_stats_cause(tmp_path):
    path = need_shared(HH_HARMLESS)
    cfg = DataBuildConfig(name="t", sources=[{"name": "hh-rlhf-harmless-base", "path": str(path)}])
    md = stats_markdown(build_mixture(cfg, tmp_path / "out"))
    # 11 of the 2,000 real rows (0.55%): 5 whose transcripts differ before the last turn, 4 with an empty
    # response, 2 with turns out of order; the recipe counts only chosen == rejected (none here)
    assert (
        "2,000 rows read; unusable (empty or malformed): 11 (contexts differ 5, empty response 4, bad roles 2)" in md
    )


def test_a_row_that_raises_does_not_end_the_build(tmp_path, monkeypatch):
    import rewardlab.data.sources.capybara as capybara

    path = tmp_path / "capybara.jsonl"  # a fresh path: no cached map result from another test
    path.write_text((FIXTURES / "capybara.jsonl").read_text())
    real = capybara.row_to_pair

    def flaky(record, source):  # a converter bug that one odd row reaches
        if record["chosen"][-1]["content"] == "12":
            raise KeyError("rating")
        return real(record, source)

    monkeypatch.setattr(capybara, "row_to_pair", flaky)
    cfg = DataBuildConfig(name="t", sources=[{"name": "capybara", "path": str(path)}])
    stats = build_mixture(cfg, tmp_path / "out")
    assert stats["total"]["pairs"] == 1
    build = json.loads((tmp_path / "out" / "build.json").read_text())["sources"]["capybara"]
    assert build["dropped"] == {"malformed row": 1, "equal scores": 1}
    assert build["examples"]["malformed row"] == [f"{path}:row 0 (<row>: unexpected KeyError: 'rating')"]
    assert "unusable (empty or malformed): 1 (malformed row 1)" in stats["sources"]["capybara"]["notes"]


def test_relative_recipe_paths_resolve_against_the_recipe_folder(tmp_path, monkeypatch):
    recipe_dir = tmp_path / "recipes"
    (recipe_dir / "data").mkdir(parents=True)
    (recipe_dir / "data" / "cb.jsonl").write_text((FIXTURES / "capybara.jsonl").read_text())
    recipe = recipe_dir / "mix.yaml"
    recipe.write_text(yaml.safe_dump({"name": "t", "sources": [{"name": "capybara", "path": "data/cb.jsonl"}]}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(Path("..") / "recipes" / "mix.yaml")
    assert cfg.sources[0].path == str(recipe_dir / "data" / "cb.jsonl")
    assert build_mixture(cfg, elsewhere / "out")["total"]["pairs"] == 2
    # a path typed on the command line is the user's, relative to where they are
    typed = load_config(recipe, {"sources.capybara.path": "local/cb.jsonl"})
    assert typed.sources[0].path == "local/cb.jsonl"


def test_a_local_copy_is_not_vouched_for_by_the_revision(tmp_path):
    v4 = load_config("data/v4", {"sources.pku-saferlhf.path": str(tmp_path / "pku.jsonl")})
    (tmp_path / "pku.jsonl").write_text((FIXTURES / "pku_saferlhf.jsonl").read_text())
    spec = dataclasses.asdict(v4.sources[-1])
    row = build_mixture(DataBuildConfig(name="v4", sources=[spec]), tmp_path / "out")["sources"]["pku-saferlhf"]
    assert "local copy (revision v0 not checked)" in row["notes"] and "hub revision v0" not in row["notes"]
