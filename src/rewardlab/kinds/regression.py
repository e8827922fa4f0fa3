"""Regression reward model (NeMo-Aligner / SteerLM style): one score per attribute, trained with masked MSE.

Data: one row per response in HelpSteer's schema, ``prompt, response, helpfulness, correctness, coherence,
complexity, verbosity`` (ints 0-4); a missing label (None, NaN or an absent column) is masked out of the loss.
The model is a sequence-classification head with one output per attribute, read at the last token like the
Bradley-Terry model. A configurable weighted sum of the attributes is the scalar reward (`score`,
`rank_responses`); `score_attributes` returns the per-attribute scores.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

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
HELPSTEER_ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")


# ------------------------------------------------------------------------------------------------ pure maths
def masked_mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-example mean squared error over the observed labels. pred, target: [N, K] (NaN = missing) -> [N].

    An example with no observed label contributes 0 (and no gradient).
    """
    observed = ~torch.isnan(target)
    sq = torch.where(observed, (pred.float() - torch.nan_to_num(target)) ** 2, torch.zeros_like(pred, dtype=torch.float))
    count = observed.sum(1)
    return sq.sum(1) / count.clamp(min=1)


def per_attribute_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE of each attribute over the examples where it is observed (NaN when none is). [N, K] -> [K]."""
    observed = ~torch.isnan(target)
    sq = torch.where(observed, (pred.double() - torch.nan_to_num(target.double())) ** 2, 0.0)
    count = observed.sum(0)
    return torch.where(count > 0, sq.sum(0) / count.clamp(min=1), torch.full_like(sq[0], float("nan")))


def combine_attributes(scores: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The scalar reward: weighted sum of attribute scores. [N, K], [K] -> [N]."""
    return scores @ weights


# ---------------------------------------------------------------------------------------------------- data
@dataclasses.dataclass(frozen=True)
class AttributeExample:
    """One response with its attribute labels (NaN where missing), in the order of the model's attributes."""

    context: tuple[Message, ...]
    response: str
    labels: tuple[float, ...]

    def messages(self) -> list[Message]:
        return [*map(dict, self.context), {"role": "assistant", "content": self.response}]


