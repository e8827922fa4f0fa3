"""Process reward model: pure maths on hand-computed tensors, step-labelled readers against TRL's own converters,
the step layout against TRL PRMTrainer's tokenize_row, and ProcessBench's scoring against its evaluation code."""

import json
import math
import random
import re
from itertools import chain

import pytest
import torch

from rewardlab.data.schema import DataError
from rewardlab.data.steps import (
    StepExample,
    group_by_context,
    math_shepherd_row,
    prm800k_rows,
    process_demo_path,
    read_step_examples,
    row_examples,
    split_steps,
)
from rewardlab.kinds.process import (
    ProcessConfig,
    StepEncoder,
    aggregate,
    best_of_n_credit,
    first_error,
    first_error_f1,
    lowest_step_localisation,
    per_example_mean,
    scored_steps,
    step_accuracy,
    step_bce_losses,
    tag_probability,
    tag_token_losses,
)
from tests.helpers import upstream_processbench_f1


# ------------------------------------------------------------------------------------------------ pure maths
def test_step_bce_losses_hand_computed():
    # logit 0, label 1: -log sigmoid(0) = ln 2; logit 2, label 0: -log(1 - sigmoid(2)) = ln(1 + e^2) = 2.126928
    got = step_bce_losses(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0]))
    assert got.tolist() == pytest.approx([math.log(2), math.log(1 + math.e**2)], rel=1e-6)


def test_tag_token_loss_and_probability_hand_computed():
    # vocabulary of 3: logits [0, ln 3, 0], "+" = 1, "-" = 2. CE on "+" = -log(3 / (1 + 3 + 1)) = ln(5/3);
    # on "-" = -log(1/5) = ln 5; P(+) over {+, -} only = 3 / (3 + 1) = 0.75
    logits = torch.tensor([[0.0, math.log(3), 0.0]] * 2)
    losses = tag_token_losses(logits, torch.tensor([1.0, 0.0]), plus_id=1, minus_id=2)
    assert losses.tolist() == pytest.approx([math.log(5 / 3), math.log(5)], rel=1e-6)
    assert tag_probability(logits[:1], 1, 2).tolist() == pytest.approx([0.75], rel=1e-6)


def test_per_example_mean_and_scored_steps():
    # steps of example 0 have losses 1 and 3 (mean 2), example 1 has 5, example 2 none (0, no gradient)
    got = per_example_mean(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([0, 0, 1]), 3)
    assert got.tolist() == [2.0, 5.0, 0.0]
    assert scored_steps(4, False) == [0, 1, 2, 3] and scored_steps(4, True) == [3]


def test_aggregations_and_first_error():
    s = [0.9, 0.5, 0.8]
    assert aggregate(s, "min") == 0.5 and aggregate(s, "last") == 0.8
    assert aggregate(s, "product") == pytest.approx(0.9 * 0.5 * 0.8)
    assert aggregate(s, "mean") == pytest.approx(2.2 / 3)
    assert math.isnan(aggregate([], "min"))
    with pytest.raises(ValueError, match="aggregation"):
        aggregate(s, "max")
    assert first_error([0.9, 0.4, 0.2]) == 1
    assert first_error([0.9, 0.5]) == -1  # 0.5 is not below the threshold
    assert first_error([0.9, 0.6], threshold=0.7) == 1


def test_best_of_n_localisation_and_step_accuracy():
    assert best_of_n_credit([0.2, 0.9, 0.9], [True, True, False]) == 0.5  # tie at the top: half right
    assert best_of_n_credit([0.2, 0.9, 0.1], [False, True, False]) == 1.0
    # first solution: lowest step 1 = its first error (hit); second: lowest step 0 but error at 2 (miss);
    # third has no error (not counted). chance = (1/3 + 1/4) / 2
    loc = lowest_step_localisation([[0.9, 0.1, 0.3], [0.2, 0.8, 0.5, 0.6], [0.9]], [1, 2, -1])
    assert loc == {"accuracy": 0.5, "chance": pytest.approx((1 / 3 + 1 / 4) / 2), "num_solutions": 2}
    assert step_accuracy([0.9, 0.2, 0.6], [True, False, False]) == pytest.approx(2 / 3)




