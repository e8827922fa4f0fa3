import json

import pytest
import torch

from rewardlab.data.schema import DataError
from rewardlab.scoring import RewardJudge, RewardScorer, score_file


@pytest.fixture(scope="module")
def scorer(tiny_model_dir):
    return RewardScorer.from_pretrained(str(tiny_model_dir), device="cpu", dtype="float32")


def conversations(n):
    return [[{"role": "user", "content": "q" * (i % 7 + 1)},
             {"role": "assistant", "content": ("answer " * (i % 5 + 1)).strip()}] for i in range(n)]


def test_scores_do_not_depend_on_batch_size_or_padding(scorer):
    convs = conversations(13)
    scorer.batch_size = 1
    alone = scorer.score(convs)
    for bs, max_tokens in [(4, None), (13, None), (16, 200)]:
        scorer.batch_size, scorer.max_tokens_per_batch = bs, max_tokens
        assert max(abs(a - b) for a, b in zip(alone, scorer.score(convs))) < 1e-4
    scorer.batch_size, scorer.max_tokens_per_batch = 16, None
    # order of the input does not matter either
    rev = scorer.score(convs[::-1])[::-1]
    assert max(abs(a - b) for a, b in zip(alone, rev)) < 1e-4
    assert len(set(round(s, 6) for s in alone)) > 3  # not a constant


def test_scores_equal_the_hf_model_logit(scorer):
    # pooling at the last real token must equal AutoModelForSequenceClassification's own output
    convs = conversations(3)
    ids = [scorer.encoder.encode(c)[0] for c in convs]
    with torch.no_grad():
        ref = [scorer.model(torch.tensor([x])).logits[0, 0].item() for x in ids]
    assert max(abs(a - b) for a, b in zip(ref, scorer.score(convs))) < 1e-5


def test_plan_batches_respects_token_budget(scorer):
    scorer.batch_size, scorer.max_tokens_per_batch = 8, 100
    batches = scorer.plan_batches([50, 10, 40, 30, 20, 5])
    scorer.batch_size, scorer.max_tokens_per_batch = 16, None
    assert sorted(i for b in batches for i in b) == list(range(6))
    for b in batches:
        assert max(len(b), 1) * max([50, 10, 40, 30, 20, 5][i] for i in b) <= 100 or len(b) == 1


def test_rank_responses_implements_the_judge_interface(scorer):
    assert isinstance(scorer, RewardJudge)
    ctx = [{"role": "user", "content": "hi"}]
    ranked = scorer.rank_responses([(ctx, ["a", "bb", "ccc"]), (ctx, ["a"])])
    flat = scorer.score([[*ctx, {"role": "assistant", "content": r}] for r in ["a", "bb", "ccc"]])
    assert [len(g) for g in ranked] == [3, 1]
    assert ranked[0] == pytest.approx(flat, abs=1e-5) and ranked[1][0] == pytest.approx(flat[0], abs=1e-5)


def test_score_file_writes_rewards_and_names_bad_rows(scorer, tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [{"messages": conversations(1)[0], "id": 7}, {"prompt": "hi", "response": "hello"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    assert score_file(scorer, str(src), str(out)) == 2
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert got[0]["id"] == 7 and isinstance(got[1]["reward"], float)
    assert got[1]["reward"] == pytest.approx(scorer.score([[{"role": "user", "content": "hi"},
                                                            {"role": "assistant", "content": "hello"}]])[0])
    src.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"messages": [{"role": "bot", "content": "x"}]}) + "\n")
    with pytest.raises(DataError, match=r"in.jsonl:2: bad roles in field 'messages\[0\].role'"):
        score_file(scorer, str(src), str(out))


