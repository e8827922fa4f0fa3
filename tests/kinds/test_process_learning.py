"""The process kind learns to find the wrong step: a tiny random model trained on the demo set's operation errors
(a step whose words say "getting 3 more" while its arithmetic subtracts) localises the first wrong step of held-out
solutions better than chance. About 3-4 minutes on a loaded 2-core CPU, so marked slow."""

import json

import pytest

from rewardlab.data.steps import process_demo_path
from rewardlab.kinds.process import ProcessConfig, train_process
from rewardlab.modeling.tiny import build_tiny_model_dir


def operation_subset(split, path):
    rows = [json.loads(line) for line in process_demo_path(split).read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows if r["error"] in (None, "operation")))
    return str(path)


@pytest.mark.slow
def test_learns_to_find_the_wrong_step(tmp_path):
    model = build_tiny_model_dir(tmp_path / "tiny", hidden_size=64)
    cfg = ProcessConfig(model=str(model), data=operation_subset("train", tmp_path / "train.jsonl"),
                        eval_data=operation_subset("test", tmp_path / "test.jsonl"), output_dir=str(tmp_path / "out"),
                        learning_rate=3e-3, batch_size=16, micro_batch_size=16, max_steps=80, warmup_ratio=0.0,
                        lr_scheduler="constant", max_length=512)
    summary = train_process(cfg, quiet=True, device="cpu").summary
    before, after = summary["eval_before"], summary["eval_after"]
    assert after["num_solutions"] == 93 and after["first_error"]["num_error"] == 33
    losses = [r["loss"] for r in summary["train_log"]]
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10
    # first-error F1: 0 before (every step judged correct); a uniform guess among "no error" and the 3-4 steps
    # scores about 1 / (steps + 1) ~ 0.22 on both sides, so its F1 is ~0.22
    assert before["first_error"]["f1"] < 0.1 and after["first_error"]["f1"] > 0.25
    assert after["first_error"]["correct_accuracy"] > 0.9  # it does not flag correct solutions to get there