def test_first_error_f1_equals_processbench_code():
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(2, 40)
        labels = [rng.choice([-1, -1, 0, 1, 2, 3]) for _ in range(n)]
        preds = [y if rng.random() < 0.6 else rng.choice([-1, 0, 1, 2, 3]) for y in labels]
        if -1 not in labels or all(y == -1 for y in labels):
            continue
        res = [{"label": y, "prediction": p, "match": p == y} for p, y in zip(preds, labels)]
        acc1, acc2, f1 = upstream_processbench_f1(res)
        if acc1 + acc2 == 0:
            continue  # upstream divides 0 by 0 there
        ours = first_error_f1(preds, labels)
        # both are a few float divisions of the same counts: equal up to rounding
        assert 100 * ours["error_accuracy"] == pytest.approx(acc1, abs=1e-9)
        assert 100 * ours["correct_accuracy"] == pytest.approx(acc2, abs=1e-9)
        assert 100 * ours["f1"] == pytest.approx(f1, abs=1e-9)


# ------------------------------------------------------------------------------------------------- readers
def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_trl_rows_read_and_bad_labels_named(tmp_path):
    rows = [{"prompt": "2 + 2?", "completions": ["2 + 2 = 4.", "The answer is 4."], "labels": [True, 1]},
            {"prompt": [{"role": "user", "content": "3 + 3?"}], "completions": ["3 + 3 = 7."], "labels": [0]}]
    examples = read_step_examples(write_jsonl(tmp_path / "ok.jsonl", rows))
    assert examples[0] == StepExample(({"role": "user", "content": "2 + 2?"},), ("2 + 2 = 4.", "The answer is 4."),
                                      (True, True))
    assert examples[1].labels == (False,) and examples[1].first_error == 0 and not examples[1].correct
    bad = [rows[0], {"prompt": "x", "completions": ["a", "b"], "labels": [True, "yes"]}]
    with pytest.raises(DataError, match=r"bad\.jsonl:2: .*labels\[1\]"):
        read_step_examples(write_jsonl(tmp_path / "bad.jsonl", bad))
    short = [{"prompt": "x", "completions": ["a", "b"], "labels": [True]}]
    with pytest.raises(DataError, match=r"short\.jsonl:1: .*one label per step"):
        read_step_examples(write_jsonl(tmp_path / "short.jsonl", short))


# Transcribed from huggingface/trl examples/datasets/math_shepherd.py (commit
# f2cd57710ae345ea6428ae95363267fcf38a3dc8), `process_example`, without its list of hand-spotted prompts.
def trl_math_shepherd(example):
    inputs = example["input"].replace("ки", "ⶻ")
    indexes = [m.start() for m in re.finditer("ⶻ", inputs)]
    assert all(example["label"][idx] in ["+", "-"] for idx in indexes)
    labels = [example["label"][idx] == "+" for idx in indexes]
    steps = [inputs[i:j] for i, j in zip(chain([0], indexes), chain(indexes, [None]), strict=True)]
    steps = steps[:-1]
    prompt = steps[0]
    completions = steps[1:]
    assert all(completion.startswith("ⶻ") for completion in completions)
    completions = [completion[1:].strip() for completion in completions]
    if "Step 1:" in prompt:
        prompt, first_step = prompt.split("Step 1:")
        first_step = "Step 1:" + first_step
        completions = [first_step.strip()] + completions
    elif "step 1:" in prompt:
        prompt, first_step = prompt.split("step 1:")
        first_step = "step 1:" + first_step
        completions = [first_step.strip()] + completions
    elif "?" in prompt:
        prompt, first_step = prompt.split("?")
        prompt = prompt + "?"
        completions = [first_step.strip()] + completions
    prompt = prompt.strip()
    assert len(completions) == len(labels)
    return {"prompt": prompt, "completions": completions, "labels": labels}


