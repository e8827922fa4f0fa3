"""Template conformance matrix: the real chat templates of the recipe's models through every path.

Each file in tests/fixtures/chat_templates/ is one template (the Jinja string from the model's public
tokenizer_config.json / chat_template.jinja, its bos/eos/pad tokens, the repository/path/commit it was transcribed
from, and what the template is expected to do with a system turn and after the last turn). Every test here globs
that folder, so a new template is one fixture file away from being covered. The tokenizer of a fixture is the
byte-level test tokenizer carrying the template and its special tokens (`build_template_tokenizer`).
"""

from __future__ import annotations

import functools
import json

import pytest
import torch

from rewardlab.data.templates import (
    SYSTEM_FOLD_SEPARATOR,
    ConversationEncoder,
    end_of_turn_suffix,
    fold_system_turns,
    render_chat,
    template_accepts_system,
)
from rewardlab.modeling.loading import ensure_distinct_pad_token
from rewardlab.modeling.tiny import build_template_tokenizer
from tests.helpers import REPO

FIXTURES = sorted((REPO / "tests" / "fixtures" / "chat_templates").glob("*.json"))
NAMES = [p.stem for p in FIXTURES]

SYSTEM = "You are an AI assistant. Think step by step."
PROMPT = "What is the capital of France?"
CHOSEN = "The capital of France is Paris."
REJECTED = "I think it is Lyon, but I am not sure."
CONTEXTS = {
    "plain": [{"role": "user", "content": PROMPT}],
    "system": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
    "multi_turn": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi!"},
                   {"role": "assistant", "content": "Hello! How can I help?"}, {"role": "user", "content": PROMPT}],
}


@functools.cache
def fixture(name: str) -> dict:
    return json.loads((REPO / "tests" / "fixtures" / "chat_templates" / f"{name}.json").read_text())


def tokenizer_for(name: str, add_bos: bool | None = None):
    """A fresh tokenizer (tests mutate pad tokens) for fixture `name`, adding BOS as the fixture says or as asked."""
    f = fixture(name)
    return build_template_tokenizer(f["chat_template"], f["bos_token"], f["eos_token"], f["pad_token"],
                                    f["special_tokens"], f["add_bos_token"] if add_bos is None else add_bos)


def conversation(context: str, response: str) -> list[dict[str, str]]:
    return [*CONTEXTS[context], {"role": "assistant", "content": response}]


def hf_ids(tokenizer, messages) -> list[int]:
    """transformers' own tokenization of the chat (what `apply_chat_template(tokenize=True)` gives a model):
    the rendered text tokenized without added special tokens."""
    out = tokenizer.apply_chat_template(list(messages), tokenize=True, add_generation_prompt=False)
    return list(out["input_ids"] if hasattr(out, "keys") else out)


def test_the_matrix_covers_the_recipe_models():
    assert {"gemma-it", "gemma-2-it", "mistral-instruct-v0.1", "mistral-instruct-v0.2-original", "mistral-instruct-v0.3",
            "llama-3-instruct", "llama-3.1-instruct", "qwen2-instruct", "qwen2.5-instruct", "phi-3-mini-instruct",
            "smollm2-instruct"} <= set(NAMES)
    for name in NAMES:
        f = fixture(name)
        assert f["chat_template"] and f["eos_token"] and f["source"]["repository"] and f["source"]["commit"], name


# ------------------------------------------------------------------------------------------- system turns
@pytest.mark.parametrize("name", NAMES)
def test_system_turn_probe_matches_what_the_template_does(name):
    tok = tokenizer_for(name)
    assert template_accepts_system(tok) is fixture(name)["expected"]["accepts_system"]
    system_conv = conversation("system", CHOSEN)
    if fixture(name)["expected"]["accepts_system"]:
        assert SYSTEM in tok.apply_chat_template(system_conv, tokenize=False)
    else:  # the template itself raises, or renders without the system text: the probe must have said no
        try:
            text = tok.apply_chat_template(system_conv, tokenize=False)
        except Exception:
            return
        assert SYSTEM not in text


