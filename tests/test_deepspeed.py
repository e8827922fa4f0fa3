"""DeepSpeed ZeRO-2 and ZeRO-3 through ``accelerate launch --use_deepspeed`` on the CPU (DeepSpeed's CPU accelerator,
gloo): the run really is DeepSpeed (training_summary says DEEPSPEED and the stage; with accelerate's cpu=True it
silently was gloo DDP), two processes train like one, and the final save gathers the sharded weights into a full,
loadable model folder (the recipe's own ZeRO-3 final save is broken). DeepSpeed wraps the trainer's own torch
AdamW (no "optimizer" block in the config), stepping ZeRO's flat fp32 partitions, so the weights are compared as
two Adam trajectories (tests/trajectory.py)."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from rewardlab.data.readers import write_pairs_jsonl
from tests.helpers import free_port, run_train, synthetic_pairs
from tests.trajectory import assert_same_adam_trajectory

pytest.importorskip("deepspeed")

LR, STEPS = 3e-3, 4


def ds_config(stage: int) -> dict:
    zero = {"stage": stage}
    if stage == 3:
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return {"zero_optimization": zero, "gradient_clipping": 1.0, "train_micro_batch_size_per_gpu": "auto",
            "gradient_accumulation_steps": "auto", "train_batch_size": "auto", "steps_per_print": 1000000}


def launch_deepspeed(stage: int, args: list[str], cwd) -> subprocess.CompletedProcess:
    """Two processes under ``accelerate launch --use_deepspeed`` with a ZeRO-`stage` config file."""
    config = cwd / f"zero{stage}.json"
    config.write_text(json.dumps(ds_config(stage)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--use_deepspeed", "--deepspeed_config_file",
           str(config), "--main_process_port", str(free_port()), "-m", "rewardlab.cli", "train", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=400)


def flat_weights(folder) -> dict:
    return load_file(folder / "model.safetensors")


def assert_same_run(one, two, lr: float, steps: int) -> tuple[dict, dict]:
    """`two` (two processes) trained like `one` (one process): logged losses to 1e-5 (fp32 sums of the same
    per-pair terms in another order: ~1e-7), the same Adam trajectory, full-shape weights in the saved folder."""
    log1 = json.loads((one / "training_summary.json").read_text())
    log2 = json.loads((two / "training_summary.json").read_text())
    assert [r["loss"] for r in log2["train_log"]] == pytest.approx([r["loss"] for r in log1["train_log"]], abs=1e-5)
    w1, w2 = flat_weights(one), flat_weights(two)
    assert w1.keys() == w2.keys()
    assert all(w2[k].shape == w1[k].shape for k in w1)  # gathered, not ZeRO-3's empty local shards
    assert_same_adam_trajectory(torch.cat([w2[k].flatten() for k in sorted(w2)]),
                                torch.cat([w1[k].flatten() for k in sorted(w1)]), lr=lr, steps=steps)
    return log1, log2


def assert_scores_alike(one, two) -> None:
    from rewardlab.scoring import RewardScorer

    conv = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]]
    s1 = RewardScorer.from_pretrained(str(one), device="cpu", dtype="float32").score(conv)
    s2 = RewardScorer.from_pretrained(str(two), device="cpu", dtype="float32").score(conv)
    assert torch.isfinite(torch.tensor(s2)).all()
    assert s2 == pytest.approx(s1, abs=1e-4)


@pytest.fixture(scope="module")
def dense_reference(tiny_model_dir, tmp_path_factory):
    """The common arguments and the one-process run the ZeRO runs are compared with."""
    root = tmp_path_factory.mktemp("deepspeed")
    data = root / "pairs.jsonl"
    write_pairs_jsonl(synthetic_pairs(48), data)
    common = ["--model", str(tiny_model_dir), "--data", str(data), "--max_length", "128", "--learning_rate", str(LR),
              "--batch_size", "8", "--micro_batch_size", "2", "--max_steps", str(STEPS), "--precision", "fp32",
              "--gradient_checkpointing", "false", "--warmup_ratio", "0", "--seed", "7", "--eval_fraction", "0.25",
              "--report_to", "none"]
    one = run_train([*common, "--output_dir", str(root / "one")], 1, root)
    assert one.returncode == 0, one.stderr[-3000:]
    return common, root / "one"


@pytest.mark.slow
@pytest.mark.parametrize("stage", [3, 2])
def test_zero_on_cpu_matches_one_process_and_saves_a_full_model(dense_reference, stage, tmp_path):
    common, one = dense_reference
    run = launch_deepspeed(stage, [*common, "--output_dir", str(tmp_path / "zero")], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    log1, log2 = assert_same_run(one, tmp_path / "zero", LR, STEPS)
    assert log2["summary"]["world_size"] == 2
    assert log2["summary"]["distributed_type"] == "DEEPSPEED" and log2["summary"]["zero_stage"] == stage
    assert log1["summary"]["distributed_type"] == "NO" and log1["summary"]["zero_stage"] is None
    assert_scores_alike(one, tmp_path / "zero")


@pytest.mark.slow
def test_zero3_trains_a_mixture_of_experts_like_one_process(tmp_path):
    """Tiny Mixtral with the router loss under ZeRO-3: the sparse MoE blocks are registered as leaf modules before
    prepare (each rank routes its tokens to other experts, so per-expert gathers would not line up), and two
    processes give one process's losses, router losses and Adam trajectory."""
    from rewardlab.modeling.tiny import build_tiny_model_dir

    model = build_tiny_model_dir(tmp_path / "mixtral", architecture="mixtral")
    write_pairs_jsonl(synthetic_pairs(16), tmp_path / "train.jsonl")
    write_pairs_jsonl(synthetic_pairs(6, seed=1), tmp_path / "eval.jsonl")
    steps = 2
    common = ["--model", str(model), "--data", str(tmp_path / "train.jsonl"), "--eval_data",
              str(tmp_path / "eval.jsonl"), "--max_length", "128", "--learning_rate", str(LR), "--batch_size", "8",
              "--micro_batch_size", "2", "--max_steps", str(steps), "--precision", "fp32", "--gradient_checkpointing",
              "false", "--warmup_ratio", "0", "--seed", "7", "--report_to", "none", "--router_aux_loss_coef", "0.1",
              "--parallel_micro_batches", "1", "--eval_before_training", "false"]
    one = run_train([*common, "--output_dir", str(tmp_path / "one")], 1, tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]
    run = launch_deepspeed(3, [*common, "--output_dir", str(tmp_path / "zero3")], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    log1, log3 = assert_same_run(tmp_path / "one", tmp_path / "zero3", LR, steps)
    assert log3["summary"]["distributed_type"] == "DEEPSPEED" and log3["summary"]["zero_stage"] == 3
    assert log3["summary"]["moe"]["zero3_leaf_modules"] == ["MixtralSparseMoeBlock"]
    assert "zero3_leaf_modules" not in log1["summary"]["moe"]
    assert [r["router_aux_loss"] for r in log3["train_log"]] == pytest.approx(
        [r["router_aux_loss"] for r in log1["train_log"]], abs=1e-5)
    assert_scores_alike(tmp_path / "one", tmp_path / "zero3")


def test_accelerator_gets_cpu_true_except_under_a_deepspeed_launch(monkeypatch):
    """Without CUDA: a plain launch asks accelerate for cpu=True (gloo DDP); a DeepSpeed launch for cpu=False, the
    DeepSpeed CPU accelerator's backend (without which accelerate counts one process per rank) and no shm op build."""
    import deepspeed.ops
    from accelerate.utils import InitProcessGroupKwargs

    from rewardlab.training.accelerator import accelerator_device_kwargs

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED", raising=False)
    assert accelerator_device_kwargs() == {"cpu": True}
    monkeypatch.setitem(deepspeed.ops.__compatible_ops__, "deepspeed_shm_comm", True)  # restored afterwards
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    kwargs = accelerator_device_kwargs()
    assert kwargs["cpu"] is False
    [handler] = kwargs["kwargs_handlers"]
    assert isinstance(handler, InitProcessGroupKwargs) and handler.backend in ("gloo", "ccl")
    assert deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] is False