def write_rows(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


KIND_ROWS = [{"prompt": "Tell me about tea.", "response": "Happy to help! Tea is nice.", "id": 1},
             {"messages": [{"role": "user", "content": "Tell me about rain."}, {"role": "assistant", "content": "NO!!"}]}]
KIND_CONVS = [[{"role": "user", "content": "Tell me about tea."},
               {"role": "assistant", "content": "Happy to help! Tea is nice."}], KIND_ROWS[1]["messages"]]


def test_score_file_on_a_regression_folder_adds_the_attribute_scores(trained_regression, tmp_path):
    from rewardlab.kinds import load_judge, load_scorer

    cfg, result = trained_regression
    scorer = load_scorer(str(result.output_dir), device="cpu")
    out = tmp_path / "out.jsonl"
    assert score_file(scorer, str(write_rows(tmp_path / "in.jsonl", KIND_ROWS)), str(out)) == 2
    got = [json.loads(line) for line in out.read_text().splitlines()]
    judge = load_judge(result.output_dir, device="cpu")  # the kind's own API, loaded independently
    assert got[0]["id"] == 1 and [list(g["scores"]) for g in got] == [list(cfg.attributes)] * 2
    for row, attrs, reward in zip(got, judge.score_attributes(KIND_CONVS), judge.score(KIND_CONVS)):
        assert row["scores"] == pytest.approx(attrs, abs=1e-6) and row["reward"] == pytest.approx(reward, abs=1e-6)
        # reward = 1 * helpfulness + 0.5 * correctness - 0.25 * verbosity (the folder's weights)
        s = row["scores"]
        assert row["reward"] == pytest.approx(s["helpfulness"] + 0.5 * s["correctness"] - 0.25 * s["verbosity"])
    assert got[0]["scores"] != got[1]["scores"]


def test_score_file_on_a_multi_objective_folder_adds_objectives_and_gates(trained_multi_objective, tmp_path):
    from rewardlab.kinds import load_judge, load_scorer

    cfg, result = trained_multi_objective
    out = tmp_path / "out.jsonl"
    score_file(load_scorer(str(result.output_dir), device="cpu"), str(write_rows(tmp_path / "in.jsonl", KIND_ROWS)),
               str(out))
    got = [json.loads(line) for line in out.read_text().splitlines()]
    details = load_judge(result.output_dir, device="cpu").score_details(KIND_CONVS)
    for row, d in zip(got, details):
        assert row["reward"] == pytest.approx(d["score"], abs=1e-6)
        for key in ("scores", "corrected", "gates"):
            assert list(row[key]) == list(cfg.objectives) and row[key] == pytest.approx(d[key], abs=1e-6)
        assert row["reward"] == pytest.approx(sum(row["gates"][o] * row["corrected"][o] for o in cfg.objectives),
                                              abs=1e-5)


def test_scoring_with_a_pairwise_model_is_a_clear_error(trained_pairwise, tmp_path, capsys):
    from rewardlab.cli import main
    from rewardlab.kinds import load_scorer

    folder = str(trained_pairwise[1].output_dir)
    src = write_rows(tmp_path / "in.jsonl", KIND_ROWS)
    with pytest.raises(ValueError, match="pairwise preference model.*rewardlab label"):
        score_file(load_scorer(folder, device="cpu"), str(src), str(tmp_path / "out.jsonl"))
    assert main(["score", folder, str(src), "-o", str(tmp_path / "out.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "gives no reward to a single response" in err and "/compare" in err
    assert not (tmp_path / "out.jsonl").exists()


def test_score_command_on_a_kind_folder(trained_regression, tmp_path, capsys):
    from rewardlab.cli import main

    out = tmp_path / "out.jsonl"
    assert main(["score", str(trained_regression[1].output_dir), str(write_rows(tmp_path / "in.jsonl", KIND_ROWS)),
                 "-o", str(out), "--device", "cpu"]) == 0
    assert "scored 2 conversations" in capsys.readouterr().err
    assert all(set(json.loads(line)) >= {"reward", "scores"} for line in out.read_text().splitlines())


@pytest.fixture(scope="module")
def padded_scorer(tiny_model_dir, scorer):
    from rewardlab.modeling.loading import load_reward_model

    model, tok = load_reward_model(str(tiny_model_dir), attn_implementation="sdpa")
    model.load_state_dict(scorer.model.state_dict())  # the same weights (a causal LM gets a fresh score head)
    return RewardScorer(model, tok)


def test_shared_context_rows_score_like_padded_batches(scorer, padded_scorer):
    from rewardlab.modeling.pair_rows import uses_pair_rows

    assert uses_pair_rows(scorer.model) and not uses_pair_rows(padded_scorer.model)
    scorer.batch_size, scorer.max_tokens_per_batch = 16, None  # the fixture is shared: one row for all 15
    convs = conversations(13) + conversations(2)  # two conversations twice: identical sequences share a row end
    scores = scorer.score(convs)
    assert scores == pytest.approx(padded_scorer.score(convs), abs=1e-5)
    assert scores[13:] == pytest.approx(scores[:2], abs=1e-6)
    ctx = [{"role": "user", "content": "which is best?"}, {"role": "assistant", "content": "ask me"},
           {"role": "user", "content": "now"}]
    groups = [(ctx, [f"reply {'x' * i}" for i in range(7)]), (ctx[:1], ["a", "b", "a"]), (ctx, []), (ctx[:1], ["z"])]
    for batch_size, max_tokens in [(16, None), (3, None), (2, 60)]:  # 3 and 2 split the group of 7
        scorer.batch_size, scorer.max_tokens_per_batch = batch_size, max_tokens
        ranked = scorer.rank_responses(groups)
        assert [len(g) for g in ranked] == [7, 3, 0, 1]
        for got, want in zip(ranked, padded_scorer.rank_responses(groups)):
            assert got == pytest.approx(want, abs=1e-5)
    scorer.batch_size, scorer.max_tokens_per_batch = 16, None


def test_plan_rows_covers_every_sequence_once_within_budgets(scorer):
    from rewardlab.modeling.prefix_tree import tree_tokens

    seqs = [[1, 2, 3, i] for i in range(5)] + [[9] * 40, [9] * 39 + [8], [4, 5]]
    scorer.batch_size, scorer.max_tokens_per_batch = 3, 45
    rows = scorer.plan_rows(seqs)
    scorer.batch_size, scorer.max_tokens_per_batch = 16, None
    assert sorted(i for row in rows for i in row) == list(range(len(seqs)))
    for row in rows:
        assert len(row) <= 3
        assert tree_tokens([seqs[i] for i in row]) <= 45 or len(row) == 1
    assert [6, 5] in rows  # (tree order) the 2 x 40-token pair shares its 39-token prefix: 41 tokens, one row


def alone_rewards(scorer, encoded):
    """The reference: the Hugging Face model's own logit on each sequence by itself (no rows, no padding)."""
    with torch.inference_mode():
        return [scorer.model(torch.tensor([x])).logits[0, 0].item() for x in encoded]


ROLLOUT_SYSTEM = {"role": "system", "content": "You are a careful assistant. Answer briefly and kindly."}


def rollout_conversations():
    """3 prompts x 4 responses sharing one system prompt (two levels of sharing), as separate full conversations
    in shuffled order, plus a repeated one and one with another system prompt."""
    import random

    convs = [[ROLLOUT_SYSTEM, {"role": "user", "content": f"Question {p}: " + "why " * (3 + p)},
              {"role": "assistant", "content": f"Answer {r} " + "so " * r}] for p in range(3) for r in range(4)]
    convs += [convs[5], [{"role": "system", "content": "Be terse."}, *convs[0][1:]]]
    random.Random(0).shuffle(convs)
    return convs


def test_score_shares_every_prefix_and_equals_one_at_a_time(scorer):
    from rewardlab.modeling.prefix_tree import tree_tokens

    convs = rollout_conversations()
    encoded = scorer.encode(convs)
    want = alone_rewards(scorer, encoded)
    # block_tokens 8: many attention blocks per row, each with ancestors outside it (the default: one or two)
    for batch_size, max_tokens, block in [(16, None, None), (5, None, 8), (64, 150, None), (1, None, None),
                                          (16, None, 8)]:
        scorer.batch_size, scorer.max_tokens_per_batch, scorer.block_tokens = batch_size, max_tokens, block
        before = scorer.tokens_computed, scorer.tokens_submitted
        got = scorer.score(convs)
        computed, submitted = scorer.tokens_computed - before[0], scorer.tokens_submitted - before[1]
        # float32 tiny model (rewards ~1): SDPA over the tree's calls vs one causal call sums the same terms in
        # another order, ~1e-7 relative; 1e-5 leaves room without hiding a wrong mask (which moves rewards ~1e-1)
        assert got == pytest.approx(want, abs=1e-5)
        assert submitted == sum(map(len, encoded))
        if batch_size == 16:  # one row: the tree's tokens exactly (system prompt once, each question once)
            assert computed == tree_tokens(encoded) < submitted / 2
        elif batch_size == 1:
            assert computed == submitted
        else:
            assert tree_tokens(encoded) <= computed < submitted
    scorer.batch_size, scorer.max_tokens_per_batch, scorer.block_tokens = 16, None, None
    assert len({round(r, 5) for r in want}) >= 12  # the responses do score differently


def test_prefixes_identical_and_unrelated_sequences_each_get_their_own_reward(scorer):
    base = scorer.encode(rollout_conversations()[:1])[0]
    cases = {
        "exact prefixes": [base, base[:-3], base[:5], base[:1], base + [5, 6]],
        "identical": [base, list(base), base[:-3], base[:-3]],
        "nothing shared": [[5, 6, 7, 8], [9, 10], [11], [12, 13, 14]],
    }
    scorer.block_tokens = 4  # blocks that start inside shared prefixes too
    for name, seqs in cases.items():
        before = scorer.tokens_computed
        got = scorer.score_ids(seqs)
        assert got == pytest.approx(alone_rewards(scorer, seqs), abs=1e-5), name
        computed = scorer.tokens_computed - before
        assert computed == {"exact prefixes": len(base) + 2, "identical": len(base), "nothing shared": 10}[name]
    scorer.block_tokens = None
    prefixes = scorer.score_ids(cases["exact prefixes"])
    assert len({round(r, 5) for r in prefixes}) == 5  # read at each one's own last token


def test_score_groups_of_separate_requests_share_their_prompt(scorer):
    convs = rollout_conversations()
    encoded = scorer.encode(convs)
    grouped = scorer.score_groups([encoded[:5], encoded[5:9], encoded[9:]])  # groups that cut across prompts
    assert [r for g in grouped for r in g] == pytest.approx(alone_rewards(scorer, encoded), abs=1e-5)
