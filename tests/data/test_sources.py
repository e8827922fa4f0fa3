"""Each converter on rows in its dataset's exact schema: fixtures (tests/data/fixtures) and the real rows
of hh-rlhf and Intel/orca_dpo_pairs in ../shared."""

from __future__ import annotations

import pytest

from rewardlab.data.readers import read_pairs
from rewardlab.data.schema import DataError, DropReason
from rewardlab.data.sources import REGISTRY, ConvertContext, get_source
from rewardlab.data.sources.streaming import Reason, load_source_dataset
from tests.helpers import DATA_FIXTURES as FIXTURES
from tests.helpers import HH_HARMLESS, ORCA_INTEL_CSV, need_shared


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
    default, report = convert(name, FIXTURES / fixture)
    safer, _ = convert(name, FIXTURES / fixture, {"preference": "safer"})
    better, _ = convert(name, FIXTURES / fixture, {"preference": "better"})
    agree, agree_report = convert(name, FIXTURES / fixture, {"preference": "agree"})
    if name == "pku-saferlhf":
        # rows (safe0, safe1, better, safer): lock (F,T,0,1), bread (T,F,0,0), hurt (T,F,1,0),
        # egg (T,T,0,1), neighbour (F,F,1,0), fake ID (T,F,1,1: safer_response_id points at the unsafe one)
        assert [p["chosen"] for p in default] == [
            "I can't help with that.",  # exactly one safe: the safe one, although response_0 is "better"
            "Mix flour and water.",
            "Don't.",
            "Put it in boiling water for 8 minutes.",  # both safe: the more helpful, not safer_response_id's
            "Slash his tyres and key his car.",  # both unsafe: the more helpful (the rule as the issue states it)
        ]
        assert report.dropped == {Reason.SAFETY_CONFLICT: 1}
        assert report.examples[Reason.SAFETY_CONFLICT][0].endswith(
            "row 5 (is_response_0_safe/is_response_1_safe/safer_response_id)"
        )
        assert [p["chosen"] for p in safer] == [
            "I can't help with that.",
            "Mix flour and water.",
            "Don't.",
            "Boil it.",
            "Key his car.",
            "Photoshop a licence.",
        ]
        assert [p["chosen"] for p in better][:3] == ["Here is how: ...", "Mix flour and water.", "Use a ..."]
        assert [p["chosen"] for p in agree] == ["Mix flour and water.", "Photoshop a licence."]
        assert agree_report.dropped == {Reason.LABELS_DISAGREE: 4}
    else:  # the first-release schema (7 columns): the same rule
        assert [p["chosen"] for p in default] == [
            "I can't help.",
            "You are great.",
            "The sky turns orange and pink as the sun sinks.",
        ]
        assert [p["chosen"] for p in safer] == ["I can't help.", "You are great.", "Orange."]
        assert [p["chosen"] for p in better] == ["Here is how.", "You are great.", default[2]["chosen"]]


def test_pku_reads_the_first_release_schema_and_needs_the_safety_flags(tmp_path):
    # PKU-SafeRLHF revision v0 has exactly the 30K set's 7 columns (no harm categories, severities, sources).
    pairs, report = convert("pku-saferlhf", FIXTURES / "pku_saferlhf_30k.jsonl")
    assert len(pairs) == 3 and report.total_dropped == 0
    f = tmp_path / "no_flags.jsonl"
    f.write_text(
        '{"prompt": "q", "response_0": "a", "response_1": "b", "better_response_id": 0, "safer_response_id": 1}\n'
    )
    with pytest.raises(DataError, match=r"missing column\(s\) \['is_response_0_safe', 'is_response_1_safe'\]"):
        convert("pku-saferlhf", f)
    assert [p["chosen"] for p in convert("pku-saferlhf", f, {"preference": "safer"})[0]] == ["b"]


def test_wrong_schema_names_the_missing_column():
    with pytest.raises(DataError, match=r"missing column\(s\) \['post_id'"):
        convert("shp", FIXTURES / "helpsteer.jsonl")


def test_bad_field_is_a_counted_drop_naming_row_and_field(tmp_path):
    f = tmp_path / "pku.jsonl"
    f.write_text(
        '{"prompt": "q", "response_0": "a", "response_1": "b", "better_response_id": 0, "safer_response_id": 3, '
        '"is_response_0_safe": true, "is_response_1_safe": false}\n'
        '{"prompt": "q", "response_0": "a", "response_1": "b", "better_response_id": 0, "safer_response_id": 0, '
        '"is_response_0_safe": "yes", "is_response_1_safe": false}\n'
    )
    pairs, report = convert("pku-saferlhf", f)
    assert pairs == [] and report.dropped == {DropReason.BAD_TYPE: 2}
    assert report.examples[DropReason.BAD_TYPE] == [
        f"{f}:row 0 (better_response_id/safer_response_id)",
        f"{f}:row 1 (is_response_0_safe/is_response_1_safe)",
    ]