@pytest.mark.parametrize("name", NAMES)
def test_pairs_render_with_and_without_system_turns(name):
    tok = tokenizer_for(name)
    enc = ConversationEncoder(tok, 4096)
    accepts = fixture(name)["expected"]["accepts_system"]
    for context in CONTEXTS:
        chosen, rejected = conversation(context, CHOSEN), conversation(context, REJECTED)
        tc, tr = enc.text(chosen), enc.text(rejected)
        # every turn is there, the system prompt exactly once (never dropped, never doubled)
        has_system = context != "plain"
        assert tc.count(SYSTEM) == int(has_system) and tc.count(PROMPT) == 1 and tc.count(CHOSEN) == 1
        if has_system and not accepts:  # folded into the first user turn, the usual convention
            first_user = "Hi!" if context == "multi_turn" else PROMPT
            assert SYSTEM + SYSTEM_FOLD_SEPARATOR + first_user in tc
        # chosen and rejected share every turn but the last: the same text up to the response
        k = tc.index(CHOSEN)
        assert tr.index(REJECTED) == k and tc[:k] == tr[:k]
        c_ids, _ = enc.encode(chosen)
        r_ids, _ = enc.encode(rejected)
        prefix = len(tok(tc[:k], add_special_tokens=False)["input_ids"])
        assert c_ids[:prefix] == r_ids[:prefix]
    # conversations touched by folding: 2 contexts with a system turn x (2 texts + 2 encodes) each
    assert enc.system_folded == (0 if accepts else 8)


def test_fold_system_turns_convention():
    msgs = [{"role": "system", "content": "S1"}, {"role": "user", "content": "U1"},
            {"role": "assistant", "content": "A1"}, {"role": "system", "content": "S2"},
            {"role": "user", "content": "U2"}, {"role": "assistant", "content": "A2"}]
    assert fold_system_turns(msgs) == [{"role": "user", "content": "S1\n\nU1"}, {"role": "assistant", "content": "A1"},
                                       {"role": "user", "content": "S2\n\nU2"}, {"role": "assistant", "content": "A2"}]
    assert msgs[1]["content"] == "U1"  # the caller's messages are left alone
    # an empty system prompt (8 of the 100 real Orca rows) folds to nothing
    assert fold_system_turns([{"role": "system", "content": " "}, *msgs[1:3]]) == msgs[1:3]
    with pytest.raises(ValueError, match="followed by a 'assistant' turn"):
        fold_system_turns([{"role": "system", "content": "S"}, {"role": "assistant", "content": "A"}])
    with pytest.raises(ValueError, match="no user turn after it"):
        fold_system_turns([{"role": "user", "content": "U"}, {"role": "system", "content": "S"}])


def test_probe_is_cached_per_tokenizer_and_follows_a_changed_template():
    tok = tokenizer_for("gemma-it")
    assert template_accepts_system(tok) is False
    tok.chat_template = fixture("llama-3-instruct")["chat_template"]  # a user may swap the template
    assert template_accepts_system(tok) is True
    calls = []
    original = tok.apply_chat_template
    tok.apply_chat_template = lambda *a, **k: calls.append(1) or original(*a, **k)
    for _ in range(3):
        render_chat(tok, conversation("system", CHOSEN))
    assert len(calls) == 3  # the three renders; the probe was not run again


