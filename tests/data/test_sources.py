"""Each converter on rows in its dataset's exact schema: fixtures (tests/data/fixtures) and the real rows
of hh-rlhf and Intel/orca_dpo_pairs in ../shared."""

from __future__ import annotations

import pytest

from rewardlab.data.readers import read_pairs
from rewardlab.data.schema import DataError, DropReason
from rewardlab.data.sources import REGISTRY, ConvertContext, get_source
from rewardlab.data.sources.streaming import Reason, load_source_dataset
from tests.data.conftest import FIXTURES, HH_HARMLESS, ORCA_INTEL_CSV, need_shared


def convert(name: str, path, options=None, seed=0, num_proc=1):
    info = get_source(name)
    ds = load_source_dataset(info.hub_id, info.split, info.data_dir, str(path))
    pairs, report = info.convert(ds, info.resolve_options(options), ConvertContext(name, seed, num_proc, str(path)))
    return [dict(p) for p in pairs], report


def user(text):
    return [{"role": "user", "content": text}]


def test_registry_covers_the_recipe_datasets():
    hubs = {i.hub_id for i in REGISTRY.values()}
    assert {
        "Anthropic/hh-rlhf",
        "stanfordnlp/SHP",
        "nvidia/HelpSteer",
        "openbmb/UltraFeedback",
        "argilla/ultrafeedback-binarized-preferences-cleaned",
        "argilla/distilabel-intel-orca-dpo-pairs",
        "argilla/distilabel-capybara-dpo-7k-binarized",
        "PKU-Alignment/PKU-SafeRLHF",
        "PKU-Alignment/PKU-SafeRLHF-30K",
    } <= hubs
    assert {i.data_dir for i in REGISTRY.values() if i.hub_id == "Anthropic/hh-rlhf"} == {
        "harmless-base",
        "helpful-base",
        "helpful-rejection-sampled",
        "helpful-online",
    }
    with pytest.raises(DataError, match="known sources"):
        get_source("hh")
    with pytest.raises(DataError, match="valid options: max_pairs_per_prompt, min_score_ratio, pick"):
        get_source("shp").resolve_options({"k": 1})


@pytest.mark.shared
def test_hh_rlhf_real_rows_match_the_shared_reader():
    path = need_shared(HH_HARMLESS)
    pairs, report = convert("hh-rlhf-harmless-base", path)
    ref, ref_report = read_pairs(str(path))
    assert len(pairs) + report.total_dropped == 2000
    assert len(pairs) == len(ref) and report.dropped == ref_report.dropped
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [(r.chosen, r.rejected) for r in ref]
    first = pairs[0]
    assert first["source"] == "hh-rlhf-harmless-base"
    assert first["context"][0] == {"role": "user", "content": "what are some pranks with a pen i can do?"}
    assert first["context"][-1]["role"] == "user" and first["chosen"] != first["rejected"]
    assert all(ex.startswith(str(path)) for exs in report.examples.values() for ex in exs)


def test_hh_rlhf_drops_identical_and_reports_where(tmp_path):
    f = tmp_path / "hh.jsonl"
    f.write_text(
        '{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: hello", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: hello"}\n'
        '{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: hello", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: go away"}\n'
    )
    pairs, report = convert("hh-rlhf-helpful-base", f)
    assert [(p["context"], p["chosen"], p["rejected"]) for p in pairs] == [(user("hi"), "hello", "go away")]
    assert report.dropped == {DropReason.IDENTICAL: 1}
    assert report.examples[DropReason.IDENTICAL] == [f"{f}:row 0 (chosen/rejected)"]


@pytest.mark.shared
def test_intel_orca_real_csv():
    path = need_shared(ORCA_INTEL_CSV)
    pairs, report = convert("intel-orca-dpo-pairs", path)
    assert len(pairs) == 100 and report.total_dropped == 0
    with_system = [p for p in pairs if p["context"][0]["role"] == "system"]
    assert len(with_system) == 92  # SOURCES.md: `system` empty in 8 rows -> no system turn there
    assert pairs[0]["context"][-1]["content"].startswith("You will be given a definition of a task first")
    assert pairs[0]["chosen"].startswith('[\n  ["AFC Ajax (amateurs)"')  # CSV "" escapes undone


def test_shp_ratio_and_k():
    # fixture: post p1 ratios 3.0 (A wins), 2.5 (B wins), 1.5; p2 ratio exactly 2.0; p3 ratio 10 (B wins)
    pairs, report = convert("shp", FIXTURES / "shp.jsonl", {"max_pairs_per_prompt": 5})
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [
        ("alpha answer", "beta answer"),
        ("delta answer", "gamma answer"),
        ("kappa answer", "iota answer"),
    ]
    assert pairs[0]["context"] == user("Why is the sky blue?")
    assert report.dropped == {Reason.LOW_RATIO: 2}
    one, report1 = convert("shp", FIXTURES / "shp.jsonl", {"max_pairs_per_prompt": 1, "pick": "highest_ratio"})
    assert [p["chosen"] for p in one] == ["alpha answer", "kappa answer"]
    assert report1.dropped == {Reason.LOW_RATIO: 2, Reason.OVER_LIMIT: 1} and report1.kept == 2


