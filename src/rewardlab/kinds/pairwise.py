"""Pairwise preference model: a causal LM reads a prompt and two responses and answers "A" or "B".

Input: ``[CONTEXT] {context} [RESPONSE A] {a} [RESPONSE B] {b}`` plus a one-line question, as the user turn of
the model's chat template with the generation prompt; the target is the single answer token. Training is
next-token cross-entropy on that token only. P(A better) = softmax over the "A"/"B" logits at the last prompt
position, averaged over both orderings (so a position bias cancels); exactly 0.5 is a tie.

As a `RewardJudge`: a group of 2 gets ``[p, 1 - p]``; a group of n > 2 gets round-robin sums of win
probabilities. `PairwiseJudge.best_of_n` picks one response by a knockout tournament (n - 1 comparisons).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rewardlab.config import (
    DataFields,
    ModelFields,
    RunFields,
    at_least_one,
    check_fields,
    field,
    redefault,
    unit_interval,
)
from rewardlab.data.schema import PreferencePair
from rewardlab.fitting.optim import TrainResult
from rewardlab.kinds.finetune import OptimSettings, pick_device, run_training

Message = dict[str, str]
QUESTION = "Which response is better? Answer with A or B."
ANSWERS = ("A", "B")


# ------------------------------------------------------------------------------------------------ pure maths
def answer_token_loss(last_logits: torch.Tensor, answer_ids: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy of the answer token over the whole vocabulary. [B, V], [B] -> [B].

    Only the answer position is scored: the prompt tokens carry no loss.
    """
    return F.cross_entropy(last_logits.float(), answer_ids, reduction="none")


def first_better_probability(last_logits: torch.Tensor, id_a: int, id_b: int) -> torch.Tensor:
    """P(first response better) = softmax over the "A" and "B" logits only = sigmoid(l_A - l_B). [B, V] -> [B]."""
    return torch.sigmoid(last_logits[:, id_a].float() - last_logits[:, id_b].float())


def average_orderings(p_ab: torch.Tensor, p_ba: torch.Tensor) -> torch.Tensor:
    """P(a better) from both orderings: p_ab = P(first better) for (a, b), p_ba the same for (b, a). [B] -> [B]."""
    return 0.5 * (p_ab + (1.0 - p_ba))


def round_robin_scores(win_prob: torch.Tensor) -> torch.Tensor:
    """Sum of each response's win probabilities against every other one. win_prob[i, j] = P(i beats j): [n, n] -> [n]."""
    off_diagonal = ~torch.eye(win_prob.shape[0], dtype=torch.bool, device=win_prob.device)
    return (win_prob * off_diagonal).sum(1)


def knockout_winners(sizes: Sequence[int], play_round: Callable[[list[tuple[int, int, int]]], Sequence[float]]
                     ) -> list[int]:
    """Index of the knockout-tournament winner in each of several groups (``sizes[g]`` entrants in group g).

    Each round pairs every group's survivors in order (1st v 2nd, 3rd v 4th, ...); an odd one out gets a bye.
    `play_round(matches)` gets the round's matches of ALL groups as ``(group, a, b)`` and returns P(a beats b)
    per match; a advances when p >= 0.5 (a tie keeps the earlier entrant, so the result is deterministic).
    n - 1 matches per group in ceil(log2 n) rounds.
    """
    if any(n < 1 for n in sizes):
        raise ValueError("a knockout needs at least one entrant")
    alive = [list(range(n)) for n in sizes]
    while any(len(a) > 1 for a in alive):
        matches = [(g, a[k], a[k + 1]) for g, a in enumerate(alive) for k in range(0, len(a) - 1, 2)]
        winners: list[list[int]] = [[] for _ in alive]
        for (g, a, b), p in zip(matches, play_round(matches), strict=True):
            winners[g].append(a if p >= 0.5 else b)
        alive = [w + ([a[-1]] if len(a) % 2 else []) if len(a) > 1 else a for w, a in zip(winners, alive)]
    return [a[0] for a in alive]


def knockout_winner(n: int, play_round: Callable[[list[tuple[int, int]]], Sequence[float]]) -> int:
    """`knockout_winners` for one group: `play_round` gets ``(a, b)`` matches."""
    return knockout_winners([n], lambda matches: play_round([(a, b) for _, a, b in matches]))[0]