@pytest.mark.shared
def test_real_orca_rows_with_templates_that_refuse_system_turns():
    """92 of the 100 real Intel Orca rows carry a system prompt: with Gemma's template they all render (folded,
    counted); with Llama-3's nothing is folded."""
    from rewardlab.data.sources import ConvertContext, get_source
    from rewardlab.data.sources.streaming import load_source_dataset
    from rewardlab.training.data import tokenize_pairs
    from tests.helpers import shared_path

    path = shared_path("data/samples/orca-dpo-pairs-intel-upstream/orca_dpo_pairs_demo.csv")
    info = get_source("intel-orca-dpo-pairs")
    ds = load_source_dataset(info.hub_id, info.split, info.data_dir, str(path))
    pairs, _ = info.convert(ds, info.resolve_options(None), ConvertContext("intel-orca-dpo-pairs", 0, 1, str(path)))
    from rewardlab.data.schema import PreferencePair

    pairs = [p if isinstance(p, PreferencePair) else PreferencePair.from_record(p) for p in pairs]
    tok = tokenizer_for("gemma-it")
    gemma = tokenize_pairs(pairs, ConversationEncoder(tok, 1 << 20), show_progress=False)
    assert len(gemma) == 100 and gemma.system_folded == 92
    llama = tokenize_pairs(pairs, ConversationEncoder(tokenizer_for("llama-3-instruct"), 1 << 20), show_progress=False)
    assert llama.system_folded == 0
    for pair, ids in zip(pairs, gemma.chosen):  # the system prompt opens the first user turn, whole
        ctx = pair.chosen_messages()
        if ctx[0]["role"] == "system":
            text = tok.decode(ids)
            assert "<start_of_turn>user\n" + (ctx[0]["content"] + "\n\n" + ctx[1]["content"]).strip() in text


# ------------------------------------------------------------------------------------------------ BOS
@pytest.mark.parametrize("add_bos", [True, False], ids=["tokenizer-adds-bos", "no-added-bos"])
@pytest.mark.parametrize("name", NAMES)
def test_bos_exactly_once_and_no_turn_marker_deleted(name, add_bos):
    """The encoder's ids are exactly transformers' own chat tokenization (one BOS where the template writes
    it, every turn marker kept, even when the BOS string is itself a turn marker), plus the tokenizer's BOS
    where the template does not write one. Run with the tokenizer adding BOS and not."""
    tok = tokenizer_for(name, add_bos)
    enc = ConversationEncoder(tok, 4096)
    bos = tok.bos_token
    for context in CONTEXTS:
        conv = conversation(context, CHOSEN)
        ids, cut = enc.encode(conv)
        assert not cut
        rendered = render_chat(tok, conv)
        template_writes_bos = bool(bos) and rendered.startswith(bos)
        reference = hf_ids(tok, fold_system_turns(conv) if not enc.accepts_system else conv)
        expected = [tok.bos_token_id, *reference] if add_bos and bos and not template_writes_bos else reference
        assert ids == expected, (context, tok.convert_ids_to_tokens(ids)[:8], tok.convert_ids_to_tokens(expected)[:8])
        if bos:
            assert ids[:2] != [tok.bos_token_id] * 2  # never a doubled BOS
            assert ids.count(tok.bos_token_id) == rendered.count(bos) + int(add_bos and not template_writes_bos)
        for marker in fixture(name)["special_tokens"]:  # every turn marker the template wrote is still a token
            assert ids.count(tok.convert_tokens_to_ids(marker)) == rendered.count(marker), marker


# --------------------------------------------------------------------------------------- end of turn
@pytest.mark.parametrize("name", NAMES)
def test_end_of_turn_suffix_and_openrlhf_raw_texts(name):
    """What a generated text (OpenRLHF's query: prompt + response + EOS, decoded) ends with, versus what the
    template renders after the last turn; `TurnEnd.complete` turns the first into the second."""
    tok = tokenizer_for(name)
    turn = end_of_turn_suffix(tok)
    expected = fixture(name)["expected"]
    assert (turn.marker, turn.trailing) == (expected["turn_end_marker"], expected["turn_end_trailing"])
    enc = ConversationEncoder(tok, 4096)
    for context in CONTEXTS:
        conv = conversation(context, CHOSEN)
        rendered = render_chat(tok, conv)
        assert rendered.endswith(CHOSEN + turn.suffix)
        raw = rendered[: len(rendered) - len(turn.trailing)]  # the query stops at the end-of-turn token
        assert raw.endswith(turn.marker) and turn.complete(raw) == rendered
        assert turn.complete(rendered) == rendered  # an already complete text is left alone
        raw_ids = tok(raw.removeprefix(enc.bos_text or "\0"), add_special_tokens=True)["input_ids"]
        full_ids, _ = enc.encode(conv)
        if turn.trailing:  # the raw text ends on another token: its reward would be read elsewhere
            assert raw_ids != full_ids and raw_ids == full_ids[: len(raw_ids)]
        else:
            assert raw_ids == full_ids


