"""A trained process reward model in use: the saved folder reloads to the same step scores (both heads), and
`score`, the server (per-step rewards, OpenRLHF single rewards), `label` (best-of-n by the aggregate) and
`eval --benchmark processbench|steps` all give the numbers the Python API gives."""

from __future__ import annotations

import json

import pytest

from rewardlab.data.steps import process_demo_path
from rewardlab.kinds import load_judge, load_scorer, saved_kind
from rewardlab.kinds.process import AGGREGATIONS, ProcessConfig, ProcessScorer, aggregate, first_error, train_process
from rewardlab.scoring import RewardJudge

PROBLEM = [{"role": "user", "content": "Mia has 5 apples and buys 3 more. How many?"}]
GOOD = "Mia starts with 5 apples.\nAfter getting 3 more, Mia has 5 + 3 = 8 apples.\nThe answer is 8."
BAD = "Mia starts with 5 apples.\nAfter getting 3 more, Mia has 5 - 3 = 2 apples.\nThe answer is 2."


def train_tiny(tmp_path_factory, tiny_model_dir, head):
    folder = tmp_path_factory.mktemp(f"process-{head}")
    held_out = folder / "held_out.jsonl"  # 6 of the demo's test solutions: evaluating all 180 twice costs minutes
    held_out.write_text("".join(process_demo_path("test").read_text().splitlines(keepends=True)[:6]))
    cfg = ProcessConfig(model=str(tiny_model_dir), data="demo", eval_data=str(held_out), head=head,
                        output_dir=str(folder / "model"), max_steps=2, batch_size=4, micro_batch_size=4,
                        max_train_rows=16, learning_rate=1e-3, max_length=512, aggregation="min")
    return cfg, train_process(cfg, quiet=True, device="cpu")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir):
    return train_tiny(tmp_path_factory, tiny_model_dir, "classifier")


@pytest.mark.parametrize("head", ["classifier", "token"])
def test_save_load_same_step_scores(head, trained, tmp_path_factory, tiny_model_dir):
    cfg, result = trained if head == "classifier" else train_tiny(tmp_path_factory, tiny_model_dir, head)
    assert saved_kind(result.output_dir) == "process"
    assert result.summary["num_train_solutions"] == 16 and result.summary["eval_after"]["num_solutions"] == 6
    loaded = load_judge(result.output_dir, device="cpu")
    assert isinstance(loaded, ProcessScorer) and isinstance(loaded, RewardJudge) and loaded.head == head
    in_memory = ProcessScorer(result.model, result.tokenizer, head, cfg.step_separator, "min", cfg.max_length)
    convs = [[*PROBLEM, {"role": "assistant", "content": r}] for r in (GOOD, BAD)]
    details = loaded.score_details(convs)
    assert [d["step_scores"] for d in details] == [d["step_scores"] for d in in_memory.score_details(convs)]
    assert all(len(d["step_scores"]) == 3 and all(0 < s < 1 for s in d["step_scores"]) for d in details)
    assert [d["score"] for d in details] == [min(d["step_scores"]) for d in details]
    # steps given as a list score the same as the response split at the separator
    assert loaded.score_steps([(PROBLEM, GOOD.split("\n"))])[0] == details[0]["step_scores"]
    # the aggregation is a setting at load; rank_responses uses it
    last = load_judge(result.output_dir, device="cpu", aggregation="last")
    assert last.score(convs) == [d["step_scores"][-1] for d in details]
    (ranked,) = loaded.rank_responses([(PROBLEM, [GOOD, BAD])])
    assert ranked == [d["score"] for d in details]


def test_score_file_has_step_scores(trained, tmp_path):
    from rewardlab.kinds import score_command

    _, result = trained
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"prompt": PROBLEM[0]["content"], "response": GOOD}) + "\n")
    assert score_command(str(result.output_dir), str(src), str(out), device="cpu") == 0
    row = json.loads(out.read_text())
    expected = load_judge(result.output_dir, device="cpu").score_details([[*PROBLEM, {"role": "assistant",
                                                                                       "content": GOOD}]])[0]
    assert row["reward"] == expected["score"] and row["step_scores"] == expected["step_scores"]


