"""Best-of-n and preference-pair labelling: pair selection by hand-computed rewards, file formats, bad rows."""

from __future__ import annotations

import json

import pytest

from rewardlab.data.readers import read_pairs
from rewardlab.data.schema import DataError
from rewardlab.kinds.pairwise import PairwiseJudge
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


class StrengthJudge:
    """A pairwise judge whose P(a better than b) is read off a table, so brackets can be worked out by hand."""

    kind = "pairwise"
    best_and_worst = PairwiseJudge.best_and_worst
    win_matrices = PairwiseJudge.win_matrices

    def __init__(self, beats):
        self.beats = beats  # beats(a, b) -> P(a better than b)
        self.compared = []

    def compare(self, triples):
        self.compared.extend((a, b) for _, a, b in triples)
        return [self.beats(a, b) for _, a, b in triples]


def test_best_and_worst_brackets_share_round_one():
    judge = StrengthJudge(lambda a, b: 0.5 if len(a) == len(b) else float(len(a) > len(b)))
    ctx = [{"role": "user", "content": "q"}]
    # lengths 3, 1, 4, 2: round 1 (0 v 1), (2 v 3) is played once for both brackets;
    # winners 0, 2 -> final 2; losers 1, 3 -> the one less likely to be better: 1
    assert judge.best_and_worst([(ctx, ["aaa", "a", "aaaa", "aa"])]) == [(2, 1)]
    assert judge.compared == [("aaa", "a"), ("aaaa", "aa"), ("aaa", "aaaa"), ("a", "aa")]
    # a tie keeps the earlier entrant in both brackets: one response is then both ends
    assert StrengthJudge(lambda a, b: 0.5).best_and_worst([(ctx, ["x", "y"]), (ctx, ["z"])]) == [(0, 0), (0, 0)]


def by_length(a, b):
    return 0.5 if len(a) == len(b) else float(len(a) > len(b))


def test_pairwise_judge_labels_by_knockout(tmp_path):
    src = write_jsonl(tmp_path / "samples.jsonl", ROWS)
    best, pairs = tmp_path / "best.jsonl", tmp_path / "pairs.jsonl"
    report = label_file(StrengthJudge(by_length), str(src), str(best), str(pairs))
    rows = read_jsonl(best)
    # a: lengths 2, 11, 3 -> winner "hello there", loser "hi"; b: 3, 4, 4 -> (0 v 1) 1, then (1 v 2) tie keeps 1;
    # loser: (0 v 1) 0, then 0 v 2 -> 0; c: a tie everywhere -> 0 is both ends: no pair
    assert [(r["best_index"], r["best_response"], r["selection"]) for r in rows] == [
        (1, "hello there", "knockout"), (1, "pear", "knockout"), (0, "same", "knockout")]
    assert "rewards" not in rows[0]  # a pairwise model gives no reward per response
    out = read_jsonl(pairs)
    assert [(p["id"], p["chosen"][-1]["content"], p["rejected"][-1]["content"], p["p_chosen_better"]) for p in out] == [
        ("a", "hello there", "hi", 1.0), ("b", "pear", "fig", 1.0)]
    assert (report.pairs, report.rows_without_pair) == (2, 1)
    assert [p.chosen for p in read_pairs(str(pairs), on_invalid="error")[0]] == ["hello there", "pear"]


def test_a_preference_cycle_gives_a_winner_but_no_pair(tmp_path):
    beats = {("paper", "rock"), ("scissors", "paper"), ("rock", "scissors")}
    judge = StrengthJudge(lambda a, b: float((a, b) in beats))
    src = write_jsonl(tmp_path / "samples.jsonl", [{"prompt": "play", "responses": ["rock", "paper", "scissors"]}])
    best, pairs = tmp_path / "best.jsonl", tmp_path / "pairs.jsonl"
    # winners: (rock v paper) -> paper, (paper v scissors) -> scissors;
    # losers: rock, then (rock v scissors): rock wins, so scissors goes on as the loser: both ends are scissors
    report = label_file(judge, str(src), str(best), str(pairs))
    assert read_jsonl(best)[0]["best_response"] == "scissors" and read_jsonl(pairs) == []
    assert report.rows_without_pair == 1
    # all_pairs: each of the three matches is decisive, so each gives a pair, in the model's direction
    label_file(judge, str(src), str(best), str(pairs), mode="all_pairs")
    assert sorted((p["chosen"][-1]["content"], p["rejected"][-1]["content"]) for p in read_jsonl(pairs)) == sorted(beats)
    assert read_jsonl(best)[0]["best_index"] == 2  # the same knockout winner in both modes


