"""DeepSpeed ZeRO-3 through accelerate, on the CPU (DeepSpeed's CPU accelerator, gloo): two processes train like
one, and the final save gathers the sharded weights into a full, loadable model folder (the recipe's own
ZeRO-3 final save is broken)."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from rewardlab.data.readers import write_pairs_jsonl
from tests.conftest import synthetic_pairs
from tests.test_distributed import free_port, run_train

pytest.importorskip("deepspeed")

ZERO3 = {"zero_optimization": {"stage": 3, "stage3_gather_16bit_weights_on_model_save": True},
         "gradient_clipping": 1.0, "train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",
         "train_batch_size": "auto", "steps_per_print": 1000000}


@pytest.mark.slow
def test_zero3_on_cpu_matches_one_process_and_saves_a_full_model(tiny_model_dir, tmp_path):
    from rewardlab.scoring import RewardScorer

    data = tmp_path / "pairs.jsonl"
    write_pairs_jsonl(synthetic_pairs(48), data)
    ds_config = tmp_path / "zero3.json"
    ds_config.write_text(json.dumps(ZERO3))
    common = ["--model", str(tiny_model_dir), "--data", str(data), "--max_length", "128", "--learning_rate", "3e-3",
              "--batch_size", "8", "--micro_batch_size", "2", "--max_steps", "4", "--precision", "fp32",
              "--gradient_checkpointing", "false", "--warmup_ratio", "0", "--seed", "7", "--eval_fraction", "0.25",
              "--report_to", "none"]
    one = run_train([*common, "--output_dir", str(tmp_path / "one")], 1, tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--use_deepspeed", "--deepspeed_config_file",
           str(ds_config), "--main_process_port", str(free_port()), "-m", "rewardlab.cli", "train", *common,
           "--output_dir", str(tmp_path / "z3")]
    z3 = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert z3.returncode == 0, z3.stderr[-3000:]
    log1 = json.loads((tmp_path / "one" / "training_summary.json").read_text())
    log3 = json.loads((tmp_path / "z3" / "training_summary.json").read_text())
    assert log3["summary"]["world_size"] == 2
    assert log3["summary"]["distributed_type"] == "DEEPSPEED" and log3["summary"]["zero_stage"] == 3
    assert log1["summary"]["distributed_type"] == "NO" and log1["summary"]["zero_stage"] is None
    assert [r["loss"] for r in log3["train_log"]] == pytest.approx([r["loss"] for r in log1["train_log"]], abs=1e-5)
    w1 = load_file(tmp_path / "one" / "model.safetensors")
    w3 = load_file(tmp_path / "z3" / "model.safetensors")
    assert w1.keys() == w3.keys()
    assert all(w3[k].shape == w1[k].shape for k in w1)  # gathered, not the empty ZeRO-3 shards
    assert max((w1[k] - w3[k]).abs().max().item() for k in w1) < 1e-5
    conv = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]]
    s1 = RewardScorer.from_pretrained(str(tmp_path / "one"), device="cpu", dtype="float32").score(conv)
    s3 = RewardScorer.from_pretrained(str(tmp_path / "z3"), device="cpu", dtype="float32").score(conv)
    assert s3 == pytest.approx(s1, abs=1e-4)
    assert torch.isfinite(torch.tensor(s3)).all()