# ------------------------------------------------------------------------------------------------- encoding
def render_pair_prompt(context: Sequence[Message], first: str, second: str) -> str:
    ctx = "\n".join(f"{m['role']}: {m['content']}" for m in context)
    return f"[CONTEXT] {ctx} [RESPONSE A] {first} [RESPONSE B] {second}\n{QUESTION}"


def answer_token_ids(tokenizer: Any) -> tuple[int, int]:
    """Token ids of "A" and "B" as the model writes them right after the generation prompt."""
    ids = []
    for letter in ANSWERS:
        tok = tokenizer(letter, add_special_tokens=False)["input_ids"]
        if len(tok) != 1:
            raise ValueError(f"the tokenizer splits {letter!r} into {len(tok)} tokens; the pairwise model needs one")
        ids.append(tok[0])
    return ids[0], ids[1]


class PairPromptEncoder:
    """Token ids of the pairwise prompt (chat template + generation prompt, doubled BOS removed, left-truncated)."""

    def __init__(self, tokenizer: Any, max_length: int):
        from rewardlab.data.templates import tokenizer_adds_bos

        self.tokenizer = tokenizer
        self.max_length = max_length
        self.bos_text = tokenizer.bos_token if tokenizer_adds_bos(tokenizer) else None
        self.truncated = 0

    def encode(self, context: Sequence[Message], first: str, second: str) -> list[int]:
        messages = [{"role": "user", "content": render_pair_prompt(context, first, second)}]
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            text = messages[0]["content"] + "\nAnswer:"
        if self.bos_text and text.startswith(self.bos_text):
            text = text[len(self.bos_text) :]
        ids = self.tokenizer(text, add_special_tokens=True)["input_ids"]
        if len(ids) > self.max_length:  # the question and the responses' ends survive; the context start goes
            self.truncated += 1
            ids = ids[-self.max_length :]
        return ids


def last_position_logits(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                         last_index: torch.Tensor) -> torch.Tensor:
    """LM-head logits at `last_index` of each right-padded row only (not the whole [N, T, V]). -> [N, V]."""
    hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # [N, T, H]
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return model.get_output_embeddings()(hidden[rows, last_index.to(hidden.device)])


# ------------------------------------------------------------------------------------------------- the judge
class PairwiseJudge:
    """`RewardJudge` over a pairwise preference model; `compare`, `rank_responses` and `best_of_n`."""

    kind = "pairwise"

    def __init__(self, model: Any, tokenizer: Any, max_length: int = 1024, batch_size: int = 8):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.id_a, self.id_b = answer_token_ids(tokenizer)
        self.encoder = PairPromptEncoder(tokenizer, max_length)
        self.batch_size = batch_size
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | None = None, **kwargs: Any) -> PairwiseJudge:
        from rewardlab.kinds.folders import read_kind_file

        model, tokenizer = load_causal_lm(str(folder))
        record = read_kind_file(folder)
        kwargs.setdefault("max_length", record.get("config", {}).get("max_length", 1024))
        return cls(model.to(pick_device(device)), tokenizer, **kwargs)

    @property
    def truncated(self) -> int:
        return self.encoder.truncated

    def first_better(self, triples: Sequence[tuple[Sequence[Message], str, str]]) -> list[float]:
        """P(first better) in the given order only (one forward per triple), batched by length."""
        return self.first_better_ids([self.encoder.encode(c, a, b) for c, a, b in triples])

    def first_better_ids(self, encoded: Sequence[Sequence[int]]) -> list[float]:
        """`first_better` of already encoded pairwise prompts (`PairPromptEncoder.encode`)."""
        from rewardlab.modeling.forward import pad_batch

        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        out = [0.0] * len(encoded)
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            for k in range(0, len(order), self.batch_size):
                batch = order[k : k + self.batch_size]
                ids, mask, last = pad_batch([encoded[i] for i in batch], self.pad_id)
                logits = last_position_logits(self.model, ids.to(device), mask.to(device), last)
                for i, p in zip(batch, first_better_probability(logits, self.id_a, self.id_b).tolist()):
                    out[i] = p
        return out

    def compare(self, triples: Sequence[tuple[Sequence[Message], str, str]]) -> list[float]:
        """P(a better than b) for each ``(context, a, b)``, averaged over both orderings."""
        both = [*triples, *[(c, b, a) for c, a, b in triples]]
        p = torch.tensor(self.first_better(both), dtype=torch.float64)
        return average_orderings(p[: len(triples)], p[len(triples) :]).tolist()

    def win_matrices(self, groups: Sequence[tuple[Sequence[Message], Sequence[str]]]) -> list[torch.Tensor]:
        """Per group, W [n, n] with W[i, j] = P(response i better than response j) (diagonal 0): every pair once."""
        triples, where = [], []
        for g, (context, responses) in enumerate(groups):
            n = len(responses)
            for i in range(n):
                for j in range(i + 1, n):
                    triples.append((context, responses[i], responses[j]))
                    where.append((g, i, j))
        probs = self.compare(triples) if triples else []
        matrices = [torch.zeros(len(r), len(r), dtype=torch.float64) for _, r in groups]
        for (g, i, j), p in zip(where, probs):
            matrices[g][i, j], matrices[g][j, i] = p, 1.0 - p
        return matrices

    def rank_responses(self, groups: Sequence[tuple[Sequence[Message], Sequence[str]]]) -> list[list[float]]:
        # n == 2 -> [p, 1 - p] (the round-robin sums of a 2 x 2 matrix are exactly that)
        return [round_robin_scores(m).tolist() for m in self.win_matrices(groups)]

    def best_of_n(self, context: Sequence[Message], responses: Sequence[str]) -> int:
        """Index of the knockout winner among `responses` (each round's matches in one batch)."""
        return knockout_winner(len(responses), lambda matches: self.compare(
            [(context, responses[a], responses[b]) for a, b in matches]))

    def best_and_worst(self, groups: Sequence[tuple[Sequence[Message], Sequence[str]]]) -> list[tuple[int, int]]:
        """Per group, (knockout winner, knockout loser); the loser wins a second knockout in which the response
        LESS likely to be better advances. Both brackets of every group play each round in one batch, and a
        match they share (all of round 1) is compared once: about 1.5 n comparisons per group."""
        n = len(groups)

        def play(matches: list[tuple[int, int, int]]) -> list[float]:
            keys = list(dict.fromkeys((g % n, a, b) for g, a, b in matches))
            p = dict(zip(keys, self.compare([(groups[g][0], groups[g][1][a], groups[g][1][b]) for g, a, b in keys])))
            return [p[(g % n, a, b)] if g < n else 1.0 - p[(g % n, a, b)] for g, a, b in matches]

        sizes = [len(responses) for _, responses in groups]
        ends = knockout_winners(sizes + sizes, play)
        return list(zip(ends[:n], ends[n:]))


