"""Micro-batches run side by side on CPU threads: the plan, thread safety of the rows, the trainer's result."""

import json
import threading

import pytest
import torch

from rewardlab.config import TrainConfig
from rewardlab.fitting.batching import plan_lanes
from rewardlab.modeling.pair_rows import pack_pair_rows, pair_rows_rewards
from rewardlab.training.parallel import MicroBatchRunner, plan_workers, torch_threads

from .trajectory import assert_same_adam_trajectory


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
        assert runner.map_lanes(work, [[3], [1]]) == [[30], [10]]
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
        runner.map_lanes(work, [[1, 2], [3]])


def test_a_finished_lane_takes_over_the_rest_of_a_slow_one():
    """Lane 0's first item blocks until its own second item has run: only a worker that takes over that
    item (the one whose lane is done) lets it finish. Results stay in lane order."""
    released = threading.Event()
    ran_by = {}

    def work(x):
        ran_by[x] = threading.get_ident()
        if x == "slow":
            assert released.wait(timeout=10), "the other worker never took over the waiting item"
        if x == "waiting":
            released.set()
        return x.upper()

    with MicroBatchRunner(2, 1) as runner:
        assert runner.map_lanes(work, [["slow", "waiting"], ["quick"]]) == [["SLOW", "WAITING"], ["QUICK"]]
    assert ran_by["waiting"] == ran_by["quick"] != ran_by["slow"]


def test_plan_lanes_shares_whole_micro_batches_and_evens_out_the_cost():
    import itertools
    import random

    rng = random.Random(0)
    for case in range(30):
        n, micro = rng.choice([(8, 2), (8, 1), (12, 2), (6, 3)])
        costs = [rng.randint(50, 900) for _ in range(n)]
        indices = rng.sample(range(n), n)
        lanes = plan_lanes(indices, costs, micro, 2)
        flat = [i for lane in lanes for mb in lane for i in mb]
        assert sorted(flat) == sorted(indices)  # every pair exactly once
        assert all(len(mb) == micro for lane in lanes for mb in lane)
        assert abs(len(lanes[0]) - len(lanes[1])) <= 1
        loads = [sum(costs[i] for mb in lane for i in mb) for lane in lanes]
        share = len(lanes[0]) * micro
        best = min(max(sum(costs[i] for i in a), sum(costs) - sum(costs[i] for i in a))
                   for a in itertools.combinations(range(n), share))
        assert max(loads) <= best * 1.05, (case, loads, best)
    # length grouping: a lane's micro-batches go longest first
    lanes = plan_lanes(list(range(8)), [5, 1, 7, 3, 8, 2, 6, 4], 2, 2)
    for lane in lanes:
        lane_costs = [[5, 1, 7, 3, 8, 2, 6, 4][i] for mb in lane for i in mb]
        assert lane_costs == sorted(lane_costs, reverse=True)
    with pytest.raises(ValueError, match="whole number of micro-batches"):
        plan_lanes(list(range(5)), [1] * 5, 2, 2)


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
            together = [r for lane in runner.map_lanes(run, [[h] for h in halves]) for r in lane]
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
    assert_same_adam_trajectory(runs["parallel"][2], runs["sequential"][2], lr=1e-3, steps=3)


def test_a_failing_step_ends_the_worker_threads(tmp_path, tiny_model_dir, synthetic_jsonl, monkeypatch):
    import rewardlab.training.trainer as T

    real = T.pair_forward
    calls = []

    def failing(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("micro-batch 3 failed")
        return real(*a, **k)

    monkeypatch.setattr(T, "pair_forward", failing)
    cfg = TrainConfig(model=str(tiny_model_dir), data=str(synthetic_jsonl), output_dir=str(tmp_path / "out"),
                      batch_size=4, micro_batch_size=1, max_steps=3, eval_fraction=0.0, report_to="none",
                      eval_before_training=False, precision="fp32", parallel_micro_batches=2)
    with pytest.raises(RuntimeError, match="micro-batch 3 failed"):
        T.train(cfg, quiet=True)
    assert not [t for t in threading.enumerate() if t.name.startswith("rewardlab-micro")]
