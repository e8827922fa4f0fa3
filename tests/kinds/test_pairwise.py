"""The pairwise preference model trains on the tiny random Llama, beats its untrained self, and reloads exactly."""

import pytest

from rewardlab.kinds import load_judge, read_kind_file, saved_kind
from rewardlab.kinds.pairwise import PairwiseConfig, PairwiseJudge
from rewardlab.scoring import RewardJudge


@pytest.fixture(scope="module")
def trained(trained_pairwise):
    from tests.helpers import synthetic_pairs

    return (*trained_pairwise, synthetic_pairs(16, seed=1))


def test_loss_falls_and_held_out_accuracy_beats_untrained(trained):
    _, result, _ = trained
    losses = [r["loss"] for r in result.summary["train_log"]]
    assert sum(losses[-3:]) / 3 < 0.85 * losses[0]  # cross-entropy over the whole vocabulary
    before, after = result.summary["eval_before"], result.summary["eval_after"]
    assert after["accuracy"] > before["accuracy"] and after["accuracy"] >= 0.75
    assert after["accuracy_ci_low"] <= after["accuracy"] <= after["accuracy_ci_high"]


def test_save_load_gives_identical_scores_and_a_reward_judge(trained):
    _, result, pairs = trained
    assert saved_kind(result.output_dir) == "pairwise" and read_kind_file(result.output_dir)["answer_tokens"] == ["A", "B"]
    loaded = load_judge(result.output_dir, device="cpu")
    assert isinstance(loaded, PairwiseJudge) and isinstance(loaded, RewardJudge)
    in_memory = PairwiseJudge(result.model, result.tokenizer, max_length=256)
    triples = [(p.context, p.chosen, p.rejected) for p in pairs[:6]]
    assert loaded.compare(triples) == in_memory.compare(triples)


def test_rank_responses_groups_of_two_and_more_and_best_of_n(trained):
    _, result, pairs = trained
    judge = PairwiseJudge(result.model, result.tokenizer, max_length=256)
    p = pairs[0]
    (two,) = judge.rank_responses([(list(p.context), [p.chosen, p.rejected])])
    prob = judge.compare([(p.context, p.chosen, p.rejected)])[0]
    assert two == pytest.approx([prob, 1 - prob])
    responses = [p.rejected, p.chosen, pairs[1].rejected, "ok"]
    (four,) = judge.rank_responses([(list(p.context), responses)])
    assert len(four) == 4 and sum(four) == pytest.approx(6.0)  # 6 matches, each hands out 1 point in total
    best = judge.best_of_n(list(p.context), responses)
    assert 0 <= best < 4 and judge.best_of_n(list(p.context), [p.chosen]) == 0


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="orderings"):
        PairwiseConfig(orderings="sometimes")
    with pytest.raises(ValueError, match="micro_batch_size"):
        PairwiseConfig(batch_size=10, micro_batch_size=4)
