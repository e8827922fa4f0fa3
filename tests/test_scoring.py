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