MATH_SHEPHERD_ROWS = [
    {"input": "Janet has 16 eggs and eats 3. How many are left? Step 1: 16 - 3 = 13. ки\nStep 2: The answer is: 13 ки",
     "label": "Janet has 16 eggs and eats 3. How many are left? Step 1: 16 - 3 = 13. +\nStep 2: The answer is: 13 +",
     "task": "GSM8K"},
    {"input": "A pen costs $2. What do 3 pens cost? step 1: 3 * 2 = 5 ки\nstep 2: So $5. ки\nstep 3: Done ки",
     "label": "A pen costs $2. What do 3 pens cost? step 1: 3 * 2 = 5 -\nstep 2: So $5. -\nstep 3: Done -",
     "task": "GSM8K"},
    {"input": "What is 1 + 1? It is 2. ки\nThe answer is 2. ки",
     "label": "What is 1 + 1? It is 2. +\nThe answer is 2. +", "task": "MATH"},
]


def test_math_shepherd_rows_convert_as_trl_does(tmp_path):
    for row in MATH_SHEPHERD_ROWS:
        assert math_shepherd_row(row) == trl_math_shepherd(row)
    examples = read_step_examples(write_jsonl(tmp_path / "ms.jsonl", MATH_SHEPHERD_ROWS))
    assert [e.labels for e in examples] == [(True, True), (False, False, False), (True, True)]
    broken = dict(MATH_SHEPHERD_ROWS[0], label=MATH_SHEPHERD_ROWS[0]["label"] + "x")
    with pytest.raises(DataError, match=r"ms2\.jsonl:1: .*'label'"):
        read_step_examples(write_jsonl(tmp_path / "ms2.jsonl", [broken]))


# Transcribed from huggingface/trl examples/datasets/prm800k.py (commit f2cd57710ae345ea6428ae95363267fcf38a3dc8),
# `process_example`.
def trl_prm800k(example):
    outputs = []
    prompt = example["question"]["problem"]
    previous_completions = []
    previous_labels = []
    for step in example["label"]["steps"]:
        if step["completions"] is None and step["human_completion"] is None and step["chosen_completion"] is None:
            break
        for completion_idx, completion in enumerate(step["completions"]):
            if completion_idx != step["chosen_completion"]:
                content = completion["text"]
                completions = previous_completions[:] + [content]
                label = completion["rating"] == 1
                labels = previous_labels[:] + [label]
                outputs.append({"prompt": prompt, "completions": completions, "labels": labels})
        if step["chosen_completion"] is not None:
            chosen_completion = step["completions"][step["chosen_completion"]]
            label = chosen_completion["rating"] == 1
        elif step["human_completion"] is not None:
            chosen_completion = step["human_completion"]
            label = True
        else:
            break
        content = chosen_completion["text"]
        previous_completions.append(content)
        previous_labels.append(label)
    outputs.append({"prompt": prompt, "completions": previous_completions, "labels": previous_labels})
    return outputs


def test_prm800k_rows_expand_as_trl_does():
    row = {"question": {"problem": "Compute 6 * 7."}, "label": {"steps": [
        {"completions": [{"text": "6 * 7 = 42.", "rating": 1}, {"text": "6 * 7 = 48.", "rating": -1}],
         "human_completion": None, "chosen_completion": 0},
        {"completions": [{"text": "So 42.", "rating": 1}, {"text": "So 41.", "rating": -1},
                         {"text": "Hmm.", "rating": 0}], "human_completion": None, "chosen_completion": None},
        {"completions": [{"text": "x", "rating": 1}], "human_completion": {"text": "The answer is 42."},
         "chosen_completion": None},
    ]}}
    ours = prm800k_rows(row)
    assert ours == trl_prm800k(row)
    # step 1: its rejected alternative; step 2 (nothing chosen): all three alternatives, then the path stops;
    # last: the chosen path so far
    assert len(ours) == 5 and ours[-1] == {"prompt": "Compute 6 * 7.", "completions": ["6 * 7 = 42."], "labels": [True]}
    assert [r["labels"] for r in ours[1:4]] == [[True, True], [True, False], [True, False]]
    examples = [e for r in ours for e in row_examples(r)]
    assert len(group_by_context(examples)) == 1  # one problem: its rows share their leading steps


