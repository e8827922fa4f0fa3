"""Process reward model: a score per reasoning step, read at the end of each step.

Layout (TRL PRMTrainer's, huggingface/trl trl/experimental/prm/prm_trainer.py ``tokenize_row``): the prompt,
then each step's tokens followed by the separator's tokens (default ``"\\n"``, TRL's), the step read at its
separator's last token. Steps are tokenized one by one and concatenated, so no token straddles two steps and
training and scoring lay a solution out identically. Unlike TRL, the prompt goes through the model's chat template
with the generation prompt (as every other kind here renders conversations), doubled BOS removed.

Two ways to turn that position into P(step correct), a setting (``head``):
- ``classifier`` (default): a one-logit linear head (the sequence-classification ``score`` head every other
  kind here uses), sigmoid, binary cross-entropy. TRL's PRMTrainer is the same with two logits
  (``AutoModelForTokenClassification(num_labels=2)`` + cross-entropy), i.e. one logit difference. Default because
  the folder stays an ``AutoModelForSequenceClassification`` that loaders, LoRA (head in ``modules_to_save``)
  and servers already handle, and it needs no assumption about how the tokenizer spells "+" and "-".
- ``token``: Math-Shepherd / RLHFlow math-rm style: the causal LM's own next-token logits at the step end,
  trained with cross-entropy over the whole vocabulary on a "+" (correct) or "-" (wrong) tag, scored as the
  softmax over the "+" and "-" logits (RLHFlow math-rm/prm_evaluate.py: ``logits[..., [plus, minus]]
  .softmax(-1)[:, 0]``). It starts from the LM head, which helps with little data. RLHFlow renders each step as a
  user turn and the tag as an assistant turn and scores step k with the tags of steps < k in context (one forward
  per step); here the tags are not in the input, so one forward pass scores every step.

Loss on step positions only (every other token carries none), averaged over each solution's scored steps, or
only on the last step (``last_step_only``, TRL's ``train_on_last_step_only``). A solution's reward is an
aggregation of its step scores: ``min`` (default: a solution is as good as its worst step, and unlike the
product it does not fall with the number of steps), ``last``, ``product`` or ``mean`` (RLHFlow's choice).

With the classifier head, training and scoring lay each micro-batch out as one padding-free prefix-tree row
(`modeling.pair_rows`; ``prefix_rows``): every step end is the end of one "sequence", the solution up to that
step, so a prompt or leading steps that solutions share (best-of-n samples, PRM800K's alternatives) are computed
once; the logits equal the padded computation (tested). The token head runs padded batches.

Training runs through the kinds' single-process loop (`kinds.finetune.run_training`); multi-process, DeepSpeed,
LoRA and resume for this kind wait for the one trainer of issue 19.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rewardlab.config import DataFields, ModelFields, RunFields, field, redefault
from rewardlab.data.steps import StepExample, group_by_context, split_steps
from rewardlab.fitting.optim import TrainResult
from rewardlab.kinds.finetune import OptimSettings, pick_device, run_training

Message = dict[str, str]
HEADS = ("classifier", "token")
AGGREGATIONS = ("min", "last", "product", "mean")
TAGS = ("+", "-")


# ------------------------------------------------------------------------------------------------ pure maths
def step_bce_losses(step_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Classifier head: binary cross-entropy of each scored step. logits [S], labels [S] (1 = correct) -> [S]."""
    return F.binary_cross_entropy_with_logits(step_logits.float(), labels.float(), reduction="none")


def tag_token_losses(vocab_logits: torch.Tensor, labels: torch.Tensor, plus_id: int, minus_id: int) -> torch.Tensor:
    """Token head: next-token cross-entropy over the whole vocabulary on the "+" (correct) or "-" tag.
    vocab_logits [S, V], labels [S] -> [S]."""
    target = torch.where(labels.bool(), torch.full_like(labels, plus_id, dtype=torch.long),
                         torch.full_like(labels, minus_id, dtype=torch.long))
    return F.cross_entropy(vocab_logits.float(), target.to(vocab_logits.device), reduction="none")


def tag_probability(vocab_logits: torch.Tensor, plus_id: int, minus_id: int) -> torch.Tensor:
    """P(step correct) = softmax over the "+" and "-" logits only = sigmoid(l+ - l-). [S, V] -> [S]."""
    return torch.sigmoid(vocab_logits[:, plus_id].float() - vocab_logits[:, minus_id].float())


