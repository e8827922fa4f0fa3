"""OpenRLHF's remote reward model against `rewardlab serve`: its queries built and its replies parsed by its own
logic, transcribed from OpenRLHF/OpenRLHF (issue 16.5, 16.6).

- Query building, openrlhf/utils/agent.py `SingleTurnAgentExecutor.execute` (commit 3c3be62, 2026-08-13): prompt =
  ``apply_chat_template(chat, tokenize=False, add_generation_prompt=True)`` (openrlhf/datasets/prompts_dataset.py
  `preprocess_data`), prompt ids = ``tokenizer(prompt, add_special_tokens=False)``, response ids from vLLM (which
  keep the EOS token it stopped on), query = ``decode(prompt_ids + response_ids, skip_special_tokens=False)``, POST
  ``{"query": [query], "prompts": [prompt], "labels": [label]}``; reply read as ``rewards_info.get("scores")``
  (else ``"rewards"``), ``.get("rewards")``, ``.get("extra_logs")``.
- Whole-rollout requests and their parsing, openrlhf/utils/remote_rm_utils.py and
  openrlhf/trainer/ppo_utils/experience_maker.py `update_samples_with_rewards` (commit 6298708^, the last before the
  2026-01 restructure): one POST with every query of the rollout, then ``torch.cat([torch.as_tensor(info["rewards"])
  ...]).split(samples_len)``, the same for ``scores`` and each ``extra_logs`` key.

The model is a tiny Llama reward model with a ChatML template (SmolLM2-Instruct's, the embedded default's), whose
rendering puts ``"\\n"`` after ``<|im_end|>``: exactly the case where a query ends one token early.
"""

from __future__ import annotations

import json

import httpx
import pytest
import torch
from fastapi.testclient import TestClient

from rewardlab.kinds import load_scorer
from rewardlab.serving.app import create_app
from rewardlab.serving.background import serve_in_thread
from rewardlab.serving.config import ServeConfig