# ------------------------------------------------------------------------------- rewards and packed rows
def tiny_reward_model(tokenizer, attn_implementation: str = "sdpa"):
    from transformers import AutoModelForSequenceClassification, LlamaConfig

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, num_labels=1)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation=attn_implementation)
    with torch.no_grad():  # a visible reward scale (the random head starts near zero)
        model.score.weight.normal_(0, 1.0)
    return model.eval()


@pytest.mark.parametrize("name", NAMES)
def test_reward_read_at_the_last_real_token(name):
    """The scorer's batched rewards (right padding, length-sorted) equal each conversation scored alone, the
    score head at its last token, and transformers' own pooling over the padded batch, for every template
    (pad == eos where the fixture has it: the loader must give a distinct pad)."""
    from rewardlab.modeling.forward import pad_batch
    from rewardlab.scoring import RewardScorer

    tok = tokenizer_for(name)
    model = tiny_reward_model(tok)
    ensure_distinct_pad_token(tok, model)
    assert tok.pad_token_id != tok.eos_token_id
    scorer = RewardScorer(model, tok, max_length=1024, batch_size=8)
    convs = [conversation(c, r) for c in CONTEXTS for r in (CHOSEN, REJECTED)]
    batched = scorer.score(convs)
    encoded = scorer.encode(convs)
    assert all(tok.pad_token_id not in ids for ids in encoded)
    with torch.no_grad():
        for conv, ids, reward in zip(convs, encoded, batched):
            hidden = model.model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
            assert reward == pytest.approx(model.score(hidden).item(), abs=1e-5)
            assert scorer.score([conv])[0] == pytest.approx(reward, abs=1e-5)
        # transformers' pooling (LlamaForSequenceClassification: the last non-pad token), as TRL's GRPO scores
        input_ids, mask, _ = pad_batch(encoded, tok.pad_token_id)
        hf = model(input_ids=input_ids, attention_mask=mask).logits[:, 0]
    # float32, rewards of magnitude ~11: batch shapes change the rounding by <= 3e-6 (measured over all fixtures)
    assert hf.tolist() == pytest.approx(batched, abs=1e-5)
    assert len({round(r, 4) for r in batched}) == len(batched)  # the responses are told apart
    # 4 of the 6 conversations have a system turn, each encoded 3 times above
    assert scorer.system_folded == (0 if fixture(name)["expected"]["accepts_system"] else 12)


@pytest.mark.parametrize("name", NAMES)
def test_prefix_tree_rows_equal_padded_sequences(name):
    """Groups sharing a system prompt and a context, scored as padding-free prefix-tree rows, give the rewards
    of plain padded batches, under every template's token layout."""
    from rewardlab.modeling.pair_rows import register_pair_rows_attention, uses_pair_rows
    from rewardlab.scoring import RewardScorer

    tok = tokenizer_for(name)
    plain = tiny_reward_model(tok)
    ensure_distinct_pad_token(tok, plain)
    rows = tiny_reward_model(tok, register_pair_rows_attention())
    rows.resize_token_embeddings(len(tok))
    rows.load_state_dict(plain.state_dict())
    assert uses_pair_rows(rows) and not uses_pair_rows(plain)
    groups = [(CONTEXTS[c], [CHOSEN, REJECTED, CHOSEN + " Definitely."]) for c in CONTEXTS]
    by_rows = RewardScorer(rows, tok, max_length=1024, batch_size=16).rank_responses(groups)
    padded = RewardScorer(plain, tok, max_length=1024, batch_size=16).rank_responses(groups)
    for r, p in zip(by_rows, padded):  # measured differences <= 3e-6 on rewards of magnitude ~11 (float32)
        assert r == pytest.approx(p, abs=1e-5)


