"""Two processes (gloo on CPU, launched by torchrun as accelerate/deepspeed launchers do) train exactly like one
process with the same global batch and seed; only rank 0 writes outputs."""

import json

import pytest
import torch
from safetensors.torch import load_file

from rewardlab.data.readers import write_pairs_jsonl
from tests.helpers import run_train, synthetic_pairs


@pytest.mark.slow
def test_two_processes_match_one_process(tiny_model_dir, tmp_path):
    data = tmp_path / "pairs.jsonl"
    write_pairs_jsonl(synthetic_pairs(48), data)
    common = ["--model", str(tiny_model_dir), "--data", str(data), "--max_length", "128", "--learning_rate", "3e-3",
              "--batch_size", "8", "--micro_batch_size", "2", "--max_steps", "4", "--precision", "fp32",
              "--gradient_checkpointing", "false", "--warmup_ratio", "0", "--seed", "7", "--eval_fraction", "0.25"]
    one = run_train([*common, "--output_dir", str(tmp_path / "one")], 1, tmp_path)
    two = run_train([*common, "--output_dir", str(tmp_path / "two")], 2, tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    log1 = json.loads((tmp_path / "one" / "training_summary.json").read_text())
    log2 = json.loads((tmp_path / "two" / "training_summary.json").read_text())
    assert log2["summary"]["world_size"] == 2
    losses1 = [r["loss"] for r in log1["train_log"]]
    losses2 = [r["loss"] for r in log2["train_log"]]
    assert losses1 == pytest.approx(losses2, abs=1e-5)  # same global batches, same maths
    assert losses1[-1] < losses1[0]
    w1 = load_file(tmp_path / "one" / "model.safetensors")
    w2 = load_file(tmp_path / "two" / "model.safetensors")
    assert max((w1[k] - w2[k]).abs().max().item() for k in w1) < 1e-5
    # held-out pairs are sharded for evaluation and gathered: same count and accuracy as one process
    assert log2["summary"]["eval_after"]["num_pairs"] == log1["summary"]["eval_after"]["num_pairs"] == 12
    assert log2["summary"]["eval_after"]["accuracy"] == log1["summary"]["eval_after"]["accuracy"]
    # rank 0 alone reports and writes: one result block, one events file
    assert two.stdout.count("held-out accuracy after training") == 1
    assert len(list((tmp_path / "two" / "logs").glob("events.out.tfevents*"))) == 1
    assert torch.get_num_threads() >= 1