def test_server_step_rewards_and_openrlhf(trained):
    from fastapi.testclient import TestClient

    from rewardlab.data.templates import render_chat
    from rewardlab.serving.app import create_app

    _, result = trained
    scorer = load_scorer(str(result.output_dir), device="cpu")
    convs = [[*PROBLEM, {"role": "assistant", "content": r}] for r in (GOOD, BAD)]
    expected = scorer.score_details(convs)
    with TestClient(create_app(scorer)) as client:
        v1 = client.post("/v1/rewards", json={"conversations": convs})
        assert v1.status_code == 200, v1.text
        got = v1.json()
        assert got["rewards"] == pytest.approx([d["score"] for d in expected], abs=1e-6)
        assert got["step_scores"] == [pytest.approx(d["step_scores"], abs=1e-6) for d in expected]
        # OpenRLHF: formatted query texts + the formatted prompt each starts with; one reward per query (the
        # folder's aggregation, min), every aggregation in extra_logs
        body = {"query": [render_chat(result.tokenizer, c) for c in convs],
                "prompts": [render_chat(result.tokenizer, c[:-1]) for c in convs]}
        r = client.post("/get_reward", json=body)
        assert r.status_code == 200, r.text
        reply = r.json()
        assert reply["rewards"] == pytest.approx(got["rewards"], abs=1e-6) and reply["scores"] == reply["rewards"]
        for how in AGGREGATIONS:
            assert reply["extra_logs"][f"step_{how}"] == pytest.approx(
                [aggregate(d["step_scores"], how) for d in expected], abs=1e-6)
        assert reply["extra_logs"]["num_steps"] == [3.0, 3.0]
        # without prompts the steps cannot be told from the prompt: a clear 422
        r = client.post("/get_reward", json={"query": body["query"]})
        assert r.status_code == 422 and "'prompts'" in r.json()["detail"]
        r = client.post("/compare", json={"comparisons": [{"prompt": PROBLEM[0]["content"], "response_a": GOOD,
                                                           "response_b": BAD}]})
        assert r.status_code == 400 and "process" in r.json()["detail"]


def test_label_picks_best_of_n_by_the_aggregate(trained, tmp_path):
    from rewardlab.labeling import label_command

    _, result = trained
    src, best = tmp_path / "cands.jsonl", tmp_path / "best.jsonl"
    src.write_text(json.dumps({"prompt": PROBLEM[0]["content"], "responses": [BAD, GOOD, BAD + "\nOops."]}) + "\n")
    assert label_command(str(result.output_dir), str(src), out_best=str(best), device="cpu") == 0
    row = json.loads(best.read_text())
    scores = load_judge(result.output_dir, device="cpu").rank_responses([(PROBLEM, [BAD, GOOD, BAD + "\nOops."])])[0]
    assert row["rewards"] == pytest.approx(scores) and row["best_index"] == scores.index(max(scores))


