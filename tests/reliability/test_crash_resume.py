"""A training run killed with SIGKILL after a checkpoint resumes with --resume and ends with the weights of an
uninterrupted run: data order and learning-rate schedule continue where they stopped."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from rewardlab.data.readers import write_pairs_jsonl
from tests.helpers import synthetic_pairs


def cli(args, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", **(env_extra or {})}
    return [sys.executable, "-m", "rewardlab.cli", "train", *args], env


@pytest.mark.slow
def test_sigkill_after_checkpoint_then_resume_equals_uninterrupted(tiny_model_dir, tmp_path):
    data = tmp_path / "pairs.jsonl"
    write_pairs_jsonl(synthetic_pairs(40), data)
    common = ["--model", str(tiny_model_dir), "--data", str(data), "--max_length", "96", "--learning_rate", "3e-3",
              "--batch_size", "4", "--micro_batch_size", "2", "--max_steps", "8", "--precision", "fp32",
              "--gradient_checkpointing", "false", "--seed", "3", "--report_to", "none", "--eval_fraction", "0.1",
              "--save_steps", "2", "--save_total_limit", "10"]
    cmd, env = cli([*common, "--output_dir", str(tmp_path / "full")])
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)

    kill_after = random.Random(os.getpid()).choice([2, 4, 6])  # a random checkpointed step
    out = tmp_path / "killed"
    cmd, env = cli([*common, "--output_dir", str(out)], {"REWARDLAB_TEST_STEP_DELAY": "0.5"})
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = out / "checkpoints" / f"step-{kill_after:07d}" / "COMPLETE"
    deadline = time.time() + 240
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the run never reached its checkpoint"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "model.safetensors").exists()  # it really died before the end
    # a half-written checkpoint (temporary name, no COMPLETE marker) is never chosen
    (out / "checkpoints" / f".step-{kill_after + 1:07d}.tmp").mkdir()
    (out / "checkpoints" / f"step-{kill_after + 1:07d}").mkdir()

    cmd, env = cli([*common, "--output_dir", str(out), "--resume"])
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed from {out / 'checkpoints' / f'step-{kill_after:07d}'}" in resumed.stderr + resumed.stdout

    full_w = load_file(tmp_path / "full" / "model.safetensors")
    res_w = load_file(out / "model.safetensors")
    assert all(torch.allclose(full_w[k], res_w[k], atol=1e-6) for k in full_w)
    full_log = json.loads((tmp_path / "full" / "training_summary.json").read_text())["train_log"]
    res_log = json.loads((out / "training_summary.json").read_text())["train_log"]
    assert [r["learning_rate"] for r in full_log] == [r["learning_rate"] for r in res_log]
    assert [round(r["loss"], 5) for r in full_log] == [round(r["loss"], 5) for r in res_log]
