"""The server for every model kind: the same numbers as the Python API, the kinds' details, /compare, clear 4xx."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

from rewardlab.data.templates import render_chat
from rewardlab.kinds import load_judge, load_scorer
from rewardlab.serving.app import create_app
from rewardlab.serving.config import ServeConfig

CONVS = [
    [{"role": "user", "content": "Tell me about tea."}, {"role": "assistant", "content": "Happy to help! Tea is nice."}],
    [{"role": "user", "content": "Tell me about tea."}, {"role": "assistant", "content": "NO!!"}],
    [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Rain?"},
     {"role": "assistant", "content": "Sure, rain is fun."}],
]
COMPARISON = {"prompt": "Tell me about tea.", "response_a": "Happy to help! Tea is nice.", "response_b": "NO!!"}


def serve(folder):
    return TestClient(create_app(load_scorer(str(folder), device="cpu")))


def texts(tokenizer, conversations):
    """OpenRLHF's /get_reward body: formatted query texts and the formatted prompt each starts with."""
    return {"query": [render_chat(tokenizer, c) for c in conversations],
            "prompts": [render_chat(tokenizer, c[:-1]) for c in conversations]}


def test_multi_objective_get_reward_matches_the_python_api(trained_multi_objective):
    cfg, result = trained_multi_objective
    judge = load_judge(result.output_dir, device="cpu")
    expected = judge.score_details(CONVS)
    with serve(result.output_dir) as client:
        body = texts(result.tokenizer, CONVS)
        assert all(q.startswith(p) for q, p in zip(body["query"], body["prompts"]))
        r = client.post("/get_reward", json=body)
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["rewards"] == pytest.approx([d["score"] for d in expected], abs=1e-5)
        assert got["scores"] == got["rewards"]  # OpenRLHF's serve_rm shape: one float per query in both
        # per-objective values go to extra_logs as {name: [one float per query]} (OpenRLHF logs each key)
        for key, prefix in (("scores", ""), ("corrected", "corrected_"), ("gates", "gate_")):
            for name in cfg.objectives:
                assert got["extra_logs"][f"{prefix}{name}"] == pytest.approx([d[key][name] for d in expected],
                                                                             abs=1e-5)
        assert len(got["extra_logs"]) == 3 * len(cfg.objectives)
        v1 = client.post("/v1/rewards", json={"conversations": CONVS}).json()
        assert v1["rewards"] == pytest.approx(got["rewards"], abs=1e-5) and v1["truncated"] == 0
        for key in ("scores", "corrected", "gates"):  # /v1/rewards keeps the per-conversation dicts
            assert v1[key] == [pytest.approx(d[key], abs=1e-5) for d in expected]
        # without the prompts the gate has nothing to read: a clear 422, not a guess
        r = client.post("/get_reward", json={"query": body["query"]})
        assert r.status_code == 422 and "'prompts'" in r.json()["detail"]
        r = client.post("/get_reward", json={"query": body["query"], "prompts": body["prompts"][:2]})
        assert r.status_code == 422
        # /compare: sigmoid(t (r_a - r_b)), t the temperature learned with the gate's Bradley-Terry loss
        r = client.post("/compare", json={"comparisons": [COMPARISON]})
        assert r.status_code == 200, r.text
        t = math.exp(judge.head.log_temperature.item())
        diff = expected[0]["score"] - expected[1]["score"]
        assert r.json()["prob_a_better"] == [pytest.approx(1 / (1 + math.exp(-t * diff)), abs=1e-5)]