def test_split_steps():
    assert split_steps("a\nb\n\nc\n", "\n") == ["a", "b", "c"]
    assert split_steps("a\n\nb", "\n\n") == ["a", "b"]
    with pytest.raises(ValueError):
        split_steps("a", "")


def test_demo_set_is_well_formed():
    train, test = read_step_examples(str(process_demo_path("train"))), read_step_examples(str(process_demo_path("test")))
    assert len(train) == 900 and len(test) == 180
    assert not {e.context[0]["content"] for e in train} & {e.context[0]["content"] for e in test}
    for examples in (train, test):
        groups = group_by_context(examples)
        assert all(sum(e.correct for e in g) == 1 and len(g) == 3 for g in groups)
        for e in examples:  # Math-Shepherd labels: true until the injected step, false from it on
            k = e.first_error
            assert e.labels == ((True,) * len(e.labels) if k == -1 else (True,) * k + (False,) * (len(e.labels) - k))


# ------------------------------------------------------------------------------------------ layout vs TRL
# Transcribed from huggingface/trl trl/experimental/prm/prm_trainer.py (commit
# f2cd57710ae345ea6428ae95363267fcf38a3dc8), PRMTrainer.tokenize_row.
def trl_tokenize_row(features, tokenizer, step_separator, max_length, max_completion_length,
                     train_on_last_step_only, is_eval):
    prompt_ids = tokenizer(features["prompt"], add_special_tokens=False)["input_ids"]
    completions_ids = [
        tokenizer(completion, add_special_tokens=False)["input_ids"] for completion in features["completions"]
    ]
    if train_on_last_step_only and not is_eval:
        labels = [-100] * (len(features["labels"]) - 1) + [int(features["labels"][-1])]
    else:
        labels = [int(label) for label in features["labels"]]
    separator_ids = tokenizer.encode(step_separator, add_special_tokens=False)
    completions_ids = [completion + separator_ids for completion in completions_ids]
    labels = [[-100] * (len(completion) - 1) + [label] for completion, label in zip(completions_ids, labels, strict=True)]
    completion_ids = list(chain(*completions_ids))
    labels = list(chain(*labels))
    if tokenizer.bos_token_id is not None:
        prompt_ids = [tokenizer.bos_token_id] + prompt_ids
    if max_completion_length is not None:
        completion_ids = completion_ids[:max_completion_length]
        labels = labels[:max_completion_length]
    input_ids = prompt_ids + completion_ids
    labels = [-100] * len(prompt_ids) + labels
    if max_length is not None:
        input_ids = input_ids[:max_length]
        labels = labels[:max_length]
    return {"input_ids": input_ids, "labels": labels}


@pytest.mark.parametrize("separator", ["\n", "\n\n", " ки\n"])
def test_step_layout_equals_trl_prm_trainer_without_a_chat_template(separator):
    from rewardlab.modeling.tiny import build_byte_tokenizer

    tokenizer = build_byte_tokenizer()
    tokenizer.chat_template = None  # TRL's PRMTrainer tokenizes the prompt string as it is
    row = {"prompt": "Which is larger, 9.8 or 9.11?", "completions": ["11 is greater than 8.", "Hence 9.11 > 9.8."],
           "labels": [True, False]}
    trl = trl_tokenize_row(row, tokenizer, separator, None, None, False, False)
    ids, cut = StepEncoder(tokenizer, 4096, separator).encode_steps(
        [{"role": "user", "content": row["prompt"]}], row["completions"])
    assert not cut and list(ids) == trl["input_ids"]
    assert ids.positions == [i for i, y in enumerate(trl["labels"]) if y != -100]
    assert [trl["labels"][p] for p in ids.positions] == [1, 0]


