import gzip
import json

import pytest

from rewardlab.data.readers import read_pairs, row_to_pair
from rewardlab.data.schema import DataError, PreferencePair, RowRejected
from tests.helpers import shared_path

USER = {"role": "user", "content": "What is 2+2?"}
GOOD = "2 + 2 = 4."
BAD = "It is 5."


def write_jsonl(path, rows, opener=open):
    with opener(path, "wt", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return path


ROW_FORMATS = {
    "conversational": {"chosen": [USER, {"role": "assistant", "content": GOOD}],
                       "rejected": [USER, {"role": "assistant", "content": BAD}]},
    "prompt_string": {"prompt": "What is 2+2?", "chosen": GOOD, "rejected": BAD},
    "prompt_messages": {"prompt": [USER], "chosen": [{"role": "assistant", "content": GOOD}],
                        "rejected": [{"role": "assistant", "content": BAD}]},
    "hh_rlhf": {"chosen": f"\n\nHuman: What is 2+2?\n\nAssistant: {GOOD}",
                "rejected": f"\n\nHuman: What is 2+2?\n\nAssistant: {BAD}"},
    "sharegpt": {"conversations": [{"from": "human", "value": "What is 2+2?"}],
                 "chosen": {"from": "gpt", "value": GOOD}, "rejected": {"from": "gpt", "value": BAD}},
    "record": {"context": [USER], "chosen": GOOD, "rejected": BAD, "margin": 1.5},
}


@pytest.mark.parametrize("name", sorted(ROW_FORMATS))
def test_every_format_becomes_the_same_pair(name):
    pair = row_to_pair(ROW_FORMATS[name])
    assert pair.context == (USER,)
    assert (pair.chosen, pair.rejected) == (GOOD, BAD)
    assert pair.margin == (1.5 if name == "record" else None)


def test_hh_multi_turn_transcript_keeps_shared_context():
    t = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: a joke?\n\nAssistant: "
    pair = row_to_pair({"chosen": t + "Why did the chicken...", "rejected": t + "No."})
    assert [m["role"] for m in pair.context] == ["user", "assistant", "user"]
    assert pair.context[2]["content"] == "a joke?" and pair.rejected == "No."
    assert pair.chosen_messages()[-1] == {"role": "assistant", "content": "Why did the chicken..."}


@pytest.mark.parametrize(
    "row, reason, field",
    [
        ({"prompt": "q", "chosen": "same", "rejected": "same"}, "identical responses", "chosen/rejected"),
        ({"prompt": "q", "chosen": "  ", "rejected": "b"}, "empty response", "chosen"),
        ({"chosen": [USER, {"role": "assistant", "content": "a"}],
          "rejected": [{"role": "user", "content": "other"}, {"role": "assistant", "content": "b"}]},
         "contexts differ", "chosen/rejected"),
        ({"prompt": [{"role": "assistant", "content": "x"}], "chosen": "a", "rejected": "b"}, "bad roles", "prompt"),
        ({"prompt": [{"role": "wizard", "content": "x"}], "chosen": "a", "rejected": "b"}, "bad roles",
         "prompt[0].role"),
        ({"prompt": "q", "chosen": 3, "rejected": "b"}, "wrong field type", "chosen"),
        ({"prompt": "q", "rejected": "b"}, "missing field", "chosen"),
        ({"prompt": "q", "chosen": "a", "rejected": "b", "margin": "big"}, "wrong field type", "margin"),
    ],
)
def test_invalid_rows_name_reason_and_field(row, reason, field):
    with pytest.raises(RowRejected) as info:
        row_to_pair(row)
    assert info.value.reason == reason and info.value.field == field


def test_drops_are_counted_by_reason_and_errors_name_file_row_field(tmp_path):
    rows = [ROW_FORMATS["prompt_string"], {"prompt": "q", "chosen": "x", "rejected": "x"},
            ROW_FORMATS["hh_rlhf"], {"prompt": "q", "chosen": "", "rejected": "b"}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    with open(path, "a") as fh:
        fh.write("{not json\n")
    pairs, report = read_pairs(str(path))
    assert len(pairs) == 2 and report.kept == 2
    assert report.dropped == {"identical responses": 1, "empty response": 1, "malformed row": 1}
    assert f"{path}:5" in report.summary()
    with pytest.raises(DataError, match=r"d.jsonl:2: identical responses in field 'chosen/rejected'"):
        read_pairs(str(path), on_invalid="error")


def test_containers_json_jsonl_gz_parquet_and_datasets_folder(tmp_path):
    import datasets

    rows = [ROW_FORMATS["prompt_string"], ROW_FORMATS["hh_rlhf"]]
    (tmp_path / "a.json").write_text(json.dumps(rows))
    write_jsonl(tmp_path / "b.jsonl.gz", rows, opener=gzip.open)
    ds = datasets.Dataset.from_list([PreferencePair((USER,), GOOD, BAD).to_record()] * 2)
    ds.to_parquet(str(tmp_path / "c.parquet"))
    ds.save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"train": ds, "test": ds.select([0])}).save_to_disk(str(tmp_path / "saved_dict"))
    for spec, split, n in [("a.json", "train", 2), ("b.jsonl.gz", "train", 2), ("c.parquet", "train", 2),
                           ("saved", "train", 2), ("saved_dict", "test", 1)]:
        pairs, report = read_pairs(str(tmp_path / spec), split=split)
        assert len(pairs) == n, spec
        assert all(p.chosen == GOOD and p.rejected == BAD and p.context == (USER,) for p in pairs), spec
    with pytest.raises(DataError, match="no split 'validation'"):
        read_pairs(str(tmp_path / "saved_dict"), split="validation")


