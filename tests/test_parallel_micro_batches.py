"""Micro-batches run side by side on CPU threads: the plan, thread safety of the rows, the trainer's result."""

import json
import threading

import pytest
import torch

from rewardlab.config import TrainConfig
from rewardlab.training.parallel import MicroBatchRunner, plan_workers, torch_threads
from rewardlab.training.pair_rows import pack_pair_rows, pair_rows_rewards

from .test_pair_rows import rows_model  # noqa: F401  (fixture)
from .test_forward import model_and_pairs  # noqa: F401  (fixture)


@pytest.mark.parametrize("requested, micro, threads, cpu, single, expected", [
    (0, 4, 2, True, True, (2, 1)),     # auto: one micro-batch per thread
    (0, 4, 16, True, True, (4, 4)),    # never more at once than the step has micro-batches; the cores shared out
    (0, 1, 2, True, True, (1, 2)),     # nothing to run side by side
    (1, 4, 2, True, True, (1, 2)),     # asked off
    (3, 8, 2, True, True, (3, 1)),     # asked for more than the threads: honoured, one thread each
    (0, 4, 2, False, True, (1, 2)),    # GPU: off
    (0, 4, 2, True, False, (1, 2)),    # several processes already share the cores: off
])
def test_plan_workers(requested, micro, threads, cpu, single, expected):
    assert plan_workers(requested, micro, threads, cpu, single) == expected


def test_negative_parallel_micro_batches_is_rejected():
    with pytest.raises(ValueError, match="parallel_micro_batches"):
        TrainConfig(parallel_micro_batches=-1)


def test_runner_keeps_order_restores_threads_and_runs_concurrently():
    before = torch.get_num_threads()
    seen, both_in = [], threading.Barrier(2, timeout=10)

    def work(x):
        seen.append(torch.get_num_threads())
        both_in.wait()  # deadlocks (BrokenBarrierError) unless two calls run at the same time
        return x * 10

    with MicroBatchRunner(2, 1) as runner:
        assert runner.map(work, [3, 1]) == [30, 10]
    assert seen == [1, 1] and torch.get_num_threads() == before
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_runner_propagates_a_worker_error():
    def work(x):
        if x == 2:
            raise ValueError("bad micro-batch 2")
        return x

    with MicroBatchRunner(2, 1) as runner, pytest.raises(ValueError, match="bad micro-batch 2"):
        runner.map(work, [1, 2, 3])


def test_rows_in_concurrent_threads_equal_rows_one_after_another(model_and_pairs, rows_model):  # noqa: F811
    """The last layer's reward-positions-only MLP keeps its pending state per thread: two rows of different
    lengths in flight at once get the rewards and gradients they get alone."""
    _, _, chosen, rejected = model_and_pairs
    model, _ = rows_model
    halves = [(chosen[:1], rejected[:1]), (chosen[1:], rejected[1:])]

    def run(half):
        ids, pos, seg, ci, ri, _ = pack_pair_rows(*half)
        r = pair_rows_rewards(model, ids, pos, seg, ci, ri)
        (r * torch.linspace(1, 2, r.numel())).sum().backward()
        return r.detach()

    model.zero_grad()
    alone = [run(h) for h in halves]
    g_alone = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    for _ in range(3):
        model.zero_grad()
        with MicroBatchRunner(2, 1) as runner:
            together = runner.map(run, halves)
        for a, b in zip(alone, together):
            assert torch.allclose(a, b, atol=1e-6)
        for n, p in model.named_parameters():
            if n in g_alone:
                assert torch.allclose(g_alone[n], p.grad, atol=1e-6, rtol=1e-5), n


def test_trainer_with_parallel_micro_batches_follows_the_sequential_trajectory(tmp_path, tiny_model_dir,
                                                                               synthetic_jsonl):
    from rewardlab.training.trainer import train

    runs = {}
    for name, parallel in (("sequential", 1), ("parallel", 2)):
        cfg = TrainConfig(model=str(tiny_model_dir), data=str(synthetic_jsonl), output_dir=str(tmp_path / name),
                          batch_size=4, micro_batch_size=1, max_steps=3, eval_fraction=0.0, report_to="none",
                          eval_before_training=False, precision="fp32", learning_rate=1e-3,
                          parallel_micro_batches=parallel)
        result = train(cfg, quiet=True)
        saved = json.loads((result.output_dir / "training_summary.json").read_text())
        assert saved["summary"]["parallel_micro_batches"] == parallel  # what ran is recorded
        log = saved["train_log"]
        runs[name] = ([r["loss"] for r in log], [r["accuracy"] for r in log],
                      torch.cat([p.detach().flatten() for p in result.model.parameters()]))
    assert runs["parallel"][0] != pytest.approx([runs["parallel"][0][0]] * 3)  # it did train
    assert runs["parallel"][0] == pytest.approx(runs["sequential"][0], abs=1e-5)
    assert runs["parallel"][1] == runs["sequential"][1]
    assert torch.allclose(runs["parallel"][2], runs["sequential"][2], atol=1e-5)