def _label(value: Any, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: expected a number or null, got {value!r}")
    return float(value)


def read_attribute_rows(spec: str, attributes: Sequence[str], split: str = "train") -> list[AttributeExample]:
    """Rows in HelpSteer's schema (``prompt`` str or messages, ``response`` str, one column per attribute)."""
    from rewardlab.data.readers import iter_rows, prompt_messages
    from rewardlab.data.schema import DataError, RowRejected

    out = []
    for where, row in iter_rows(spec, split):
        if isinstance(row, RowRejected) or not isinstance(row, dict):
            raise DataError(f"{where}: not a JSON object")
        if not isinstance(row.get("response"), str) or row.get("prompt") is None:
            raise DataError(f"{where}: needs 'prompt' and a string 'response' (HelpSteer schema)")
        try:
            context = tuple(prompt_messages(row["prompt"], "prompt", row.get("system")))
        except RowRejected as e:
            raise DataError(f"{where}: {e}") from None
        labels = tuple(_label(row.get(a), f"{where} field '{a}'") for a in attributes)
        out.append(AttributeExample(context, row["response"], labels))
    if not out:
        raise DataError(f"{spec}: no rows")
    return out


def context_key(context: Sequence[Message]) -> tuple[tuple[str, str], ...]:
    """A hashable form of a conversation context (messages are dicts)."""
    return tuple((m["role"], m["content"]) for m in context)


def split_by_prompt(rows: Sequence[AttributeExample], fraction: float, seed: int
                    ) -> tuple[list[AttributeExample], list[AttributeExample]]:
    """Seeded split of rows into (rest, held-out) by prompt, so no prompt is on both sides."""
    prompts = sorted({context_key(r.context) for r in rows})
    random.Random(seed).shuffle(prompts)
    held = set(prompts[: int(round(len(prompts) * fraction))])
    return ([r for r in rows if context_key(r.context) not in held],
            [r for r in rows if context_key(r.context) in held])


def pairs_from_rows(rows: Sequence[AttributeExample], weights: Sequence[float]) -> list[PreferencePair]:
    """Preference pairs from rows sharing a prompt (HelpSteer's way): higher weighted label = chosen.

    Responses whose weighted label is missing (NaN) or equal are not paired.
    """
    groups: dict[tuple, list[tuple[float, str]]] = {}
    contexts = {}
    for r in rows:
        value = sum(w * x for w, x in zip(weights, r.labels) if w)
        if not math.isnan(value):
            key = context_key(r.context)
            contexts[key] = r.context
            groups.setdefault(key, []).append((value, r.response))
    pairs = []
    for key, items in groups.items():
        context = contexts[key]
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                (vi, ri), (vj, rj) = items[i], items[j]
                if vi != vj and ri != rj:
                    chosen, rejected = (ri, rj) if vi > vj else (rj, ri)
                    pairs.append(PreferencePair(context, chosen, rejected, source="attribute-rows"))
    return pairs


# ------------------------------------------------------------------------------------------------- scorer
class RegressionScorer:
    """Per-attribute scores and their weighted combination; a `RewardJudge` through the combination."""

    kind = "regression"

    def __init__(self, model: Any, tokenizer: Any, attributes: Sequence[str], weights: Sequence[float],
                 max_length: int = 4096, batch_size: int = 16, **scorer_options: Any):
        """`scorer_options` go to the underlying `RewardScorer` (``max_tokens_per_batch``, ``show_progress``)."""
        from rewardlab.scoring import RewardScorer

        if len(weights) != len(attributes):
            raise ValueError(f"{len(weights)} weights for {len(attributes)} attributes")
        self.attributes = tuple(attributes)
        self.weights = torch.tensor(list(weights), dtype=torch.float64)
        self.inner = RewardScorer(model, tokenizer, max_length=max_length, batch_size=batch_size, **scorer_options)

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | None = None, weights: Sequence[float] | None = None,
                        **kwargs: Any) -> RegressionScorer:
        from rewardlab.kinds.folders import read_kind_file
        from rewardlab.modeling.loading import load_reward_model

        record = read_kind_file(folder)
        attributes = record["attributes"]
        model, tokenizer = load_reward_model(str(folder), num_labels=len(attributes))
        kwargs.setdefault("max_length", record["config"]["max_length"])
        return cls(model.to(pick_device(device)), tokenizer, attributes,
                   weights if weights is not None else record["weights"], **kwargs)

    @property
    def encoder(self) -> Any:
        return self.inner.encoder

    @property
    def truncated(self) -> int:
        return self.inner.truncated

    def _matrix_ids(self, encoded: Sequence[Sequence[int]]) -> torch.Tensor:
        raw = self.inner.score_ids(encoded)
        return torch.tensor([r if isinstance(r, list) else [r] for r in raw], dtype=torch.float64).reshape(
            len(raw), len(self.attributes))

    def _matrix(self, conversations: Sequence[Sequence[Message]]) -> torch.Tensor:
        return self._matrix_ids(self.inner.encode(conversations))

    def details_ids(self, encoded: Sequence[Sequence[int]]) -> list[dict[str, Any]]:
        """`score_details` of already encoded conversations."""
        if not encoded:
            return []
        matrix = self._matrix_ids(encoded)
        combined = combine_attributes(matrix, self.weights).tolist()
        return [{"score": c, "scores": dict(zip(self.attributes, row))} for c, row in zip(combined, matrix.tolist())]

    def score_details(self, conversations: Sequence[Sequence[Message]]) -> list[dict[str, Any]]:
        """Per conversation: the combined ``score`` and the per-attribute ``scores``."""
        return self.details_ids(self.inner.encode(conversations))

    def score_attributes(self, conversations: Sequence[Sequence[Message]]) -> list[dict[str, float]]:
        """One ``{attribute: score}`` per conversation (each ending with the scored assistant turn)."""
        return [d["scores"] for d in self.score_details(conversations)]

    def score(self, conversations: Sequence[Sequence[Message]]) -> list[float]:
        """The combined reward per conversation (weights from training, or the ones given at load)."""
        if not conversations:
            return []
        return combine_attributes(self._matrix(conversations), self.weights).tolist()

    def rank_responses(self, groups: Sequence[tuple[Sequence[Message], Sequence[str]]]) -> list[list[float]]:
        from rewardlab.scoring import rank_with_scores

        return rank_with_scores(self.score, groups)


# ---------------------------------------------------------------------------------------------- training
@dataclasses.dataclass
class RegressionConfig(RunFields, OptimSettings, DataFields, ModelFields):
    """`rewardlab train --kind regression`: the shared fields, then its own."""

    data: str = redefault(DataFields, "data", "", "Attribute rows in HelpSteer's schema (prompt, response, one "
                                                  "column per attribute).")
    eval_fraction: float = redefault(DataFields, "eval_fraction", 0.1, "Fraction of prompts held out when "
                                                                       "`eval_data` is not set.")
    output_dir: str = redefault(RunFields, "output_dir", "outputs/regression-model")
    attributes: tuple[str, ...] = field(HELPSTEER_ATTRIBUTES, "Label columns, one model output each.")
    weights: tuple[float, ...] | None = field(None, "Combination weights, one per attribute (default: 1 for the "
                                                    "first attribute, 0 for the rest).")
    max_train_rows: int | None = field(None, "Use at most this many training rows (after shuffling).")
    eval_batch_size: int = field(16, "Conversations per forward pass when evaluating.")

    def __post_init__(self) -> None:
        self.check_optim()
        check_fields(self, ("eval_fraction",), unit_interval, "in [0, 1)")
        check_fields(self, ("eval_batch_size", "max_train_rows"), at_least_one, "at least 1")
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {self.max_length}")
        self.attributes = tuple(self.attributes)
        if not self.data:
            raise ValueError("set `data` to a file of attribute rows in HelpSteer's schema")
        if not self.attributes or len(set(self.attributes)) != len(self.attributes):
            raise ValueError(f"attributes must be distinct and non-empty, got {self.attributes}")
        if self.weights is None:
            self.weights = (1.0,) + (0.0,) * (len(self.attributes) - 1)
        self.weights = tuple(float(w) for w in self.weights)
        if len(self.weights) != len(self.attributes):
            raise ValueError(f"{len(self.weights)} weights for {len(self.attributes)} attributes: give one each")