def test_pairwise_margin_applies_to_the_probability_gap(tmp_path):
    judge = StrengthJudge(lambda a, b: 0.5 + 0.0625 * (len(a) - len(b)))  # sixteenths: exact in binary
    src = write_jsonl(tmp_path / "samples.jsonl", [{"prompt": "x", "responses": ["abc", "a", "abcdefg"]}])
    pairs = tmp_path / "pairs.jsonl"
    # winner "abcdefg", loser "a": p = 0.5 + 0.0625 * 6 = 0.875, gap 2p - 1 = 0.75
    label_file(judge, str(src), None, str(pairs), margin=0.7)
    assert [p["p_chosen_better"] for p in read_jsonl(pairs)] == [0.875]
    label_file(judge, str(src), None, str(pairs), margin=0.75)
    assert read_jsonl(pairs) == []  # 0.75 is not > 0.75
    # all_pairs: gaps 2 * 0.0625 * |length difference|: 0.25 (abc, a), 0.5 (abcdefg, abc), 0.75 (abcdefg, a)
    label_file(judge, str(src), None, str(pairs), mode="all_pairs", margin=0.3)
    assert [(p["chosen"][-1]["content"], p["rejected"][-1]["content"], p["p_chosen_better"])
            for p in read_jsonl(pairs)] == [("abcdefg", "abc", 0.75), ("abcdefg", "a", 0.875)]


def test_trained_pairwise_model_labels_with_its_own_tournament(tmp_path, trained_pairwise):
    from rewardlab.kinds import load_scorer

    _, result = trained_pairwise
    judge = load_scorer(str(result.output_dir), device="cpu")
    rows = [{"prompt": f"Tell me about {t}.", "responses": [f"NO {t.upper()}!!", f"Happy to help! Here is a note on "
                                                          f"{t}: it is interesting.", "IDK", f"Sure, {t} is fun."]}
            for t in ("tea", "rain", "chess")]
    src = write_jsonl(tmp_path / "samples.jsonl", rows)
    best, pairs = tmp_path / "best.jsonl", tmp_path / "pairs.jsonl"
    label_file(judge, str(src), str(best), str(pairs), chunk_rows=2)  # two rows' brackets per batch, then one
    out = {p["chosen"][0]["content"]: p for p in read_jsonl(pairs)}
    for row, got in zip(rows, read_jsonl(best)):
        ctx, responses = [{"role": "user", "content": row["prompt"]}], row["responses"]
        assert got["best_index"] == judge.best_of_n(ctx, responses)  # the kind's own knockout, one group alone
        pair = out[row["prompt"]]
        assert pair["chosen"][-1]["content"] == responses[got["best_index"]]
        (p,) = judge.compare([(ctx, pair["chosen"][-1]["content"], pair["rejected"][-1]["content"])])
        assert pair["p_chosen_better"] == pytest.approx(p, abs=1e-6) and p > 0.5
    assert len(out) == 3


def test_label_command_loads_every_kind(tmp_path, trained_regression, trained_pairwise, capsys):
    from rewardlab.kinds import load_scorer

    src = write_jsonl(tmp_path / "samples.jsonl", ROWS[:2])
    best, pairs = tmp_path / "best.jsonl", tmp_path / "pairs.jsonl"
    regression_dir, pairwise_dir = str(trained_regression[1].output_dir), str(trained_pairwise[1].output_dir)
    assert label_command(regression_dir, str(src), str(best), str(pairs), device="cpu") == 0
    assert "labelled 2 of 2 prompts" in capsys.readouterr().err
    scorer = load_scorer(regression_dir, device="cpu")
    ctx = [{"role": "user", "content": ROWS[0]["prompt"]}]
    expected = scorer.score([[*ctx, {"role": "assistant", "content": r}] for r in ROWS[0]["responses"]])
    assert read_jsonl(best)[0]["rewards"] == pytest.approx(expected, abs=1e-5)  # the weighted combination
    assert label_command(pairwise_dir, str(src), str(best), str(pairs), device="cpu") == 0
    assert [r["selection"] for r in read_jsonl(best)] == ["knockout", "knockout"]
    with pytest.raises(ValueError, match="loads in float32"):
        label_command(pairwise_dir, str(src), str(best), dtype="bfloat16")
