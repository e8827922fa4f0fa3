"""The multi-objective model fits ridge objectives + gate on a frozen tiny Llama, and round-trips its folder."""

import json

import pytest
import torch

from rewardlab.kinds import load_judge, saved_kind
from rewardlab.kinds.multi_objective import (
    HEAD_FILE,
    MultiObjectiveConfig,
    MultiObjectiveScorer,
)
from rewardlab.scoring import RewardJudge


@pytest.fixture(scope="module")
def trained(trained_multi_objective):
    return trained_multi_objective


def test_ridge_learns_and_gate_loss_falls(trained):
    _, result = trained
    s = result.summary
    # helpfulness is learnable from the frozen embeddings: validation MSE below predicting the mean
    ridge = s["ridge"]["helpfulness"]
    assert ridge["val_mse"] < 0.5 * ridge["val_mse_predict_mean"]
    assert s["gate_loss_last"] < s["gate_loss_first"]
    assert s["eval_after"]["gated"]["accuracy"] >= 0.8
    assert s["eval_after"]["gated"]["accuracy"] >= s["eval_before"]["gated"]["accuracy"]


def test_verbosity_correction_is_applied(trained):
    cfg, result = trained
    _, head = result.model
    v = cfg.objectives.index("verbosity")
    slopes = result.summary["decorrelation_slopes"]
    assert slopes["verbosity"] == 0.0 and any(abs(c) > 0 for c in slopes.values())
    emb = torch.randn(7, head.ridge_weight.shape[1])
    raw, corrected = head.objectives(emb)
    for i, name in enumerate(cfg.objectives):
        assert torch.allclose(corrected[:, i], raw[:, i] - slopes[name] * raw[:, v], atol=1e-5)


def test_folder_round_trip_gives_identical_scores(trained):
    cfg, result = trained
    out = result.output_dir
    assert saved_kind(out) == "multi_objective"
    assert (out / HEAD_FILE).exists() and (out / "config.json").exists() and not list(out.glob("*.bin"))
    assert json.loads((out / "rewardlab_kind.json").read_text())["objectives"] == list(cfg.objectives)
    loaded = load_judge(out, device="cpu")
    assert isinstance(loaded, MultiObjectiveScorer) and isinstance(loaded, RewardJudge)
    backbone, head = result.model
    in_memory = MultiObjectiveScorer(backbone, result.tokenizer, head, cfg.objectives, cfg.max_length)
    conv = [[{"role": "user", "content": "Tell me about tea."}, {"role": "assistant", "content": r}]
            for r in ("Happy to help! Tea is nice.", "NO!!")]
    assert loaded.score(conv) == in_memory.score(conv)
    details = loaded.score_details(conv)
    assert set(details[0]["scores"]) == set(cfg.objectives)
    assert sum(details[0]["gates"].values()) == pytest.approx(1.0)
    assert details[0]["score"] == pytest.approx(sum(details[0]["gates"][o] * details[0]["corrected"][o]
                                                    for o in cfg.objectives), abs=1e-5)


def test_config_rejects_unknown_objectives():
    with pytest.raises(ValueError, match="verbosity_objective"):
        MultiObjectiveConfig(data="x.jsonl", objectives=("helpfulness",))
    with pytest.raises(ValueError, match="pair_objective"):
        MultiObjectiveConfig(data="x.jsonl", pair_objective="harmlessness")