def test_eval_processbench_local_file(trained, tmp_path):
    from rewardlab.cli import main
    from tests.helpers import upstream_processbench_f1

    _, result = trained
    rows = []
    for i in range(8):  # ProcessBench's published schema; ids "<split>-<n>" give the split
        steps = GOOD.split("\n") if i % 2 else BAD.split("\n")
        rows.append({"id": f"{'gsm8k' if i < 4 else 'math'}-{i}", "generator": "test", "problem": PROBLEM[0]["content"],
                     "steps": steps, "final_answer_correct": bool(i % 2), "label": -1 if i % 2 else 1})
    data = tmp_path / "pb.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "eval"
    assert main(["eval", str(result.output_dir), "--benchmark", "processbench", "--data", str(data), "--out", str(out),
                 "--bootstrap", "50"]) == 0
    res = json.loads((out / "results.json").read_text())
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    scorer = load_judge(result.output_dir, device="cpu")
    assert [p["prediction"] for p in preds] == [first_error(s) for s in scorer.score_steps(
        [(PROBLEM, r["steps"]) for r in rows])]
    for split in ("gsm8k", "math"):
        upstream = [dict(p, match=p["prediction"] == p["label"]) for p in preds if p["subset"] == split]
        acc1, acc2, f1 = upstream_processbench_f1(upstream)
        s = res["subsets"][split]
        assert 100 * s["error_accuracy"] == pytest.approx(acc1) and 100 * s["correct_accuracy"] == pytest.approx(acc2)
        if acc1 + acc2:
            assert 100 * s["f1"] == pytest.approx(f1)
    assert res["average_f1"] == pytest.approx((res["subsets"]["gsm8k"]["f1"] + res["subsets"]["math"]["f1"]) / 2)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(dict(rows[0], label=7)) + "\n")
    assert main(["eval", str(result.output_dir), "--benchmark", "processbench", "--data", str(bad),
                 "--out", str(tmp_path / "e2")]) == 2


def test_eval_steps_benchmark_on_the_demo_test_file(trained, tmp_path):
    from rewardlab.cli import main
    from rewardlab.data.steps import process_demo_path

    _, result = trained
    out = tmp_path / "steps"
    assert main(["eval", str(result.output_dir), "--benchmark", "steps", "--data", str(process_demo_path("test")),
                 "--out", str(out), "--bootstrap", "50", "--limit", "30"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["num_solutions"] == 30 and res["best_of_n"]["num_problems"] == 10
    assert res["best_of_n"]["random"] == pytest.approx(1 / 3) and res["best_of_n"]["oracle"] == 1.0


def test_cli_train_kind_process(tiny_model_dir, tmp_path):
    from rewardlab.cli import main

    out = tmp_path / "m"
    assert main(["train", "--kind", "process", "--model", str(tiny_model_dir), "--output_dir", str(out),
                 "--max_steps", "1", "--batch_size", "2", "--micro_batch_size", "2", "--max_train_rows", "4",
                 "--head", "token", "--last_step_only", "--eval_data", str(_tiny_eval(tmp_path))]) == 0
    record = json.loads((out / "rewardlab_kind.json").read_text())
    assert record["kind"] == "process" and record["config"]["head"] == "token" and record["config"]["last_step_only"]


def _tiny_eval(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps({"prompt": PROBLEM[0]["content"], "completions": BAD.split("\n"),
                                "labels": [True, False, False]}) + "\n")
    return path


def test_aggregation_chosen_at_load(trained, tiny_model_dir, tmp_path):
    from rewardlab.labeling import label_command

    _, result = trained
    scorer = load_scorer(str(result.output_dir), device="cpu", aggregation="product")
    convs = [[*PROBLEM, {"role": "assistant", "content": r}] for r in (GOOD, BAD)]
    details = scorer.score_details(convs)
    assert [d["score"] for d in details] == pytest.approx([aggregate(d["step_scores"], "product") for d in details])
    with pytest.raises(ValueError, match="aggregation applies to process"):
        load_scorer(str(tiny_model_dir), aggregation="min")  # refused before any loading
    src, best = tmp_path / "cands.jsonl", tmp_path / "best.jsonl"
    candidates = [GOOD, BAD, "Mia starts with 5 apples.\nThe answer is 9."]
    src.write_text(json.dumps({"prompt": PROBLEM[0]["content"], "responses": candidates}) + "\n")
    assert label_command(str(result.output_dir), str(src), out_best=str(best), device="cpu", aggregation="last") == 0
    last = [s[-1] for s in scorer.score_steps([(PROBLEM, c.split("\n")) for c in candidates])]
    row = json.loads(best.read_text())
    assert row["rewards"] == pytest.approx(last) and row["best_index"] == last.index(max(last))