def test_regression_server_adds_attribute_scores_and_refuses_compare(trained_regression):
    cfg, result = trained_regression
    judge = load_judge(result.output_dir, device="cpu")
    with serve(result.output_dir) as client:
        r = client.post("/get_reward", json={"query": [render_chat(result.tokenizer, c) for c in CONVS]})
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["rewards"] == pytest.approx(judge.score(CONVS), abs=1e-5)
        assert got["scores"] == got["rewards"]  # one float per query: OpenRLHF does torch.as_tensor(scores)
        attributes = judge.score_attributes(CONVS)
        assert got["extra_logs"] == {a: pytest.approx([row[a] for row in attributes], abs=1e-5)
                                     for a in cfg.attributes}
        v1 = client.post("/v1/rewards", json={"conversations": CONVS}).json()
        assert v1["scores"] == [pytest.approx(s, abs=1e-5) for s in attributes]
        r = client.post("/compare", json={"comparisons": [COMPARISON]})
        assert r.status_code == 400 and "no probability" in r.json()["detail"]


def test_pairwise_server_compares_and_refuses_rewards(trained_pairwise):
    _, result = trained_pairwise
    judge = load_judge(result.output_dir, device="cpu")
    with serve(result.output_dir) as client:
        for path, body in (("/get_reward", {"query": ["[INST] hi [/INST] hello</s>"]}),
                           ("/v1/rewards", {"conversations": CONVS[:1]}),
                           ("/classify", {"model": "m", "input": "[INST] hi [/INST] hello</s>"})):
            r = client.post(path, json=body)
            assert r.status_code == 400, r.text
            assert "compares two responses" in r.json()["detail"] and "/compare" in r.json()["detail"]
        swapped = {**COMPARISON, "response_a": COMPARISON["response_b"], "response_b": COMPARISON["response_a"]}
        with_system = {"prompt": CONVS[2][:2], "response_a": "Sure, rain is fun.", "response_b": "IDK"}
        r = client.post("/compare", json={"comparisons": [COMPARISON, swapped, with_system]})
        assert r.status_code == 200, r.text
        p = r.json()["prob_a_better"]
        expected = judge.compare([(CONVS[0][:1], COMPARISON["response_a"], COMPARISON["response_b"]),
                                  (CONVS[2][:2], "Sure, rain is fun.", "IDK")])
        assert p[0] == pytest.approx(expected[0], abs=1e-6) and p[2] == pytest.approx(expected[1], abs=1e-6)
        assert p[0] + p[1] == pytest.approx(1.0, abs=1e-9)  # both orderings averaged: swapping A and B flips it
        r = client.post("/compare", json={"comparisons": [{**COMPARISON, "prompt": CONVS[0]}]})
        assert r.status_code == 422 and "must end with a user turn" in r.text


def test_bradley_terry_compare_is_the_sigmoid_of_the_reward_gap(tiny_scorer):
    with TestClient(create_app(tiny_scorer, ServeConfig(max_items_per_request=8))) as client:
        r = client.post("/compare", json={"comparisons": [COMPARISON]})
        assert r.status_code == 200, r.text
        r_a, r_b = tiny_scorer.score(CONVS[:2])
        assert r.json()["prob_a_better"] == [pytest.approx(1 / (1 + math.exp(-(r_a - r_b))), abs=1e-5)]
        got = client.post("/get_reward", json={"query": ["[INST] hi [/INST] hello</s>"]}).json()
        assert set(got) == {"rewards", "scores", "extra_logs"}  # OpenRLHF serve_rm's reply
        assert got["scores"] == got["rewards"] and got["extra_logs"] == {}
        r = client.post("/compare", json={"comparisons": [COMPARISON] * 5})
        assert r.status_code == 413 and "2 per comparison" in r.json()["detail"]


def test_serve_command_loads_a_kind_folder(trained_regression, trained_pairwise, monkeypatch, capsys):
    import uvicorn

    from rewardlab.cli import main

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    assert main(["serve", str(trained_regression[1].output_dir), "--device", "cpu", "--port", "0"]) == 0
    assert "(regression)" in capsys.readouterr().err
    with TestClient(started["app"]) as client:
        got = client.post("/v1/rewards", json={"conversations": CONVS[:1]}).json()
    assert len(got["rewards"]) == 1 and list(got["scores"][0]) == list(trained_regression[0].attributes)
    assert main(["serve", str(trained_pairwise[1].output_dir), "--dtype", "bfloat16"]) == 2
    assert "loads in float32" in capsys.readouterr().err