def per_example_mean(step_losses: torch.Tensor, example: torch.Tensor, num_examples: int) -> torch.Tensor:
    """Mean of each example's step losses. step_losses [S], example [S] (its example's index) -> [N]; an example
    with no scored step gives 0 (and no gradient)."""
    sums = torch.zeros(num_examples, dtype=step_losses.dtype, device=step_losses.device).index_add(
        0, example.to(step_losses.device), step_losses)
    counts = torch.bincount(example, minlength=num_examples).to(step_losses.device)
    return sums / counts.clamp(min=1)


def scored_steps(num_steps: int, last_step_only: bool) -> list[int]:
    """Indices of the steps that carry loss: all, or only the last (TRL's ``train_on_last_step_only``)."""
    return [num_steps - 1] if last_step_only and num_steps else list(range(num_steps))


def aggregate(step_scores: Sequence[float], how: str = "min") -> float:
    """One solution's reward from its step probabilities: min, last, product or mean (NaN when no step)."""
    if how not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {how!r}")
    if not step_scores:
        return math.nan
    if how == "min":
        return float(min(step_scores))
    if how == "last":
        return float(step_scores[-1])
    if how == "product":
        return float(math.prod(step_scores))
    return float(sum(step_scores) / len(step_scores))


def first_error(step_scores: Sequence[float], threshold: float = 0.5) -> int:
    """Predicted index of the first wrong step: the first whose P(correct) is below `threshold`; -1 if none
    (ProcessBench's convention, as its PRM evaluation predicts it: the first step not judged correct)."""
    return next((i for i, s in enumerate(step_scores) if s < threshold), -1)


def first_error_f1(predictions: Sequence[int], labels: Sequence[int]) -> dict[str, float]:
    """ProcessBench's score (QwenLM/ProcessBench code/run_eval.py): accuracy of the first-error index on the
    erroneous solutions (label != -1) and on the correct ones (label == -1), and their harmonic mean (F1).

    Fractions in [0, 1] (upstream prints percentages). A side with no solutions is NaN, and so is the F1; when
    both accuracies are 0 the F1 is 0 (upstream divides 0 by 0)."""
    err = [p == y for p, y in zip(predictions, labels, strict=True) if y != -1]
    ok = [p == y for p, y in zip(predictions, labels, strict=True) if y == -1]
    a1 = sum(err) / len(err) if err else math.nan
    a2 = sum(ok) / len(ok) if ok else math.nan
    f1 = math.nan if math.isnan(a1) or math.isnan(a2) else (2 * a1 * a2 / (a1 + a2) if a1 + a2 else 0.0)
    return {"error_accuracy": a1, "correct_accuracy": a2, "f1": f1, "num_error": len(err), "num_correct": len(ok)}


def best_of_n_credit(rewards: Sequence[float], correct: Sequence[bool]) -> float:
    """Best-of-n outcome of one problem: the share of correct solutions among those tied at the highest reward
    (1 or 0 without ties; the expected accuracy of breaking a tie at random)."""
    top = max(rewards)
    tied = [c for r, c in zip(rewards, correct, strict=True) if r == top]
    return sum(tied) / len(tied)


def lowest_step_localisation(step_scores: Sequence[Sequence[float]], first_errors: Sequence[int]) -> dict[str, float]:
    """Threshold-free localisation: over the solutions with an error, the share whose lowest-scored step is the first
    wrong one (the earliest of tied lowest steps), beside chance (the mean of 1 / number of steps)."""
    pairs = [(s, y) for s, y in zip(step_scores, first_errors, strict=True) if y != -1]
    if not pairs:
        return {"accuracy": math.nan, "chance": math.nan, "num_solutions": 0}
    hits = [min(range(len(s)), key=lambda i: (s[i], i)) == y for s, y in pairs]
    return {"accuracy": sum(hits) / len(hits), "chance": sum(1 / len(s) for s, _ in pairs) / len(pairs),
            "num_solutions": len(pairs)}


def step_accuracy(step_scores: Sequence[float], labels: Sequence[bool], threshold: float = 0.5) -> float:
    """Share of steps whose verdict (P(correct) >= threshold) matches the label."""
    hits = [(s >= threshold) == bool(y) for s, y in zip(step_scores, labels, strict=True)]
    return sum(hits) / len(hits) if hits else math.nan