def test_helpsteer_all_pairs_and_best_vs_random():
    # "Name a fruit.": apple (4,4)=4, pear (3,3)=3, plum (2,4)=3, rock (1,1)=1 -> 6 pairs, pear/plum equal.
    # "Name a colour.": red = blue = 2 -> its one pair is equal. "Name a planet.": one response, no pair.
    pairs, report = convert("helpsteer", FIXTURES / "helpsteer.jsonl", {"pairing": "all_pairs"})
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [
        ("apple", "pear"),
        ("apple", "plum"),
        ("apple", "rock"),
        ("pear", "rock"),
        ("plum", "rock"),
    ]
    assert {p["context"][0]["content"] for p in pairs} == {"Name a fruit."}
    assert report.dropped == {DropReason.EQUAL_SCORES: 2, Reason.NO_PAIR: 1} and report.kept == 5
    bvr, _ = convert("helpsteer", FIXTURES / "helpsteer.jsonl", {"pairing": "best_vs_random"})
    assert len(bvr) == 1 and bvr[0]["chosen"] == "apple" and bvr[0]["rejected"] in {"pear", "plum", "rock"}
    seen = {
        convert("helpsteer", FIXTURES / "helpsteer.jsonl", {"pairing": "best_vs_random"}, seed=s)[0][0]["rejected"]
        for s in range(12)
    }
    assert seen == {"pear", "plum", "rock"}


def test_ultrafeedback_ranks_by_fine_grained_mean():
    # row 0: hello 5, hi mean(4,4,4)=4 ("N/A" skipped), ??? all N/A (unrated), hey 4 (overall 9, ignored)
    pairs, report = convert("ultrafeedback", FIXTURES / "ultrafeedback.jsonl")
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("hello", "hi"), ("hello", "hey"), ("1 2", "2 1")]
    assert report.dropped == {DropReason.EQUAL_SCORES: 1}  # hi vs hey
    assert pairs[2]["context"] == user("Count to two.")
    bvr, _ = convert("ultrafeedback", FIXTURES / "ultrafeedback.jsonl", {"pairing": "best_vs_random"})
    assert bvr[0]["chosen"] == "hello"  # best by ratings, although "hey" has the highest overall_score
    assert bvr[0]["rejected"] in {"hi", "hey"}


def test_ultrafeedback_binarized_cleaned_drops_equal_ratings():
    pairs, report = convert("ultrafeedback-binarized-cleaned", FIXTURES / "ultrafeedback_binarized_cleaned.jsonl")
    assert [(p["context"], p["chosen"], p["rejected"]) for p in pairs] == [
        (user("Say hello."), "hello", "hi"),
        (user("Name a dog."), "Rex", "Cat"),
    ]
    assert report.dropped == {DropReason.EQUAL_SCORES: 1}


def test_argilla_orca_filters():
    path = FIXTURES / "orca_dpo_pairs.jsonl"
    pairs, report = convert("orca-dpo-pairs", path)
    assert [p["chosen"] for p in pairs] == ["4", "Paris", "meh", "3"]
    assert pairs[0]["context"] == [{"role": "system", "content": "You are helpful."}, *user("What is 2+2?")]
    assert pairs[1]["context"] == user("Capital of France?")  # empty system -> no system turn
    assert report.dropped == {DropReason.EQUAL_SCORES: 1, DropReason.MISSING_FIELD: 1}
    strict, report2 = convert("orca-dpo-pairs", path, {"min_chosen_score": 8, "drop_gsm8k_train": True})
    assert [p["chosen"] for p in strict] == ["4", "Paris"]
    assert report2.dropped[Reason.LOW_CHOSEN_SCORE] == 1 and report2.dropped[Reason.IN_GSM8K_TRAIN] == 1


def test_capybara_multi_turn():
    pairs, report = convert("capybara", FIXTURES / "capybara.jsonl")
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("12", "7"), ("SALUT", "hola")]
    assert [m["role"] for m in pairs[1]["context"]] == ["user", "assistant", "user", "assistant", "user"]
    assert pairs[1]["context"][-1]["content"] == "And in French?"
    assert report.dropped == {DropReason.EQUAL_SCORES: 1}


@pytest.mark.parametrize(
    "name,fixture", [("pku-saferlhf", "pku_saferlhf.jsonl"), ("pku-saferlhf-30k", "pku_saferlhf_30k.jsonl")]
)
def test_pku_preference_setting(name, fixture):
    safer, _ = convert(name, FIXTURES / fixture)
    better, _ = convert(name, FIXTURES / fixture, {"preference": "better"})
    agree, report = convert(name, FIXTURES / fixture, {"preference": "agree"})
    if name == "pku-saferlhf":
        assert [p["chosen"] for p in safer] == ["I can't help with that.", "Mix flour and water.", "Don't."]
        assert [p["chosen"] for p in better] == ["Here is how: ...", "Mix flour and water.", "Use a ..."]
        assert [p["chosen"] for p in agree] == ["Mix flour and water."]
        assert report.dropped == {Reason.LABELS_DISAGREE: 2}
    else:
        assert [p["chosen"] for p in safer] == ["I can't help.", "You are great."]
        assert [p["chosen"] for p in better] == ["Here is how.", "You are great."]


def test_wrong_schema_names_the_missing_column():
    with pytest.raises(DataError, match=r"missing column\(s\) \['post_id'"):
        convert("shp", FIXTURES / "helpsteer.jsonl")


def test_bad_field_is_a_counted_drop_naming_row_and_field(tmp_path):
    f = tmp_path / "pku.jsonl"
    f.write_text(
        '{"prompt": "q", "response_0": "a", "response_1": "b", "better_response_id": 0, "safer_response_id": 3}\n'
    )
    pairs, report = convert("pku-saferlhf", f)
    assert pairs == [] and report.dropped == {DropReason.BAD_TYPE: 1}
    assert report.examples[DropReason.BAD_TYPE] == [f"{f}:row 0 (better_response_id/safer_response_id)"]


def test_missing_local_copy_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_source_dataset("stanfordnlp/SHP", "train", path=str(tmp_path / "nope.jsonl"))