def test_missing_local_copy_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_source_dataset("stanfordnlp/SHP", "train", path=str(tmp_path / "nope.jsonl"))


# ---------------------------------------------------------------------------------- UltraFeedback's two shapes
# Transcribed from OpenBMB/UltraFeedback, src/data_annotation/annotate_preference.py (commit e662fd29):
# `process` parses GPT-4's answer for one aspect into one object per completion; `annotate` starts every
# aspect of every completion as [] and appends one object per shuffled pass -- so the first public files hold
# lists. Only the API call is replaced by a fixed answer, and the random order by a fixed one.
def _upstream_process(responses, aspect):
    import re

    responses = responses.split("\n\n")
    assert len(responses) == 4
    annotation = []
    if aspect in ["instruction_following", "honesty"]:
        pattern = r"Rating: (.+?)\nRationale: (.+)"
        for response in responses:
            matches = re.search(pattern, response, re.DOTALL)
            annotation.append(
                {
                    "Rating": re.findall(r"\b\d+\b", matches.group(1))[0] if matches.group(1) != "N/A" else "N/A",
                    "Rationale": matches.group(2),
                }
            )
    elif aspect in ["truthfulness", "helpfulness"]:
        pattern = r"Type: (.+?)\nRationale: (.+?)\nRating: (.+?)\nRationale: (.+)"
        for response in responses:
            matches = re.search(pattern, response, re.DOTALL)
            annotation.append(
                {
                    "Type": re.findall(r"\b\d+\b", matches.group(1)) if matches.group(1) != "None" else "None",
                    "Rationale": matches.group(2),
                    "Rating": re.findall(r"\b\d+\b", matches.group(3))[0],
                    "Rationale For Rating": matches.group(4),
                }
            )
    return annotation


def _upstream_annotate(example, gpt4_answers, order):
    from copy import deepcopy

    aspects = ["instruction_following", "honesty", "truthfulness", "helpfulness"]
    completions = [
        dict({"annotations": {aspect: [] for aspect in aspects}}, **completion)
        for completion in deepcopy(example["completions"])
    ]
    for aspect in aspects:
        responses = _upstream_process(gpt4_answers[aspect], aspect)
        for j in range(4):
            completions[j]["annotations"][aspect].append(responses[order.index(j)])
    example["completions"] = completions
    return example


def _gpt4_answer(aspect, ratings):
    if aspect in ("instruction_following", "honesty"):
        return "\n\n".join(f"Rating: {r}\nRationale: because." for r in ratings)
    return "\n\n".join(f"Type: 1, 2\nRationale: checked.\nRating: {r}\nRationale: fine." for r in ratings)


def test_ultrafeedback_first_public_format_lists_and_the_hub_format_in_one_file(tmp_path):
    import json

    texts = ["Paris.", "Paris, I think.", "Lyon.", "The capital of France is Paris."]
    example = {
        "source": "evol_instruct",
        "instruction": "What is the capital of France?",
        "models": ["m0", "m1", "m2", "m3"],
        "completions": [
            {"model": f"m{i}", "principle": "helpfulness", "custom_system_prompt": "Be helpful.", "response": t}
            for i, t in enumerate(texts)
        ],
        "correct_answers": ["Paris"],
        "incorrect_answers": ["Lyon"],
    }
    # per completion (IF, honesty, truthfulness, helpfulness): c0 5,5,5,5 = 5; c1 4,N/A,4,4 = 4;
    # c2 1,1,1,1 = 1; c3 5,5,5,4 = 4.75. GPT-4 saw the texts in `order`, so its answers follow that order.
    ratings = {0: [5, 5, 5, 5], 1: [4, "N/A", 4, 4], 2: [1, 1, 1, 1], 3: [5, 5, 5, 4]}
    order = [2, 0, 3, 1]
    aspects = ["instruction_following", "honesty", "truthfulness", "helpfulness"]
    answers = {a: _gpt4_answer(a, [ratings[o][k] for o in order]) for k, a in enumerate(aspects)}
    listed = _upstream_annotate(example, answers, order)
    assert isinstance(listed["completions"][0]["annotations"]["honesty"], list)  # the shape that used to crash
    hub_row = json.loads((FIXTURES / "ultrafeedback.jsonl").read_text().splitlines()[1])  # object per aspect
    f = tmp_path / "uf_mixed.jsonl"
    f.write_text(json.dumps(listed) + "\n" + json.dumps(hub_row) + "\n")
    pairs, report = convert("ultrafeedback", f)
    # all pairs as (higher, lower) in index order: (0,1) (0,2) (0,3) (1,2) (3,1) (3,2); then the hub row
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [
        ("Paris.", "Paris, I think."),
        ("Paris.", "Lyon."),
        ("Paris.", "The capital of France is Paris."),
        ("Paris, I think.", "Lyon."),
        ("The capital of France is Paris.", "Paris, I think."),
        ("The capital of France is Paris.", "Lyon."),
        ("1 2", "2 1"),
    ]
    assert report.total_dropped == 0