# ------------------------------------------------------------------------------------------ training report
def test_training_with_a_template_that_refuses_system_turns_reports_the_folded_pairs(tmp_path):
    """`rewardlab train` on pairs with system prompts and Gemma's template: no abort; the folded pairs are in
    the training summary and the model card."""
    from transformers import AutoTokenizer

    from rewardlab.config import TrainConfig
    from rewardlab.data.readers import write_pairs_jsonl
    from rewardlab.data.schema import PreferencePair
    from rewardlab.modeling.tiny import build_tiny_model_dir
    from rewardlab.training.trainer import train
    from tests.helpers import synthetic_pairs

    model_dir = build_tiny_model_dir(tmp_path / "tiny")
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.chat_template = fixture("gemma-it")["chat_template"]
    tok.save_pretrained(model_dir)
    pairs = synthetic_pairs(16)
    pairs = [PreferencePair(({"role": "system", "content": "Be kind."}, *p.context), p.chosen, p.rejected,
                            source=p.source) if i % 4 else p for i, p in enumerate(pairs)]
    write_pairs_jsonl(pairs, tmp_path / "pairs.jsonl")
    cfg = TrainConfig(model=str(model_dir), data=str(tmp_path / "pairs.jsonl"), output_dir=str(tmp_path / "out"),
                      max_length=128, batch_size=4, micro_batch_size=4, max_steps=1, eval_fraction=0.25,
                      precision="fp32", gradient_checkpointing=False, warmup_ratio=0.0, seed=1, report_to="none")
    result = train(cfg, quiet=True)
    assert result.summary["system_folded_pairs"] == 12  # 3 in every 4 pairs, train and held-out together
    card = (result.output_dir / "README.md").read_text()
    assert "system prompt was folded into the first user turn (the chat template renders no system turn): 12" in card


# ------------------------------------------------------------------------------------------- data build stats
@pytest.mark.parametrize("name", ["gemma-it", "smollm2-instruct", "llama-3-instruct"])
def test_data_stats_lengths_are_the_trainers_tokens_and_count_folded_pairs(name, tmp_path):
    """`data build` / `data stats` with a tokenizer: each length is the trainer's token count (a BOS-string turn
    marker such as SmolLM2's <|im_start|> is not deleted), and pairs folded for the template are counted per
    source and in the table."""
    import datasets

    from rewardlab.data.schema import make_pair
    from rewardlab.data.sources.streaming import PAIR_FEATURES
    from rewardlab.data.stats import length_stats, stats_markdown, tokenize_pairs

    tok = tokenizer_for(name)
    rows = [(CONTEXTS["system"], "a"), (CONTEXTS["plain"], "a"), (CONTEXTS["multi_turn"], "b"), (CONTEXTS["plain"], "b")]
    ds = datasets.Dataset.from_list([make_pair([dict(m) for m in ctx], CHOSEN, REJECTED, source=src).to_record()
                                     for ctx, src in rows], features=PAIR_FEATURES)
    tokenized = tokenize_pairs(ds, tok, cache_dir=tmp_path)
    enc = ConversationEncoder(tok, 1 << 20)
    assert tokenized["chosen_len"] == [len(enc.encode([*ctx, {"role": "assistant", "content": CHOSEN}])[0])
                                       for ctx, _ in rows]
    stats = length_stats(tokenized)
    folds = not fixture(name)["expected"]["accepts_system"]
    assert stats["a"].get("system_folded", 0) == stats["b"].get("system_folded", 0) == int(folds)
    assert stats["total"].get("system_folded", 0) == 2 * int(folds)
    md = stats_markdown({"name": "t", "tokenizer": name, "total": stats["total"],
                         "sources": {k: {**v, "published": None} for k, v in stats.items() if k != "total"}})
    assert ("System prompts folded into the first user turn" in md) is folds
