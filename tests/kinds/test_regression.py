"""The regression reward model trains on HelpSteer-schema rows (tiny random Llama) and reloads exactly."""

import math

import pytest

from rewardlab.kinds import load_judge, saved_kind
from rewardlab.kinds.regression import (
    HELPSTEER_ATTRIBUTES,
    RegressionConfig,
    RegressionScorer,
    read_attribute_rows,
)
from rewardlab.scoring import RewardJudge
from tests.helpers import REGRESSION_WEIGHTS as WEIGHTS
from tests.helpers import write_helpsteer_jsonl


@pytest.fixture(scope="module")
def trained(trained_regression):
    return trained_regression


def test_helpsteer_rows_read_with_missing_labels(tmp_path):
    rows = read_attribute_rows(str(write_helpsteer_jsonl(tmp_path / "h.jsonl", 10)), HELPSTEER_ATTRIBUTES)
    assert len(rows) == 20 and all(len(r.labels) == 5 for r in rows)
    assert any(math.isnan(x) for r in rows for x in r.labels)  # None -> NaN, masked in the loss


def test_loss_falls_and_held_out_improves(trained):
    _, result = trained
    losses = [r["loss"] for r in result.summary["train_log"]]
    assert sum(losses[-2:]) / 2 < 0.5 * losses[0]
    before, after = result.summary["eval_before"], result.summary["eval_after"]
    assert after["masked_mse"] < 0.5 * before["masked_mse"]
    assert after["pairs"]["accuracy"] > before["pairs"]["accuracy"]
    assert after["pairs"]["accuracy"] >= 0.8


def test_save_load_identical_scores_and_weights(trained):
    cfg, result = trained
    assert saved_kind(result.output_dir) == "regression"
    loaded = load_judge(result.output_dir, device="cpu")
    assert isinstance(loaded, RegressionScorer) and isinstance(loaded, RewardJudge)
    conv = [[{"role": "user", "content": "Tell me about tea."}, {"role": "assistant", "content": r}]
            for r in ("Happy to help! Tea is nice.", "NO!!")]
    in_memory = RegressionScorer(result.model, result.tokenizer, cfg.attributes, cfg.weights, cfg.max_length)
    assert loaded.score(conv) == in_memory.score(conv)
    attrs = loaded.score_attributes(conv)
    assert list(attrs[0]) == list(HELPSTEER_ATTRIBUTES)
    assert loaded.score(conv)[0] == pytest.approx(sum(w * attrs[0][a] for w, a in zip(WEIGHTS, HELPSTEER_ATTRIBUTES)))
    helpful_only = load_judge(result.output_dir, device="cpu", weights=[1, 0, 0, 0, 0])
    assert helpful_only.score(conv) == pytest.approx([a["helpfulness"] for a in attrs])
    (ranked,) = loaded.rank_responses([(conv[0][:1], [conv[0][1]["content"], conv[1][1]["content"]])])
    assert ranked == pytest.approx(loaded.score(conv))


def test_config_rejects_bad_weights():
    with pytest.raises(ValueError, match="weights"):
        RegressionConfig(data="x.jsonl", weights=(1.0, 2.0))
    assert RegressionConfig(data="x.jsonl").weights == (1.0, 0.0, 0.0, 0.0, 0.0)