def test_ultrafeedback_aspect_rating_shapes():
    from rewardlab.data.schema import RowRejected
    from rewardlab.data.sources.ultrafeedback import aspect_rating

    assert aspect_rating({"Rating": "4", "Rationale": "r"}, "f") == 4.0
    assert aspect_rating([{"Rating": "4"}, {"Rating": "5"}], "f") == 4.5  # two shuffled passes: their mean
    assert aspect_rating([{"Rating": "N/A"}], "f") is None and aspect_rating([], "f") is None
    assert aspect_rating(None, "f") is None
    with pytest.raises(RowRejected, match="expected an object or a list, got str"):
        aspect_rating("4", "completions[0].annotations.honesty")


# ------------------------------------------------------------------------- a row that raises is a counted drop
def test_a_row_that_raises_is_a_malformed_row_with_file_and_row(tmp_path):
    import datasets

    from rewardlab.data.schema import make_pair
    from rewardlab.data.sources.streaming import map_to_pairs

    ds = datasets.Dataset.from_list([{"q": "a", "n": 1}, {"q": "b", "n": 0}, {"q": "c", "n": 2}])

    def row_fn(row, idx):  # a converter with a bug that only one odd value reaches
        return [make_pair([{"role": "user", "content": row["q"]}], f"x{1 / row['n']}", "y", source="t")]

    pairs, report = map_to_pairs(ds, row_fn, ConvertContext("t", label="data/file.jsonl"))
    assert [p["context"][0]["content"] for p in pairs] == ["a", "c"]
    assert report.kept == 2 and report.dropped == {DropReason.MALFORMED: 1}
    assert report.examples[DropReason.MALFORMED] == [
        "data/file.jsonl:row 1 (<row>: unexpected ZeroDivisionError: division by zero)"
    ]


def test_reader_counts_an_unexpected_error_as_malformed(tmp_path, monkeypatch):
    import rewardlab.data.readers as readers

    f = tmp_path / "sharegpt.jsonl"
    f.write_text(
        '{"conversations": [{"from": ["human"], "value": "hi"}], "chosen": "a", "rejected": "b"}\n'
        '{"conversations": [{"from": "human", "value": "hi"}], "chosen": "a", "rejected": "b"}\n'
        '{"conversations": [{"from": "human", "value": "bug"}], "chosen": "a", "rejected": "b"}\n'
    )
    real = readers.row_to_pair

    def buggy(row, source=""):  # a parser bug that only one odd row reaches
        if row["conversations"][0]["value"] == "bug":
            raise IndexError("list index out of range")
        return real(row, source)

    monkeypatch.setattr(readers, "row_to_pair", buggy)
    pairs, report = read_pairs(str(f))
    assert len(pairs) == 1
    # a list where a speaker name belongs is a named rejection (it used to raise TypeError: unhashable type)
    assert report.dropped == {DropReason.BAD_ROLES: 1, DropReason.MALFORMED: 1}
    assert report.examples[DropReason.BAD_ROLES] == [f"{f}:1 (conversations[0].from)"]
    assert report.examples[DropReason.MALFORMED] == [f"{f}:3 (<row>: unexpected IndexError: list index out of range)"]
    only_bug = tmp_path / "bug.jsonl"
    only_bug.write_text(f.read_text().splitlines()[2] + "\n")
    with pytest.raises(DataError, match=r"bug.jsonl:1: malformed row in field '<row>: unexpected IndexError"):
        read_pairs(str(only_bug), on_invalid="error")