# HuggingFaceTB/SmolLM2-135M-Instruct tokenizer_config.json "chat_template" (what the embedded model ships)
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CONVS = [
    [{"role": "user", "content": "What is tea?"}, {"role": "assistant", "content": "A drink made from leaves."}],
    [{"role": "user", "content": "What is tea?"}, {"role": "assistant", "content": "NO"}],
    [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello! How can I help?"}],
    [{"role": "user", "content": "Name a river."}, {"role": "assistant", "content": "The Danube, which flows east."}],
]


@pytest.fixture(scope="module")
def chatml_folder(tmp_path_factory):
    """A Bradley-Terry reward-model folder: tiny Llama, byte tokenizer with ChatML's special tokens and template,
    eos = ``<|im_end|>`` (the token a ChatML policy stops on), a distinct pad token."""
    from transformers import AutoModelForSequenceClassification, LlamaConfig

    from rewardlab.modeling.tiny import build_byte_tokenizer

    tokenizer = build_byte_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"], "pad_token": "<|pad|>"})
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.chat_template = SMOLLM2_TEMPLATE
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, num_labels=1,
                         bos_token_id=1, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(5)
    model = AutoModelForSequenceClassification.from_config(config)
    with torch.no_grad():  # a score head that reads the last token strongly, so one token early moves the reward
        model.score.weight.normal_(0.0, 2.0)
    folder = tmp_path_factory.mktemp("chatml-rm")
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def openrlhf_query(tokenizer, conversation):
    """OpenRLHF's query and prompt for a conversation whose last turn is the policy's response (see module doc)."""
    prompt = tokenizer.apply_chat_template(conversation[:-1], tokenize=False, add_generation_prompt=True)
    prompt_token_ids = tokenizer(text=prompt, add_special_tokens=False, return_tensors="pt")["input_ids"][0].tolist()
    # vLLM's output token ids for a response that stopped on EOS: the response tokens and the EOS token itself
    action_token_ids = tokenizer(conversation[-1]["content"], add_special_tokens=False)["input_ids"]
    action_token_ids = [*action_token_ids, tokenizer.eos_token_id]
    observation_token_ids = prompt_token_ids + action_token_ids
    query = tokenizer.decode(observation_token_ids, skip_special_tokens=False)
    return query, prompt


def rewardlab_score(folder, conversations, tmp_path):
    """Rewards as `rewardlab score FOLDER rows.jsonl --output out.jsonl` writes them."""
    from rewardlab.cli import main

    rows, out = tmp_path / "rows.jsonl", tmp_path / "scored.jsonl"
    rows.write_text("".join(json.dumps({"messages": c}) + "\n" for c in conversations))
    assert main(["score", str(folder), str(rows), "--output", str(out), "--device", "cpu"]) == 0
    return [json.loads(line)["reward"] for line in out.read_text().splitlines()]


def update_samples_with_rewards(rewards_info, samples_len):
    """OpenRLHF's parsing of the remote RM's replies (experience_maker.py, see module doc), minus the Experience
    objects: per sample, its rewards, scores and extra_logs tensors."""
    rewards_list = torch.cat([torch.as_tensor(info["rewards"]) for info in rewards_info], dim=0).split(samples_len)
    if "scores" in rewards_info[0]:
        scores_list = torch.cat([torch.as_tensor(info["scores"]) for info in rewards_info], dim=0).split(samples_len)
    else:
        scores_list = rewards_list
    merged_logs = {}
    if "extra_logs" in rewards_info[0]:
        merged_logs = {
            key: torch.cat(
                [torch.as_tensor(logs[key]) for logs in [info["extra_logs"] for info in rewards_info]], dim=0
            ).split(samples_len)
            for key in rewards_info[0]["extra_logs"].keys()
        }
    return rewards_list, scores_list, merged_logs


def test_openrlhf_query_gets_the_reward_of_the_scored_conversation(chatml_folder, tmp_path):
    scorer = load_scorer(str(chatml_folder), device="cpu")
    tokenizer = scorer.tokenizer
    expected = rewardlab_score(chatml_folder, CONVS, tmp_path)
    built = [openrlhf_query(tokenizer, c) for c in CONVS]
    for (query, prompt), conv in zip(built, CONVS):
        full = tokenizer.apply_chat_template(conv, tokenize=False)
        assert query.endswith("<|im_end|>") and full == query + "\n"  # the query stops one "\n" short
        assert query.startswith(prompt)
    with serve_in_thread(create_app(scorer)) as url:
        got = []
        for query, prompt in built:  # one query per POST, as the async executor sends them
            response = httpx.post(f"{url}/get_reward", json={"query": [query], "prompts": [prompt], "labels": [""]},
                                  timeout=30)
            response.raise_for_status()
            rewards_info = response.json()
            score_value = rewards_info.get("scores")
            if score_value is None:
                score_value = rewards_info.get("rewards")
            assert rewards_info.get("extra_logs") == {} and score_value == rewards_info["rewards"]
            got.append(rewards_info.get("rewards")[0])
    assert max(abs(a - b) for a, b in zip(got, expected)) < 1e-4
    # the test can fail: scoring the query as sent (no "\n") reads another token and gives other rewards
    as_sent = scorer.score_ids([tokenizer(q, add_special_tokens=True)["input_ids"] for q, _ in built])
    assert max(abs(a - b) for a, b in zip(as_sent, expected)) > 1e-2


def test_a_whole_rollout_in_one_post_is_scored_in_forward_passes(chatml_folder):
    scorer = load_scorer(str(chatml_folder), device="cpu", batch_size=64)
    tokenizer = scorer.tokenizer
    convs = [[{"role": "user", "content": f"Question {i % 37}?"},
              {"role": "assistant", "content": f"Answer number {i}, " + "with detail " * (i % 5)}] for i in range(1024)]
    built = [openrlhf_query(tokenizer, c) for c in convs]
    config = ServeConfig(max_batch_size=64)  # the defaults: body limit, items per request, queue
    with serve_in_thread(create_app(scorer, config)) as url:
        payload = {"query": [q for q, _ in built], "prompts": [p for _, p in built], "labels": [""] * len(built)}
        response = httpx.post(f"{url}/get_reward", json=payload, timeout=180)  # OpenRLHF's timeout
        assert response.status_code == 200, response.text[:300]
        metrics = httpx.get(f"{url}/metrics").text
    # OpenRLHF: 8 samples of 128 rollouts each; its parsing must give one float per rollout
    rewards, scores, logs = update_samples_with_rewards([response.json()], [128] * 8)
    assert [len(r) for r in rewards] == [128] * 8 and rewards[0].dtype == torch.float32 and logs == {}
    assert torch.equal(torch.cat(scores), torch.cat(rewards))
    expected = scorer.score(convs)
    assert torch.allclose(torch.cat(rewards).double(), torch.tensor(expected, dtype=torch.float64), atol=1e-4)
    batches = sum(float(line.split()[-1]) for line in metrics.splitlines()
                  if line.startswith("rewardlab_batch_size_count"))
    assert batches >= 1024 / 64  # split into forward passes, none over max_batch_size


def test_regression_reply_parses_in_openrlhf(trained_regression):
    from rewardlab.data.templates import render_chat

    cfg, result = trained_regression
    judge = load_scorer(str(result.output_dir), device="cpu")
    queries = [render_chat(result.tokenizer, c) for c in CONVS[:2]]
    with TestClient(create_app(judge)) as client:
        replies = [client.post("/get_reward", json={"query": [q], "prompts": [""], "labels": [""]}).json()
                   for q in queries]  # two servers' worth of replies, concatenated as OpenRLHF does
    rewards, scores, logs = update_samples_with_rewards(replies, [1, 1])  # raised "Could not infer dtype of dict"
    details = judge.score_details(CONVS[:2])
    assert [r.item() for r in rewards] == pytest.approx([d["score"] for d in details], abs=1e-5)
    assert set(logs) == set(cfg.attributes)
    for name in cfg.attributes:
        assert [x.item() for x in logs[name]] == pytest.approx([d["scores"][name] for d in details], abs=1e-5)


def test_generation_prompt_is_read_from_the_template(chatml_folder, tiny_scorer):
    from transformers import AutoTokenizer

    from rewardlab.serving.kinds import generation_prompt

    chatml = AutoTokenizer.from_pretrained(str(chatml_folder))
    assert generation_prompt(chatml) == "<|im_start|>assistant\n"
    _, prompt = openrlhf_query(chatml, CONVS[0])  # the multi-objective gate's input, as OpenRLHF sends it
    assert prompt == chatml.apply_chat_template(CONVS[0][:1], tokenize=False) + generation_prompt(chatml)
    assert generation_prompt(tiny_scorer.tokenizer) == ""  # [INST] ... [/INST] already opens the answer


def test_the_default_body_limit_holds_a_real_rollout():
    """1,024 queries of 8,000 characters with their 3,000-character prompts, JSON-encoded as OpenRLHF's clients do
    (requests and aiohttp: json.dumps, ensure_ascii: non-ASCII as 6-byte \\uXXXX escapes): 11.4 MiB."""
    text = ("Reward models read the whole response. " * 8 + "Grüße, 你好. ")
    query = (text * (8000 // len(text) + 1))[:8000]
    prompt = query[:3000]
    body = json.dumps({"query": [query] * 1024, "prompts": [prompt] * 1024, "labels": [""] * 1024})
    assert len(body) > 8 * 1024 * 1024  # over the old limit: OpenRLHF got 413 and gave up after 5 retries
    assert len(body) <= ServeConfig().max_body_bytes
    assert 8000 <= ServeConfig().max_text_chars and 1024 <= ServeConfig().max_items_per_request


@pytest.mark.slow
def test_embedded_model_openrlhf_queries_match_scoring(tmp_path):
    """The same check on the embedded SmolLM2-135M-Instruct (its real tokenizer and template), where converted."""
    from rewardlab.modeling.embedded import cache_dir
    from rewardlab.scoring import score_file

    if not (cache_dir() / "models" / "smollm2-135m-instruct" / "config.json").exists():
        pytest.skip("the embedded model is not converted on this machine (rewardlab quickstart converts it)")
    torch.manual_seed(0)  # its score head is fresh: one load serves both sides
    scorer = load_scorer("smollm2-135m-instruct", device="cpu", dtype="float32")
    rows, out = tmp_path / "rows.jsonl", tmp_path / "scored.jsonl"
    rows.write_text("".join(json.dumps({"messages": c}) + "\n" for c in CONVS))
    score_file(scorer, str(rows), str(out))  # what `rewardlab score` runs on the loaded model
    expected = [json.loads(line)["reward"] for line in out.read_text().splitlines()]
    built = [openrlhf_query(scorer.tokenizer, c) for c in CONVS]
    assert all(q.endswith("<|im_end|>") for q, _ in built)
    with TestClient(create_app(scorer)) as client:
        got = [client.post("/get_reward", json={"query": [q], "prompts": [p], "labels": [""]}).json()["rewards"][0]
               for q, p in built]
    assert max(abs(a - b) for a, b in zip(got, expected)) < 1e-4
    as_sent = scorer.score_ids([scorer.tokenizer(q, add_special_tokens=True)["input_ids"] for q, _ in built])
    assert max(abs(a - b) for a, b in zip(as_sent, expected)) > 1e-3