def test_hub_code_path_with_a_local_repo_layout(tmp_path):
    # A folder laid out like a hub dataset repo goes through datasets.load_dataset(path, split=...), the same
    # call a hub id makes.
    repo = tmp_path / "my-prefs"
    (repo / "data").mkdir(parents=True)
    write_jsonl(repo / "data" / "train.jsonl", [ROW_FORMATS["conversational"]] * 3)
    write_jsonl(repo / "data" / "test.jsonl", [ROW_FORMATS["conversational"]])
    assert len(read_pairs(str(repo), split="train")[0]) == 3
    assert len(read_pairs(str(repo), split="test")[0]) == 1


def test_hub_id_calls_load_dataset_with_id_and_split(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, split=None, **kw):
        calls.append((path, split))
        return datasets.Dataset.from_list([ROW_FORMATS["prompt_string"]])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    pairs, _ = read_pairs("someone/prefs", split="test_prefs")
    assert calls == [("someone/prefs", "test_prefs")] and len(pairs) == 1


def test_missing_file_and_unknown_type_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_pairs(str(tmp_path / "nope.jsonl"))
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="unknown file type"):
        read_pairs(str(tmp_path / "x.txt"))
    (tmp_path / "bad.json").write_text("[1, 2")
    with pytest.raises(DataError, match="invalid JSON"):
        read_pairs(str(tmp_path / "bad.json"))
    (tmp_path / "utf.jsonl").write_bytes(b'{"prompt": "\xff\xfe", "chosen": "a", "rejected": "b"}\n')
    pairs, report = read_pairs(str(tmp_path / "utf.jsonl"))
    assert pairs == [] and report.dropped == {"malformed row": 1}


def test_real_hh_rlhf_rows_parse_with_every_drop_counted():
    path = shared_path("data/hh-rlhf-harmless-base/pairs.jsonl.gz")
    pairs, report = read_pairs(str(path))
    assert report.kept + report.total_dropped == 2000  # nothing lost silently
    assert len(pairs) == report.kept > 1950
    assert all(p.context[-1]["role"] == "user" and p.chosen != p.rejected for p in pairs)
