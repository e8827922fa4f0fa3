"""Best-of-n and preference-pair labelling: pair selection by hand-computed rewards, file formats, bad rows."""

from __future__ import annotations

import json

import pytest

from rewardlab.data.readers import read_pairs
from rewardlab.data.schema import DataError
from rewardlab.labeling import label_command, label_file, preference_pairs


class LengthJudge:
    """Reward = number of characters: every expected output can be worked out by hand."""

    def rank_responses(self, groups):
        return [[float(len(r)) for r in responses] for _, responses in groups]


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_preference_pairs_by_hand():
    r = [1.0, 3.0, 2.0, 3.0]
    assert preference_pairs(r, "best_worst") == [(1, 0)]  # first of the tied best, against the worst
    assert preference_pairs(r, "best_worst", margin=2.0) == []  # 3 - 1 = 2 is not > 2
    assert preference_pairs(r, "all_pairs", margin=0.5) == [(1, 0), (1, 2), (2, 0), (3, 0), (3, 2)]
    assert preference_pairs(r, "all_pairs", margin=1.5) == [(1, 0), (3, 0)]
    assert preference_pairs([5.0, 5.0], "all_pairs") == []  # ties never become pairs
    assert preference_pairs([5.0], "best_worst") == []
    with pytest.raises(ValueError, match="mode"):
        preference_pairs(r, "best_vs_rest")
    with pytest.raises(ValueError, match="margin"):
        preference_pairs(r, margin=-1)


ROWS = [
    {"id": "a", "prompt": "Say hi", "responses": ["hi", "hello there", "hey"]},
    {"id": "b", "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a fruit"}],
     "responses": ["fig", "pear", "kiwi"]},
    {"id": "c", "prompt": "Only one", "responses": ["same", "same"]},
]


def test_best_of_n_and_best_worst_pairs(tmp_path):
    src = write_jsonl(tmp_path / "samples.jsonl", ROWS)
    best, pairs = tmp_path / "best.jsonl", tmp_path / "pairs.jsonl"
    report = label_file(LengthJudge(), str(src), str(best), str(pairs), mode="best_worst")
    rows = read_jsonl(best)
    assert [(r["id"], r["best_index"], r["best_response"], r["best_reward"]) for r in rows] == [
        ("a", 1, "hello there", 11.0), ("b", 1, "pear", 4.0), ("c", 0, "same", 4.0)]
    assert rows[0]["rewards"] == [2.0, 11.0, 3.0] and rows[1]["prompt"] == ROWS[1]["prompt"]
    out = read_jsonl(pairs)
    assert [(p["id"], p["chosen"][-1]["content"], p["rejected"][-1]["content"]) for p in out] == [
        ("a", "hello there", "hi"), ("b", "pear", "fig")]
    assert (out[0]["chosen_reward"], out[0]["rejected_reward"]) == (11.0, 2.0)
    assert out[1]["chosen"][:2] == ROWS[1]["prompt"]  # the system turn is kept in the context
    assert (report.rows, report.labelled, report.pairs, report.rows_without_pair) == (3, 3, 2, 1)
    # ready for the next round: the training reader takes the file as is
    loaded, drops = read_pairs(str(pairs), on_invalid="error")
    assert [p.chosen for p in loaded] == ["hello there", "pear"] and drops.total_dropped == 0


def test_all_pairs_above_margin_in_record_format(tmp_path):
    src = write_jsonl(tmp_path / "samples.jsonl", ROWS[:1])
    pairs = tmp_path / "pairs.jsonl"
    label_file(LengthJudge(), str(src), None, str(pairs), mode="all_pairs", margin=0.5, pair_format="record")
    out = read_jsonl(pairs)
    # rewards 2, 11, 3: 11>2, 11>3, 3>2 (all gaps > 0.5)
    assert [(p["chosen"], p["rejected"]) for p in out] == [("hello there", "hi"), ("hello there", "hey"), ("hey", "hi")]
    assert out[0]["context"] == [{"role": "user", "content": "Say hi"}] and out[0]["source"] == "samples.jsonl"
    assert out[2]["chosen_reward"] - out[2]["rejected_reward"] == 1.0 and out[0]["id"] == "a"
    assert [p.rejected for p in read_pairs(str(pairs), on_invalid="error")[0]] == ["hi", "hey", "hi"]


BAD = [
    ({"prompt": "x", "responses": ["ok", 3]}, "wrong field type in field 'responses[1]'"),
    ({"prompt": "x"}, "missing field in field 'responses'"),
    ({"prompt": "x", "responses": []}, "field 'responses'"),
    ({"prompt": [{"role": "assistant", "content": "x"}], "responses": ["a"]}, "field 'prompt'"),
    ('{"prompt": "x", "responses": ["a"', "invalid JSON"),
]


@pytest.mark.parametrize("bad, message", BAD)
def test_bad_rows_name_file_line_and_field(tmp_path, bad, message):
    src = write_jsonl(tmp_path / "samples.jsonl", [ROWS[0], bad])
    with pytest.raises(DataError) as e:
        label_file(LengthJudge(), str(src), str(tmp_path / "best.jsonl"))
    assert f"{src}:2:" in str(e.value) and message in str(e.value)
    assert not (tmp_path / "best.jsonl").exists()  # nothing half-written


def test_bad_rows_can_be_counted_and_dropped(tmp_path):
    src = write_jsonl(tmp_path / "samples.jsonl", [ROWS[0], *[b for b, _ in BAD], ROWS[1]])
    report = label_file(LengthJudge(), str(src), str(tmp_path / "best.jsonl"), on_invalid="drop")
    assert (report.rows, report.labelled, report.drops.total_dropped) == (7, 2, 5)
    assert [r["id"] for r in read_jsonl(tmp_path / "best.jsonl")] == ["a", "b"]
    assert "dropped 5 invalid rows" in report.summary() and "samples.jsonl:3 (responses)" in report.summary()


def test_rewards_come_from_the_reward_model(tmp_path, tiny_model_dir):
    from rewardlab.scoring import RewardScorer

    scorer = RewardScorer.from_pretrained(str(tiny_model_dir), device="cpu", dtype="float32")
    src = write_jsonl(tmp_path / "samples.jsonl", ROWS[:2])
    best = tmp_path / "best.jsonl"
    label_file(scorer, str(src), str(best), chunk_rows=1)  # one row per scoring call: chunking must not matter
    for row, out in zip(ROWS[:2], read_jsonl(best)):
        ctx = [{"role": "user", "content": row["prompt"]}] if isinstance(row["prompt"], str) else row["prompt"]
        expected = scorer.score([[*ctx, {"role": "assistant", "content": r}] for r in row["responses"]])
        assert out["rewards"] == pytest.approx(expected, abs=1e-5)
        assert out["best_index"] == max(range(3), key=lambda i: expected[i])


def test_label_command_writes_both_files(tmp_path, tiny_model_dir, capsys):
    src = write_jsonl(tmp_path / "samples.jsonl", ROWS[:2])
    best, pairs = tmp_path / "best.jsonl", tmp_path / "pairs.jsonl"
    assert label_command(str(tiny_model_dir), str(src), str(best), str(pairs), device="cpu", dtype="float32") == 0
    rewards = {r["id"]: r["rewards"] for r in read_jsonl(best)}
    for p in read_jsonl(pairs):
        assert p["chosen_reward"] == max(rewards[p["id"]]) and p["rejected_reward"] == min(rewards[p["id"]])
    assert "labelled 2 of 2 prompts" in capsys.readouterr().err
    with pytest.raises(ValueError, match="nothing to write"):
        label_command(str(tiny_model_dir), str(src))