def evaluate_rows(scorer: RegressionScorer, rows: Sequence[AttributeExample]) -> dict[str, Any]:
    """Held-out per-attribute MSE, and accuracy (95% bootstrap interval) on pairs built from same-prompt rows."""
    from rewardlab.metrics import accuracy_with_interval

    pred = scorer._matrix([r.messages() for r in rows])
    target = torch.tensor([r.labels for r in rows], dtype=torch.float64)
    mse = per_attribute_mse(pred, target)
    out: dict[str, Any] = {"mse": dict(zip(scorer.attributes, mse.tolist())),
                           "masked_mse": float(masked_mse_loss(pred, target).mean())}
    pairs = pairs_from_rows(rows, scorer.weights.tolist())
    if pairs:
        chosen = scorer.score([p.chosen_messages() for p in pairs])
        rejected = scorer.score([p.rejected_messages() for p in pairs])
        out["pairs"] = accuracy_with_interval(chosen, rejected)
    return out


def train_regression(cfg: RegressionConfig, quiet: bool = False, device: str | None = None) -> TrainResult:
    """Fine-tune a multi-attribute regression reward model; writes a HF model folder to cfg.output_dir."""
    from rewardlab.config import config_to_dict
    from rewardlab.fitting.optim import set_seed
    from rewardlab.io_utils import check_output_path
    from rewardlab.kinds.folders import save_kind_folder
    from rewardlab.modeling.forward import pad_batch, sequence_rewards
    from rewardlab.modeling.loading import load_reward_model

    def log(msg: str) -> None:
        if not quiet:
            print(f"[rewardlab regression] {msg}", flush=True)

    # before any work: refuse an output_dir the final save would damage (files rewardlab did not write, an input)
    check_output_path(cfg.output_dir, overwrite=cfg.overwrite, inputs=(cfg.data, cfg.eval_data, cfg.model))
    set_seed(cfg.seed)
    k = len(cfg.attributes)
    model, tokenizer = load_reward_model(cfg.model, num_labels=k)
    model.config.id2label = dict(enumerate(cfg.attributes))
    model.config.label2id = {a: i for i, a in enumerate(cfg.attributes)}
    model.to(pick_device(device))
    scorer = RegressionScorer(model, tokenizer, cfg.attributes, cfg.weights, cfg.max_length, cfg.eval_batch_size)

    rows = read_attribute_rows(cfg.data, cfg.attributes, cfg.data_split)
    if cfg.eval_data:
        train_rows, eval_rows = rows, read_attribute_rows(cfg.eval_data, cfg.attributes)
    else:
        train_rows, eval_rows = split_by_prompt(rows, cfg.eval_fraction, cfg.seed)
    if cfg.max_train_rows is not None and len(train_rows) > cfg.max_train_rows:
        train_rows = random.Random(cfg.seed).sample(train_rows, cfg.max_train_rows)
    encoded = [scorer.inner.encoder.encode(r.messages())[0] for r in train_rows]
    labels = torch.tensor([r.labels for r in train_rows], dtype=torch.float32)
    log(f"{len(train_rows)} training rows, {len(eval_rows)} held-out rows, attributes {cfg.attributes}")
    summary: dict[str, Any] = {"kind": "regression", "num_train_rows": len(train_rows),
                               "num_eval_rows": len(eval_rows), "attributes": list(cfg.attributes),
                               "weights": list(cfg.weights)}
    if eval_rows:
        summary["eval_before"] = evaluate_rows(scorer, eval_rows)
        log(f"held-out before: {summary['eval_before']}")
    pad_id, device_ = tokenizer.pad_token_id, next(model.parameters()).device

    def example_losses(idx: list[int]) -> torch.Tensor:
        ids, mask, last = pad_batch([encoded[i] for i in idx], pad_id)
        pred = sequence_rewards(model, ids.to(device_), mask.to(device_), last).reshape(len(idx), k)
        return masked_mse_loss(pred, labels[idx].to(device_))

    train_log = run_training(model, cfg, len(encoded), example_losses, [len(e) for e in encoded], log)
    if eval_rows:
        summary["eval_after"] = evaluate_rows(scorer, eval_rows)
        log(f"held-out after: {summary['eval_after']}")

    out = save_kind_folder(cfg.output_dir, model, tokenizer, "regression", config_to_dict(cfg),
                           {"summary": summary, "train_log": train_log}, attributes=list(cfg.attributes),
                           weights=list(cfg.weights), overwrite=cfg.overwrite)
    summary["train_log"] = train_log
    return TrainResult(out, summary, model, tokenizer)
