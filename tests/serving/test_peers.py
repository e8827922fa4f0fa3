"""vLLM- and SGLang-style clients against `rewardlab serve` (issue 16.7): the bodies their clients send, the replies
they read, and no path of ours that means something else in theirs.

Bodies transcribed from vllm-project/vllm examples/pooling/classify (the online classification client: GET
/v1/models, ``data[0]["id"]``, POST /classify ``{"model", "input": [texts]}``), examples/pooling/pooling (POST
/pooling with ``{"model", "input"}`` and with ``{"model", "messages"}``), and from sgl-project/sglang
docs/advanced_features/native_api (the reward-model example: POST /classify ``{"model", "text":
apply_chat_template(CONVS, tokenize=False)}``, ``response["embedding"][0]``) and docs/supported_models/
classify_models.md (POST /v1/classify ``{"model", "input": str}``).
"""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

from rewardlab.serving.app import create_app
from rewardlab.serving.peers import activate, classification_activation

CONVS = [
    [{"role": "user", "content": "What is tea?"}, {"role": "assistant", "content": "A drink made from leaves."}],
    [{"role": "user", "content": "What is tea?"}, {"role": "assistant", "content": "NO"}],
    [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello! How can I help?"}],
]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@pytest.fixture(scope="module")
def client(tiny_scorer):
    with TestClient(create_app(tiny_scorer)) as c:
        yield c


@pytest.fixture(scope="module")
def expected(tiny_scorer):
    rewards = tiny_scorer.score(CONVS)
    assert len({round(r, 6) for r in rewards}) == 3  # distinct, so a mixed-up order cannot pass
    return rewards


@pytest.mark.parametrize("problem_type, num_labels, activation", [
    (None, 1, "sigmoid"),  # PoolerClassify: fewer than 2 labels
    (None, 5, "softmax"),
    ("regression", 1, "identity"),
    ("regression", 5, "identity"),
    ("multi_label_classification", 5, "sigmoid"),
    ("single_label_classification", 5, "softmax"),
    ("single_label_classification", 1, "sigmoid"),
])
def test_activation_is_vllms(problem_type, num_labels, activation):
    assert classification_activation(problem_type, num_labels) == activation


def test_activate_on_hand_computed_values():
    assert activate([0.0, math.log(3.0)], "sigmoid") == pytest.approx([0.5, 0.75], abs=1e-15)
    assert activate([0.0, math.log(3.0)], "softmax") == pytest.approx([0.25, 0.75], abs=1e-15)  # 1/(1+3), 3/(1+3)
    assert activate([-800.0], "sigmoid") == [0.0] and activate([800.0], "sigmoid") == [1.0]  # no overflow
    assert activate([-1.5, 2.0], "identity") == [-1.5, 2.0]


def test_vllm_classification_client(client, tiny_scorer, expected):
    model = client.get("/v1/models").json()["data"][0]["id"]
    prompts = [tiny_scorer.tokenizer.apply_chat_template(c, tokenize=False) for c in CONVS]
    r = client.post("/classify", json={"model": model, "input": prompts})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list" and body["id"].startswith("classify-") and body["model"] == model
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    for d, reward in zip(body["data"], expected):
        # one output, no problem_type in the config: vLLM applies a sigmoid (use_activation false: the reward)
        assert d["num_classes"] == 1 and d["label"] == "LABEL_0"
        assert d["probs"] == [pytest.approx(sigmoid(reward), abs=1e-6)]
    ids = [tiny_scorer.encoder.encode(c)[0] for c in CONVS]
    assert body["usage"] == {"prompt_tokens": sum(map(len, ids)), "total_tokens": sum(map(len, ids)),
                             "completion_tokens": 0, "prompt_tokens_details": None}
    raw = client.post("/classify", json={"model": model, "input": prompts[0], "use_activation": False}).json()
    assert raw["data"][0]["probs"] == [pytest.approx(expected[0], abs=1e-5)]
    by_ids = client.post("/classify", json={"model": model, "input": ids[1], "use_activation": False}).json()
    assert by_ids["data"][0]["probs"] == [pytest.approx(expected[1], abs=1e-5)]  # token ids: the same reward


def test_vllm_chat_body_is_templated_as_training_did(client, expected):
    r = client.post("/classify", json={"model": "any", "messages": CONVS[2], "use_activation": False})
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["probs"] == [pytest.approx(expected[2], abs=1e-5)]
    parts = [{**m, "content": [{"type": "text", "text": m["content"]}]} for m in CONVS[2]]  # OpenAI content parts
    r = client.post("/classify", json={"model": "any", "messages": parts, "use_activation": False})
    assert r.json()["data"][0]["probs"] == [pytest.approx(expected[2], abs=1e-5)]
    r = client.post("/classify", json={"model": "any", "messages": CONVS[0], "chat_template": "{{ 'x' }}"})
    assert r.status_code == 400 and "chat_template" in r.json()["detail"]


def test_vllm_pooling_client(client, tiny_scorer, expected):
    text = tiny_scorer.tokenizer.apply_chat_template(CONVS[0], tokenize=False)
    r = client.post("/pooling", json={"model": "m", "input": text})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"].startswith("pool-") and body["object"] == "list"
    assert body["data"] == [{"index": 0, "object": "pooling", "data": [pytest.approx(sigmoid(expected[0]), abs=1e-6)]}]
    r = client.post("/pooling", json={"model": "m", "messages": CONVS[1], "use_activation": False})
    assert r.json()["data"][0]["data"] == [pytest.approx(expected[1], abs=1e-5)]
    r = client.post("/pooling", json={"model": "m", "input": text, "task": "token_classify"})
    assert r.status_code == 400 and "'classify'" in r.json()["detail"]


def test_sglang_reward_client(client, tiny_scorer, expected):
    tokenizer = tiny_scorer.tokenizer
    prompts = tokenizer.apply_chat_template(CONVS, tokenize=False)  # SGLang's docs: a batch of rendered texts
    responses = client.post("/classify", json={"model": "m", "text": prompts}).json()
    assert [response["embedding"][0] for response in responses] == pytest.approx(expected, abs=1e-5)
    assert all(len(response["embedding"]) == 1 and response["meta_info"]["prompt_tokens"] > 0 for response in responses)
    single = client.post("/classify", json={"text": prompts[1]}).json()  # one text: one object, as SGLang answers
    assert single["embedding"] == [pytest.approx(expected[1], abs=1e-5)]
    ids = tiny_scorer.encoder.encode(CONVS[2])[0]
    assert client.post("/classify", json={"input_ids": ids}).json()["embedding"] == [pytest.approx(expected[2],
                                                                                                   abs=1e-5)]


def test_sglang_v1_classify_takes_vllms_body(client, tiny_scorer, expected):
    text = tiny_scorer.tokenizer.apply_chat_template(CONVS[0], tokenize=False)
    r = client.post("/v1/classify", headers={"Content-Type": "application/json"}, json={"model": "m", "input": text})
    assert r.status_code == 200, r.text
    d = r.json()["data"][0]
    assert d["index"] == 0 and d["num_classes"] == 1 and d["probs"] == [pytest.approx(sigmoid(expected[0]), abs=1e-6)]


def test_v1_score_is_not_ours_any_more(client):
    for body in ({"conversations": CONVS}, {"model": "m", "text_1": "a", "text_2": ["b", "c"]}):
        r = client.post("/v1/score", json=body)
        assert r.status_code == 410 and "/v1/rewards" in r.json()["detail"] and "text_1" in r.json()["detail"]


@pytest.mark.parametrize("body, status, reason", [
    ({"model": "m", "input": []}, 422, "empty"),
    ({"model": "m", "input": ["ok", ""]}, 422, "empty text"),
    ({"model": "m", "input": [1, 10**6]}, 422, "outside the vocabulary"),
    ({"model": "m"}, 422, "'input'"),
    ({"text": "a", "input_ids": [1]}, 422, "exactly one"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, 422,
     "image_url"),
])
def test_malformed_peer_bodies_get_422_with_the_reason(client, body, status, reason):
    r = client.post("/classify", json=body)
    assert r.status_code == status and reason in str(r.json()["detail"])


def test_no_route_shares_a_path_with_a_peer_but_takes_another_body(client):
    """Our POST routes: our own paths, or peers' paths that take those peers' bodies (the tests above). The paths
    vLLM and SGLang give other meanings to (cross-encoder scoring, reranking, embeddings, generation) are absent."""
    routes = {(r.path, m) for r in client.app.routes for m in getattr(r, "methods", ()) or ()}
    posts = {p for p, m in routes if m == "POST"}
    ours = {"/v1/rewards", "/get_reward", "/compare"}
    peers_bodies = {"/classify", "/v1/classify", "/pooling"}  # served with the peer's body, tested above
    assert posts == ours | peers_bodies | {"/v1/score"}  # /v1/score: 410 for any body, pointing to /v1/rewards
    other_meanings = {"/score", "/rerank", "/v1/rerank", "/v2/rerank", "/v1/embeddings", "/v1/completions",
                      "/v1/chat/completions", "/generate", "/encode", "/tokenize", "/detokenize"}
    assert not posts & other_meanings
    assert ("/v1/models", "GET") in routes