# ---------------------------------------------------------------------------------------------- training
@dataclasses.dataclass
class PairwiseConfig(RunFields, OptimSettings, DataFields, ModelFields):
    """`rewardlab train --kind pairwise`: the shared fields (model: a causal LM to fine-tune), then its own."""

    max_length: int = redefault(ModelFields, "max_length", 1024, "Tokens per pairwise prompt; longer ones lose "
                                                                 "their start (left truncation).")
    output_dir: str = redefault(RunFields, "output_dir", "outputs/pairwise-model")
    eval_split: str = field("test", "Split to read when `eval_data` is a hub id or a datasets folder.")
    max_train_pairs: int | None = field(None, "Use at most this many training pairs (after shuffling).")
    max_eval_pairs: int | None = field(None, "Evaluate on at most this many held-out pairs.")
    on_invalid: str = field("drop", "Invalid rows: 'drop' (counted) or 'error'.")
    orderings: str = field("random", "Per pair and epoch: 'random' (one seeded order, chosen first half the time) "
                                     "or 'both' (both orders, twice the compute).")
    eval_before_training: bool = field(True, "Measure held-out accuracy of the untrained model too.")
    eval_batch_size: int = field(8, "Prompts per forward pass when evaluating.")

    def __post_init__(self) -> None:
        self.check_optim()
        check_fields(self, ("eval_fraction",), unit_interval, "in [0, 1)")
        check_fields(self, ("eval_batch_size", "max_train_pairs", "max_eval_pairs"), at_least_one, "at least 1")
        if self.orderings not in ("random", "both"):
            raise ValueError(f"orderings must be 'random' or 'both', got {self.orderings!r}")
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {self.max_length}")


def load_causal_lm(name: str, dtype: torch.dtype = torch.float32) -> tuple[Any, Any]:
    """(causal LM, tokenizer) from an embedded name, folder or hub id; safetensors only."""
    from transformers import AutoModelForCausalLM

    from rewardlab.modeling.loading import load_tokenizer, resolve_model_path

    model = AutoModelForCausalLM.from_pretrained(resolve_model_path(name), dtype=dtype, use_safetensors=True)
    return model, load_tokenizer(name)


