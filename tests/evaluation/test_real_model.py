"""`rewardlab eval` end to end with a real (tiny) reward model on a local file in RewardBench's schema."""

import json

from rewardlab.cli import main
from rewardlab.scoring import RewardScorer
from tests.helpers import rb1_file


def test_eval_cli_with_a_real_model_matches_the_scorer(tmp_path, tiny_model_dir):
    from rewardlab.modeling.loading import load_reward_model

    model, tok = load_reward_model(str(tiny_model_dir))  # a reward-model folder with a fixed score head
    rm_dir = tmp_path / "rm"
    model.save_pretrained(rm_dir)
    tok.save_pretrained(rm_dir)
    path, _ = rb1_file(tmp_path)
    out = tmp_path / "eval"
    rc = main(["eval", str(rm_dir), "--benchmark", "rewardbench", "--data", str(path), "--out", str(out),
               "--batch-size", "3", "--bootstrap", "100", "--device", "cpu"])
    assert rc == 0
    results = json.loads((out / "results.json").read_text())
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    scorer = RewardScorer.from_pretrained(str(rm_dir), device="cpu", dtype="float32")
    ranked = scorer.rank_responses([([{"role": "user", "content": r["prompt"]}], [r["chosen"], r["rejected"]])
                                    for r in rows])
    by_subset: dict[str, list[float]] = {}
    for r, (c, j) in zip(rows, ranked):
        by_subset.setdefault(r["subset"], []).append(1.0 if c > j else 0.0)
    for subset, outcomes in by_subset.items():
        assert abs(results[subset] - sum(outcomes) / len(outcomes)) < 1e-9, subset
    assert (out / "report.png").exists() and (out / "results.md").exists()