def test_step_layout_with_chat_template_and_truncation():
    from rewardlab.modeling.tiny import build_byte_tokenizer

    tokenizer = build_byte_tokenizer()  # Mistral-style template that writes BOS while the tokenizer adds it too
    enc = StepEncoder(tokenizer, 4096, "\n")
    context = [{"role": "user", "content": "Q?"}]
    ids, _ = enc.encode_steps(context, ["ab", "c"])
    assert list(ids).count(tokenizer.bos_token_id) == 1  # no doubled BOS
    text = tokenizer.decode(ids)
    assert text == "<s>[INST] Q? [/INST]ab\nc\n"
    assert [tokenizer.decode(ids[: p + 1])[-4:] for p in ids.positions] == ["]ab\n", "b\nc\n"]
    # the same solution as a conversation, split at the separator: the same ids
    same, _ = enc.encode([*context, {"role": "assistant", "content": "ab\nc"}])
    assert list(same) == list(ids) and same.positions == ids.positions
    cut_enc = StepEncoder(tokenizer, 5, "\n")  # keeps "b\nc\n" plus one token: step 0's end survives, at 2
    short, cut = cut_enc.encode_steps(context, ["ab", "c"])
    assert cut and len(short) == 5 and short.positions == [2, 4]
    shorter, _ = StepEncoder(tokenizer, 2, "\n").encode_steps(context, ["ab", "c"])
    assert shorter.positions == [-1, 1]  # step 0's end was cut off: it carries no score
    with pytest.raises(ValueError, match="no steps"):
        enc.encode([*context, {"role": "assistant", "content": "\n\n"}])


def test_config_checks():
    with pytest.raises(ValueError, match="head"):
        ProcessConfig(head="value")
    with pytest.raises(ValueError, match="aggregation"):
        ProcessConfig(aggregation="median")
    with pytest.raises(ValueError, match="threshold"):
        ProcessConfig(threshold=1.0)
    assert ProcessConfig().head == "classifier" and ProcessConfig().data == "demo"


def test_prefix_tree_rows_equal_padded_batches(tiny_model_dir):
    """Solutions sharing their prompt and leading steps, scored and differentiated as one prefix-tree row, give the
    padded computation's logits and gradients (float32; only the attention kernels' summation order differs)."""
    from rewardlab.kinds.process import packed_step_logits, step_outputs
    from rewardlab.modeling.forward import pad_batch
    from rewardlab.modeling.loading import load_reward_model
    from rewardlab.modeling.pair_rows import load_with_pair_rows, uses_pair_rows

    packed_model, tokenizer = load_with_pair_rows(str(tiny_model_dir), num_labels=1)
    padded_model, _ = load_reward_model(str(tiny_model_dir), num_labels=1, attn_implementation="sdpa")
    padded_model.load_state_dict(packed_model.state_dict())  # the same (randomly initialised) score head
    assert uses_pair_rows(packed_model) and not uses_pair_rows(padded_model)
    enc = StepEncoder(tokenizer, 4096, "\n")
    q = [{"role": "user", "content": "Mia has 5 apples and buys 3 more. How many?"}]
    solutions = [enc.encode_steps(q, s)[0] for s in (["5 + 3 = 8.", "The answer is 8."],
                                                      ["5 + 3 = 8.", "So 8.", "The answer is 8."],
                                                      ["5 - 3 = 2.", "The answer is 2."],
                                                      ["Other problem entirely."])]
    steps = [list(range(len(s.positions))) for s in solutions]
    packed = packed_step_logits(packed_model, solutions, steps)
    ids, mask, _ = pad_batch(solutions, tokenizer.pad_token_id)
    rows = torch.tensor([r for r, s in enumerate(steps) for _ in s])
    cols = torch.tensor([solutions[r].positions[k] for r, s in enumerate(steps) for k in s])
    padded = step_outputs(padded_model, "classifier", ids, mask, rows, cols)
    assert packed.shape == (8,) and torch.allclose(packed, padded, atol=1e-5)
    labels = torch.tensor([1.0, 1, 1, 1, 1, 0, 0, 1])
    for logits in (packed, padded):
        per_example_mean(step_bce_losses(logits, labels), rows, 4).sum().backward()
    for (name, a), (_, b) in zip(packed_model.named_parameters(), padded_model.named_parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-5, rtol=1e-4), name