def training_examples(pairs: Sequence[PreferencePair], orderings: str, seed: int
                      ) -> list[tuple[Sequence[Message], str, str, int]]:
    """``(context, first, second, answer)`` per example; answer 0 = "A" (first better), 1 = "B"."""
    rng = random.Random(seed)
    out = []
    for p in pairs:
        for chosen_first in (True, False) if orderings == "both" else (rng.random() < 0.5,):
            out.append((p.context, p.chosen, p.rejected, 0) if chosen_first else (p.context, p.rejected, p.chosen, 1))
    return out


def heldout_accuracy(judge: PairwiseJudge, pairs: Sequence[PreferencePair], seed: int = 0) -> dict[str, Any]:
    """Accuracy of P(chosen better) > 0.5 with a 95% bootstrap interval; exactly 0.5 (a tie) counts 0.5."""
    from rewardlab.metrics import accuracy_with_interval

    p = judge.compare([(pair.context, pair.chosen, pair.rejected) for pair in pairs])
    out = accuracy_with_interval(p, [1.0 - x for x in p], tie_value=0.5, seed=seed)
    out["mean_p_chosen"] = float(sum(p) / len(p)) if p else float("nan")
    return out


def train_pairwise(cfg: PairwiseConfig, quiet: bool = False, device: str | None = None) -> TrainResult:
    """Fine-tune a causal LM as a pairwise preference model; writes a HF model folder to cfg.output_dir.

    The summary (held-out accuracy before/after, counts) is also written to ``training_summary.json``.
    """
    from rewardlab.config import config_to_dict
    from rewardlab.data.splits import load_training_pairs
    from rewardlab.fitting.optim import set_seed
    from rewardlab.io_utils import check_output_path
    from rewardlab.kinds.folders import save_kind_folder
    from rewardlab.modeling.forward import pad_batch

    def log(msg: str) -> None:
        if not quiet:
            print(f"[rewardlab pairwise] {msg}", flush=True)

    # before any work: refuse an output_dir the final save would damage (files rewardlab did not write, an input)
    check_output_path(cfg.output_dir, overwrite=cfg.overwrite, inputs=(cfg.data, cfg.eval_data, cfg.model))
    set_seed(cfg.seed)
    model, tokenizer = load_causal_lm(cfg.model)
    model.to(pick_device(device))
    judge = PairwiseJudge(model, tokenizer, cfg.max_length, cfg.eval_batch_size)
    train_pairs, eval_pairs, report = load_training_pairs(cfg, log)  # type: ignore[arg-type]
    examples = training_examples(train_pairs, cfg.orderings, cfg.seed)
    encoded = [judge.encoder.encode(c, a, b) for c, a, b, _ in examples]
    answers = torch.tensor([(judge.id_a, judge.id_b)[y] for *_, y in examples])
    log(f"{len(train_pairs)} training pairs -> {len(examples)} examples, {len(eval_pairs)} held-out pairs")

    summary: dict[str, Any] = {"kind": "pairwise", "num_train_pairs": len(train_pairs),
                               "num_train_examples": len(examples), "num_eval_pairs": len(eval_pairs),
                               "dropped_rows": dict(report.dropped)}
    if cfg.eval_before_training and eval_pairs:
        summary["eval_before"] = heldout_accuracy(judge, eval_pairs)
        log(f"held-out before: {summary['eval_before']}")

    device_ = next(model.parameters()).device

    def example_losses(idx: list[int]) -> torch.Tensor:
        ids, mask, last = pad_batch([encoded[i] for i in idx], judge.pad_id)
        logits = last_position_logits(model, ids.to(device_), mask.to(device_), last)
        return answer_token_loss(logits, answers[idx].to(device_))

    train_log = run_training(model, cfg, len(examples), example_losses, [len(e) for e in encoded],
                             log if not quiet else lambda _: None)
    summary["truncated_prompts"] = judge.encoder.truncated
    if eval_pairs:
        summary["eval_after"] = heldout_accuracy(judge, eval_pairs)
        log(f"held-out after: {summary['eval_after']}")

    out = save_kind_folder(cfg.output_dir, model, tokenizer, "pairwise", config_to_dict(cfg),
                           {"summary": summary, "train_log": train_log}, answer_tokens=list(ANSWERS),
                           question=QUESTION, overwrite=cfg.overwrite)
    summary["train_log"] = train_log
    return TrainResult(out, summary, model, tokenizer)