# ---------------------------------------------------------------------------------------------- encoding
class StepIds(list):
    """Token ids of one solution (a plain list, so batching code measures and pads it as any other), with
    ``positions``: where each step is read (-1 for a step cut off by left truncation)."""

    positions: list[int]


class StepEncoder:
    """Token ids of prompt + steps (`module docstring`), left-truncated to `max_length`."""

    def __init__(self, tokenizer: Any, max_length: int = 1024, separator: str = "\n"):
        from rewardlab.data.templates import template_accepts_system, tokenizer_adds_bos

        if max_length < 2:
            raise ValueError(f"max_length must be at least 2, got {max_length}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.separator = separator
        self.bos_text = tokenizer.bos_token if tokenizer_adds_bos(tokenizer) else None
        self.accepts_system = template_accepts_system(tokenizer)
        self.separator_ids = tokenizer(separator, add_special_tokens=False)["input_ids"]
        if not self.separator_ids:
            raise ValueError(f"the step separator {separator!r} tokenizes to nothing")
        self.truncated = 0
        self.system_folded = 0

    def prompt_text(self, context: Sequence[Message]) -> str:
        """The context as the chat template renders it up to the assistant's turn (generation prompt); without a
        template, the contents joined by newlines (a TRL prompt string as it is)."""
        from rewardlab.data.templates import fold_system_turns, has_system_turn

        messages = [dict(m) for m in context]
        if not getattr(self.tokenizer, "chat_template", None):
            return "\n".join(m["content"] for m in messages)
        if not self.accepts_system and has_system_turn(messages):
            messages = fold_system_turns(messages)
            self.system_folded += 1
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _prompt_ids(self, text: str) -> list[int]:
        if not getattr(self.tokenizer, "chat_template", None):  # TRL's tokenize_row: BOS id + the prompt's ids
            bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
            return bos + self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if self.bos_text and text.startswith(self.bos_text):
            text = text[len(self.bos_text) :]
        return self.tokenizer(text, add_special_tokens=True)["input_ids"]

    def _join(self, prompt_ids: list[int], steps: Sequence[str]) -> tuple[StepIds, bool]:
        if not steps:
            raise ValueError("the solution has no steps (an empty response?)")
        ids, positions = list(prompt_ids), []
        for step in steps:
            ids += self.tokenizer(step, add_special_tokens=False)["input_ids"] + self.separator_ids
            positions.append(len(ids) - 1)
        cut = max(0, len(ids) - self.max_length)
        out = StepIds(ids[cut:])
        out.positions = [p - cut if p >= cut else -1 for p in positions]
        self.truncated += cut > 0
        return out, cut > 0

    def encode_steps(self, context: Sequence[Message], steps: Sequence[str]) -> tuple[StepIds, bool]:
        """(ids with step positions, whether the left was cut)."""
        return self._join(self._prompt_ids(self.prompt_text(context)), steps)

    def encode(self, conversation: Sequence[Message]) -> tuple[StepIds, bool]:
        """A conversation ending with the assistant's solution, cut into steps at the separator."""
        if not conversation or conversation[-1]["role"] != "assistant":
            raise ValueError("a process model scores a conversation that ends with the assistant's solution")
        return self.encode_steps(conversation[:-1], split_steps(conversation[-1]["content"], self.separator))

    def encode_text(self, text: str, prompt: str) -> tuple[StepIds, bool]:
        """An already chat-formatted text (OpenRLHF's query) whose first characters are `prompt` (its prompts
        field): the rest is the solution; an end-of-sequence token closing it is dropped."""
        if not text.startswith(prompt):
            raise ValueError("a query does not start with its prompt: send the formatted prompt each query "
                             "starts with in 'prompts'")
        response = text[len(prompt) :]
        eos = self.tokenizer.eos_token
        if eos and response.rstrip().endswith(eos):
            response = response.rstrip()[: -len(eos)]
        return self._join(self._prompt_ids(prompt), split_steps(response, self.separator))


def tag_token_ids(tokenizer: Any) -> tuple[int, int]:
    """Token ids of "+" and "-" as a step's tag (each must be one token)."""
    ids = []
    for tag in TAGS:
        tok = tokenizer(tag, add_special_tokens=False)["input_ids"]
        if len(tok) != 1:
            raise ValueError(f"the tokenizer splits {tag!r} into {len(tok)} tokens; the token head needs one")
        ids.append(tok[0])
    return ids[0], ids[1]


# ------------------------------------------------------------------------------------------------ forward
def step_outputs(model: Any, head: str, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """The head's outputs at the given (row, column) step positions of a right-padded batch [N, T]:
    classifier -> logits [S]; token -> vocabulary logits [S, V]. Only those positions go through the head."""
    from rewardlab.modeling.forward import score_head, unwrap_peft

    inner = unwrap_peft(model)
    hidden = inner.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # [N, T, H]
    picked = hidden[rows.to(hidden.device), cols.to(hidden.device)]  # [S, H]
    if head == "token":
        return inner.get_output_embeddings()(picked)
    return score_head(model)(picked).squeeze(-1)


def packed_step_logits(model: Any, encoded: Sequence[StepIds], steps: Sequence[Sequence[int]]) -> torch.Tensor:
    """Classifier logits [S] at the given steps of several solutions laid out as ONE prefix-tree row
    (`modeling.pair_rows`): every step end is the last token of a "sequence" (its solution up to that step), so a
    prompt or leading steps that solutions share are computed once and nothing is padded. The same logits as
    `step_outputs` on a padded batch (tested). Order: solution by solution, steps as given."""
    from rewardlab.modeling.pair_rows import pack_sequences, row_rewards

    prefixes = [ids[: ids.positions[s] + 1] for ids, chosen in zip(encoded, steps) for s in chosen]
    device = next(model.parameters()).device
    input_ids, position_ids, segments, last, _ = pack_sequences(prefixes)
    return row_rewards(model, input_ids.to(device), position_ids.to(device), segments, torch.tensor(last))


def load_process_model(name: str, head: str, prefix_rows: bool = True) -> tuple[Any, Any]:
    """(model, tokenizer): a one-logit sequence classifier (with the prefix-tree rows attention when `prefix_rows`
    and the architecture takes it), or the causal LM itself for the token head; the tokenizer gets a pad token
    distinct from eos either way."""
    if head == "classifier":
        from rewardlab.modeling.loading import load_reward_model
        from rewardlab.modeling.pair_rows import load_with_pair_rows

        return load_with_pair_rows(name, num_labels=1) if prefix_rows else load_reward_model(name, num_labels=1)
    from transformers import AutoModelForCausalLM

    from rewardlab.modeling.loading import ensure_distinct_pad_token, load_tokenizer, resolve_model_path

    tokenizer = load_tokenizer(name)
    model = AutoModelForCausalLM.from_pretrained(resolve_model_path(name), dtype=torch.float32,
                                                 use_safetensors=True)
    ensure_distinct_pad_token(tokenizer, model)
    return model, tokenizer


# ------------------------------------------------------------------------------------------------- scorer
class ProcessScorer:
    """Step scores (P(step correct)) and their aggregate as the reward; a `RewardJudge` through the aggregate."""

    kind = "process"

    def __init__(self, model: Any, tokenizer: Any, head: str = "classifier", separator: str = "\n",
                 aggregation: str = "min", max_length: int = 1024, batch_size: int = 16, **_: Any):
        if head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, got {head!r}")
        aggregate([], aggregation)  # validates the name
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.head = head
        self.aggregation = aggregation
        self.batch_size = batch_size
        self.encoder = StepEncoder(tokenizer, max_length, separator)
        self.tags = tag_token_ids(tokenizer) if head == "token" else None

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | None = None, aggregation: str | None = None,
                        **kwargs: Any) -> ProcessScorer:
        from rewardlab.kinds.folders import read_kind_file

        record = read_kind_file(folder)
        config = record["config"]
        model, tokenizer = load_process_model(str(folder), config["head"], config.get("prefix_rows", True))
        kwargs.setdefault("max_length", config["max_length"])
        return cls(model.to(pick_device(device)), tokenizer, config["head"], config["step_separator"],
                   aggregation or config["aggregation"], **kwargs)

    @property
    def truncated(self) -> int:
        return self.encoder.truncated

    @property
    def system_folded(self) -> int:
        return self.encoder.system_folded

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def probabilities(self, outputs: torch.Tensor) -> torch.Tensor:
        """P(step correct) from `step_outputs`."""
        if self.head == "token":
            return tag_probability(outputs, *self.tags)
        return torch.sigmoid(outputs.float())

    def step_scores_ids(self, encoded: Sequence[StepIds]) -> list[list[float]]:
        """P(correct) of every step of already encoded solutions (NaN for a step cut off on the left)."""
        from rewardlab.modeling.forward import pad_batch
        from rewardlab.modeling.pair_rows import uses_pair_rows

        out: list[list[float]] = [[math.nan] * len(e.positions) for e in encoded]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        with torch.inference_mode():
            for k in range(0, len(order), self.batch_size):
                batch = order[k : k + self.batch_size]
                if self.head == "classifier" and uses_pair_rows(self.model):  # one padding-free prefix-tree row
                    steps = [[s for s, p in enumerate(encoded[i].positions) if p >= 0] for i in batch]
                    if any(steps):
                        probs = torch.sigmoid(packed_step_logits(self.model, [encoded[i] for i in batch],
                                                                 steps)).tolist()
                        flat = [(i, s) for i, chosen in zip(batch, steps) for s in chosen]
                        for (i, s), p in zip(flat, probs):
                            out[i][s] = p
                    continue
                ids, mask, _ = pad_batch([encoded[i] for i in batch], self.tokenizer.pad_token_id)
                where = [(r, i, s, p) for r, i in enumerate(batch) for s, p in enumerate(encoded[i].positions)
                         if p >= 0]
                if not where:
                    continue
                rows, cols = torch.tensor([w[0] for w in where]), torch.tensor([w[3] for w in where])
                probs = self.probabilities(step_outputs(self.model, self.head, ids.to(self.device),
                                                        mask.to(self.device), rows, cols)).tolist()
                for (_, i, s, _), p in zip(where, probs):
                    out[i][s] = p
        return out

    def score_steps(self, solutions: Sequence[tuple[Sequence[Message], Sequence[str]]]) -> list[list[float]]:
        """Step scores of ``(context, steps)`` solutions whose steps are given as a list."""
        return self.step_scores_ids([self.encoder.encode_steps(c, s)[0] for c, s in solutions])

    def details_ids(self, encoded: Sequence[StepIds]) -> list[dict[str, Any]]:
        """Per solution: the aggregated ``score`` and the ``step_scores``."""
        return [{"score": aggregate([x for x in s if not math.isnan(x)], self.aggregation), "step_scores": s}
                for s in self.step_scores_ids(encoded)]

    def score_details(self, conversations: Sequence[Sequence[Message]]) -> list[dict[str, Any]]:
        """Per conversation (ending with the assistant's solution, steps split at the separator): ``score`` and
        ``step_scores``."""
        return self.details_ids([self.encoder.encode(c)[0] for c in conversations])

    def score(self, conversations: Sequence[Sequence[Message]]) -> list[float]:
        return [d["score"] for d in self.score_details(conversations)]

    def rank_responses(self, groups: Sequence[tuple[Sequence[Message], Sequence[str]]]) -> list[list[float]]:
        from rewardlab.scoring import rank_with_scores

        return rank_with_scores(self.score, groups)


# ------------------------------------------------------------------------------------------------ evaluation
def evaluate_examples(scorer: ProcessScorer, examples: Sequence[StepExample], threshold: float = 0.5,
                      bootstrap_samples: int = 1000, seed: int = 0,
                      step_scores: Sequence[Sequence[float]] | None = None) -> dict[str, Any]:
    """Held-out step accuracy, first-error F1 (ProcessBench's score, first errors from the labels) and best-of-n
    accuracy per aggregation over problems with several solutions, each with a 95% bootstrap interval.
    `step_scores`: the examples' step scores when the caller has them already (else the scorer computes them)."""
    from rewardlab.metrics import bootstrap_interval

    scores = step_scores if step_scores is not None else scorer.score_steps([(e.context, e.steps) for e in examples])
    hits = [float((s >= threshold) == y) for sc, e in zip(scores, examples) for s, y in zip(sc, e.labels)]
    out: dict[str, Any] = {"num_solutions": len(examples), "num_steps": len(hits),
                           "step_accuracy": sum(hits) / len(hits) if hits else math.nan,
                           "step_accuracy_ci": bootstrap_interval(hits, bootstrap_samples, seed=seed)}
    out["first_error"] = first_error_f1([first_error(s, threshold) for s in scores], [e.first_error for e in examples])
    out["lowest_step"] = lowest_step_localisation(scores, [e.first_error for e in examples])
    by_example = {id(e): s for e, s in zip(examples, scores)}
    groups = [g for g in group_by_context(examples) if len(g) > 1]
    if groups:
        best: dict[str, Any] = {"num_problems": len(groups)}
        for how in AGGREGATIONS:
            credit = [best_of_n_credit([aggregate(by_example[id(e)], how) for e in g], [e.correct for e in g])
                      for g in groups]
            best[how] = {"accuracy": sum(credit) / len(credit),
                         "ci": bootstrap_interval(credit, bootstrap_samples, seed=seed)}
        best["oracle"] = sum(any(e.correct for e in g) for g in groups) / len(groups)
        best["random"] = sum(sum(e.correct for e in g) / len(g) for g in groups) / len(groups)
        out["best_of_n"] = best
    return out


# ---------------------------------------------------------------------------------------------- training
@dataclasses.dataclass
class ProcessConfig(RunFields, OptimSettings, DataFields, ModelFields):
    """`rewardlab train --kind process`: the shared fields, then its own."""

    data: str = redefault(DataFields, "data", "demo", "Step-labelled rows: TRL stepwise supervision (prompt, "
                          "completions, labels), Math-Shepherd, PRM800K or ProcessBench rows; 'demo' = the bundled "
                          "arithmetic set.")
    eval_data: str | None = redefault(DataFields, "eval_data", None, "Held-out step-labelled rows; default: the "
                                      "demo's test file with data 'demo', else `eval_fraction` of `data`'s problems.")
    eval_fraction: float = redefault(DataFields, "eval_fraction", 0.1, "Fraction of problems held out when "
                                                                       "`eval_data` is not set.")
    max_length: int = redefault(ModelFields, "max_length", 1024, "Tokens per solution (TRL PRMConfig's default); "
                                                                 "longer ones lose their left.")
    output_dir: str = redefault(RunFields, "output_dir", "outputs/process-model")
    head: str = field("classifier", "classifier (a one-logit head at each step's end) or token (the LM's "
                                    "'+'/'-' next-token logits, Math-Shepherd style).")
    step_separator: str = field("\n", "Written after every step; a step is read at its last token (TRL's "
                                      "default). Also splits a scored response into steps.")
    last_step_only: bool = field(False, "Loss on each solution's last step only (held-out metrics use all).")
    aggregation: str = field("min", "Solution reward from step scores: min, last, product or mean.")
    threshold: float = field(0.5, "A step with P(correct) below this is judged wrong (first-error metrics).")
    prefix_rows: bool = field(True, "Classifier head: each micro-batch as one padding-free prefix-tree row, a "
                                    "prompt or leading steps shared by solutions computed once (same numbers).")
    max_train_rows: int | None = field(None, "Use at most this many training solutions (after shuffling).")
    eval_batch_size: int = field(16, "Solutions per forward pass when evaluating.")

    def __post_init__(self) -> None:
        self.check_optim()
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, got {self.head!r}")
        aggregate([], self.aggregation)
        if not self.step_separator:
            raise ValueError("step_separator must not be empty")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if not self.data:
            raise ValueError("set `data` to a file of step-labelled rows, or 'demo'")


def split_by_problem(examples: Sequence[StepExample], fraction: float, seed: int
                     ) -> tuple[list[StepExample], list[StepExample]]:
    """Seeded split into (rest, held-out) by problem, so no problem is on both sides."""
    groups = group_by_context(examples)
    random.Random(seed).shuffle(groups)
    k = int(round(len(groups) * fraction))
    return [e for g in groups[k:] for e in g], [e for g in groups[:k] for e in g]


def train_process(cfg: ProcessConfig, quiet: bool = False, device: str | None = None) -> TrainResult:
    """Fine-tune a process reward model; writes a model folder (kind ``process``) to cfg.output_dir."""
    from rewardlab.config import config_to_dict
    from rewardlab.data.steps import process_demo_path, read_step_examples
    from rewardlab.fitting.optim import set_seed
    from rewardlab.io_utils import check_output_path
    from rewardlab.kinds.folders import save_kind_folder
    from rewardlab.modeling.forward import pad_batch
    from rewardlab.modeling.pair_rows import uses_pair_rows

    def log(msg: str) -> None:
        if not quiet:
            print(f"[rewardlab process] {msg}", flush=True)

    data, eval_data = cfg.data, cfg.eval_data
    if data == "demo":
        data, eval_data = str(process_demo_path("train")), eval_data or str(process_demo_path("test"))
    check_output_path(cfg.output_dir, overwrite=cfg.overwrite, inputs=(data, eval_data, cfg.model))
    set_seed(cfg.seed)
    examples = read_step_examples(data, cfg.data_split)
    if eval_data:
        train_rows, eval_rows = examples, read_step_examples(eval_data)
    else:
        train_rows, eval_rows = split_by_problem(examples, cfg.eval_fraction, cfg.seed)
    if cfg.max_train_rows is not None and len(train_rows) > cfg.max_train_rows:
        train_rows = random.Random(cfg.seed).sample(train_rows, cfg.max_train_rows)

    model, tokenizer = load_process_model(cfg.model, cfg.head, cfg.prefix_rows)
    model.to(pick_device(device))
    scorer = ProcessScorer(model, tokenizer, cfg.head, cfg.step_separator, cfg.aggregation, cfg.max_length,
                           cfg.eval_batch_size)
    encoded = [scorer.encoder.encode_steps(e.context, e.steps)[0] for e in train_rows]
    # (example, step) pairs that carry loss: the scored steps that survived truncation
    targets = [[(s, e.labels[s]) for s in scored_steps(len(e.steps), cfg.last_step_only) if ids.positions[s] >= 0]
               for e, ids in zip(train_rows, encoded)]
    log(f"{len(train_rows)} training solutions ({sum(map(len, targets))} scored steps), {len(eval_rows)} held-out, "
        f"head {cfg.head}")
    summary: dict[str, Any] = {"kind": "process", "head": cfg.head, "num_train_solutions": len(train_rows),
                               "num_eval_solutions": len(eval_rows), "truncated": scorer.truncated}
    if eval_rows:
        summary["eval_before"] = evaluate_examples(scorer, eval_rows, cfg.threshold)
        log(f"held-out before: {_brief(summary['eval_before'])}")
    pad_id, device_ = tokenizer.pad_token_id, next(model.parameters()).device

    packed = cfg.head == "classifier" and uses_pair_rows(model)
    log(f"micro-batches as {'prefix-tree rows' if packed else 'padded batches'}")

    def example_losses(idx: list[int]) -> torch.Tensor:
        where = [(r, encoded[i].positions[s], y) for r, i in enumerate(idx) for s, y in targets[i]]
        if not where:  # every scored step truncated away: a zero that still reaches the parameters
            return sum(p.sum() for p in model.parameters()) * 0.0 + torch.zeros(len(idx), device=device_)
        rows, cols = torch.tensor([w[0] for w in where]), torch.tensor([w[1] for w in where])
        labels = torch.tensor([float(w[2]) for w in where], device=device_)
        if packed:
            outputs = packed_step_logits(model, [encoded[i] for i in idx], [[s for s, _ in targets[i]] for i in idx])
            return per_example_mean(step_bce_losses(outputs, labels), rows.to(device_), len(idx))
        ids, mask, _ = pad_batch([encoded[i] for i in idx], pad_id)
        outputs = step_outputs(model, cfg.head, ids.to(device_), mask.to(device_), rows, cols)
        losses = (tag_token_losses(outputs, labels, *scorer.tags) if cfg.head == "token"
                  else step_bce_losses(outputs, labels))
        return per_example_mean(losses, rows.to(device_), len(idx))

    train_log = run_training(model, cfg, len(encoded), example_losses, [len(e) for e in encoded], log)
    if eval_rows:
        summary["eval_after"] = evaluate_examples(scorer, eval_rows, cfg.threshold)
        log(f"held-out after: {_brief(summary['eval_after'])}")
    out = save_kind_folder(cfg.output_dir, model, tokenizer, "process", config_to_dict(cfg),
                           {"summary": summary, "train_log": train_log}, overwrite=cfg.overwrite)
    summary["train_log"] = train_log
    return TrainResult(out, summary, model, tokenizer)


def _brief(e: dict[str, Any]) -> str:
    text = (f"step accuracy {e['step_accuracy']:.3f}, first-error F1 {e['first_error']['f1']:.3f}, lowest step = "
            f"first error {e['lowest_step']['accuracy']:.3f} (chance {e['lowest_step']['chance']:.3f})")
    if "best_of_n" in e:
        text += ", best-of-n " + ", ".join(f"{h} {e['best_of_n'][h]['accuracy']:.3f}" for h in AGGREGATIONS)
    return text
