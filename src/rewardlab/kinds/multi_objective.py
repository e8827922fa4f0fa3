"""Multi-objective reward model (ArmoRM-style): ridge objectives on frozen embeddings + a gating network.

Stage 1: the frozen backbone's last-token hidden state of ``prompt + response`` is the response embedding;
one ridge regression per objective maps it to that objective's label (closed form; alpha chosen per objective
on a validation split; missing labels masked). Verbosity de-correlation, APPLIED (upstream ArmoRM computes
the transform but never uses it): every other objective has its least-squares regression on the verbosity
objective subtracted, ``r_i' = r_i - c_i * r_v`` with ``c_i = cov(r_i, r_v) / var(r_v)`` over the training
responses, so the corrected objectives carry no linear length signal.
Stage 2: a small MLP on the prompt embedding gives softmax weights g over the (corrected) objectives; the
reward is ``sum_i g_i * r_i'``, trained with the Bradley-Terry loss on preference pairs (with a learned
temperature inside the loss only).

The trained model is one Hugging Face folder: the backbone (``save_pretrained``, safetensors), its tokenizer,
``multi_objective.safetensors`` (ridge weights, de-correlation matrix, gating net) and ``rewardlab_kind.json``.
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
    check_seed,
    field,
    non_negative_finite,
    positive_finite,
    redefault,
    unit_interval,
)
from rewardlab.fitting.optim import TrainResult
from rewardlab.kinds.regression import HELPSTEER_ATTRIBUTES

Message = dict[str, str]
HEAD_FILE = "multi_objective.safetensors"
DEFAULT_ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)


# ------------------------------------------------------------------------------------------------ pure maths
def ridge_fit(x: torch.Tensor, y: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Ridge regression with an unpenalised intercept, closed form. x [N, D], y [N] -> weight [D], bias [].

    Rows with a NaN label are masked out. w = (Xc^T Xc + alpha I)^-1 Xc^T yc on centred data; b = mean(y) - mean(x) w.
    """
    keep = ~torch.isnan(y)
    x, y = x[keep].double(), y[keep].double()
    if x.shape[0] == 0:
        raise ValueError("ridge_fit: no observed labels")
    mx, my = x.mean(0), y.mean()
    xc, yc = x - mx, y - my
    gram = xc.T @ xc + alpha * torch.eye(x.shape[1], dtype=torch.float64)
    w = torch.linalg.solve(gram, xc.T @ yc)
    return w, my - mx @ w


def masked_mse(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error over the observed (non-NaN) labels. [N], [N] -> float (NaN when none observed)."""
    keep = ~torch.isnan(y)
    return float(((pred[keep].double() - y[keep].double()) ** 2).mean()) if keep.any() else math.nan


def select_ridge_alpha(x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
                       alphas: Sequence[float]) -> tuple[float, dict[float, float]]:
    """The alpha with the lowest validation MSE (ties: the larger alpha, the simpler model) and every MSE."""
    scores = {}
    for a in alphas:
        w, b = ridge_fit(x_train, y_train, a)
        scores[a] = masked_mse(x_val.double() @ w + b, y_val)
    finite = {a: s for a, s in scores.items() if not math.isnan(s)}
    if not finite:  # no validation labels for this objective: the middle of the grid
        return sorted(alphas)[len(alphas) // 2], scores
    best = min(finite.values())
    return max(a for a, s in finite.items() if s == best), scores


def verbosity_decorrelation(rewards: torch.Tensor, verbosity_index: int) -> torch.Tensor:
    """The matrix T [K, K] with corrected = rewards @ T.T, i.e. r_i' = r_i - c_i r_v (c_v = 0). rewards: [N, K].

    c_i = cov(r_i, r_v) / var(r_v): the least-squares slope of objective i on the verbosity objective, so
    every corrected objective has zero covariance with r_v over `rewards`. The verbosity objective is kept.
    """
    r = rewards.double()
    rc = r - r.mean(0)
    v = rc[:, verbosity_index]
    var = (v * v).mean()
    coef = (rc * v[:, None]).mean(0) / var if var > 0 else torch.zeros(r.shape[1], dtype=torch.float64)
    coef[verbosity_index] = 0.0
    t = torch.eye(r.shape[1], dtype=torch.float64)
    t[:, verbosity_index] -= coef
    return t


def gated_score(gates: torch.Tensor, objectives: torch.Tensor) -> torch.Tensor:
    """sum_i g_i r_i. gates, objectives: [N, K] -> [N]."""
    return (gates * objectives).sum(-1)


# -------------------------------------------------------------------------------------------------- modules
class MultiObjectiveHead(torch.nn.Module):
    """Ridge objectives + de-correlation + gating MLP over (response embedding, prompt embedding)."""

    def __init__(self, hidden_size: int, num_objectives: int, gate_hidden: int, gate_mask: Sequence[bool]):
        super().__init__()
        k = num_objectives
        self.register_buffer("ridge_weight", torch.zeros(k, hidden_size))  # [K, D]
        self.register_buffer("ridge_bias", torch.zeros(k))
        self.register_buffer("decorrelation", torch.eye(k))  # [K, K]
        self.register_buffer("gate_mask", torch.tensor(list(gate_mask), dtype=torch.bool))
        self.register_buffer("prompt_mean", torch.zeros(hidden_size))  # standardises the gate's input
        self.register_buffer("prompt_std", torch.ones(hidden_size))
        self.gate = torch.nn.Sequential(torch.nn.Linear(hidden_size, gate_hidden), torch.nn.ReLU(),
                                        torch.nn.Linear(gate_hidden, int(self.gate_mask.sum())))
        self.log_temperature = torch.nn.Parameter(torch.zeros(()))  # used by the training loss only

    def objectives(self, response_emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(raw, corrected) objective scores. [N, D] -> [N, K], [N, K]."""
        raw = response_emb.float() @ self.ridge_weight.T + self.ridge_bias
        return raw, raw @ self.decorrelation.T

    def gates(self, prompt_emb: torch.Tensor) -> torch.Tensor:
        """Softmax weights over the gated objectives, 0 elsewhere. [N, D] -> [N, K]."""
        g = torch.softmax(self.gate((prompt_emb.float() - self.prompt_mean) / self.prompt_std), -1)
        out = torch.zeros(g.shape[0], self.gate_mask.shape[0], dtype=g.dtype, device=g.device)
        out[:, self.gate_mask] = g
        return out

    def forward(self, response_emb: torch.Tensor, prompt_emb: torch.Tensor) -> dict[str, torch.Tensor]:
        raw, corrected = self.objectives(response_emb)
        gates = self.gates(prompt_emb)
        return {"raw": raw, "corrected": corrected, "gates": gates, "score": gated_score(gates, corrected)}


class LastTokenEmbedder:
    """Frozen backbone -> last-token hidden state [N, D] of chat-templated conversations (left-truncated)."""

    def __init__(self, backbone: Any, tokenizer: Any, max_length: int = 4096, batch_size: int = 16):
        from rewardlab.data.templates import ConversationEncoder

        self.backbone = backbone.eval()
        self.encoder = ConversationEncoder(tokenizer, max_length)
        self.batch_size = batch_size
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.truncated = 0

    def encode(self, conversations: Sequence[Sequence[Message]]) -> list[list[int]]:
        encoded = []
        for conv in conversations:
            ids, cut = self.encoder.encode(conv)
            self.truncated += cut
            encoded.append(ids)
        return encoded

    def embed(self, conversations: Sequence[Sequence[Message]]) -> torch.Tensor:
        return self.embed_ids(self.encode(conversations))

    def embed_ids(self, encoded: Sequence[Sequence[int]]) -> torch.Tensor:
        """Last-token hidden states [N, D] of already encoded conversations, batched longest first."""
        from rewardlab.modeling.forward import pad_batch

        device = next(self.backbone.parameters()).device
        out = torch.zeros(len(encoded), self.backbone.config.hidden_size)
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        with torch.inference_mode():
            for k in range(0, len(order), self.batch_size):
                batch = order[k : k + self.batch_size]
                ids, mask, last = pad_batch([encoded[i] for i in batch], self.pad_id)
                hidden = self.backbone(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
                out[batch] = hidden[torch.arange(len(batch), device=hidden.device), last.to(device)].float().cpu()
        return out


def load_backbone(name: str) -> tuple[Any, Any]:
    """(base transformer without LM head, tokenizer), safetensors only."""
    from transformers import AutoModel

    from rewardlab.modeling.loading import load_tokenizer, resolve_model_path

    backbone = AutoModel.from_pretrained(resolve_model_path(name), dtype=torch.float32, use_safetensors=True)
    return backbone, load_tokenizer(name)


# ------------------------------------------------------------------------------------------------- scorer
class MultiObjectiveScorer:
    """Per-objective scores, gating weights and the combined reward; a `RewardJudge` through the combination."""

    kind = "multi_objective"

    def __init__(self, backbone: Any, tokenizer: Any, head: MultiObjectiveHead, objectives: Sequence[str],
                 max_length: int = 4096, batch_size: int = 16):
        self.embedder = LastTokenEmbedder(backbone, tokenizer, max_length, batch_size)
        self.head = head.eval().to(next(backbone.parameters()).device)
        self.objectives = tuple(objectives)

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | None = None, **kwargs: Any) -> MultiObjectiveScorer:
        from safetensors.torch import load_file

        from rewardlab.kinds.finetune import pick_device
        from rewardlab.kinds.folders import read_kind_file

        record = read_kind_file(folder)
        backbone, tokenizer = load_backbone(str(folder))
        objectives = record["objectives"]
        head = MultiObjectiveHead(backbone.config.hidden_size, len(objectives), record["config"]["gate_hidden"],
                                  [o in record["gate_objectives"] for o in objectives])
        head.load_state_dict(load_file(str(Path(folder) / HEAD_FILE)))
        kwargs.setdefault("max_length", record["config"]["max_length"])
        return cls(backbone.to(pick_device(device)), tokenizer, head, objectives, **kwargs)

    @property
    def encoder(self) -> Any:
        """The `ConversationEncoder` (chat template, BOS rule, left truncation) of responses and prompts alike."""
        return self.embedder.encoder

    @property
    def truncated(self) -> int:
        return self.embedder.truncated

    def _forward_ids(self, responses: Sequence[Sequence[int]], prompts: Sequence[Sequence[int]]
                     ) -> dict[str, torch.Tensor]:
        device = self.head.ridge_weight.device
        response, prompt = self.embedder.embed_ids(responses), self.embedder.embed_ids(prompts)
        with torch.inference_mode():
            return {k: v.cpu() for k, v in self.head(response.to(device), prompt.to(device)).items()}

    def _forward(self, conversations: Sequence[Sequence[Message]]) -> dict[str, torch.Tensor]:
        # the gate reads the prompt: every turn before the scored response
        return self._forward_ids(self.embedder.encode(conversations),
                                 self.embedder.encode([list(c[:-1]) for c in conversations]))

    def details_ids(self, responses: Sequence[Sequence[int]], prompts: Sequence[Sequence[int]]
                    ) -> list[dict[str, Any]]:
        """`score_details` of encoded conversations (`responses`) and their encoded prompts (the gate's input)."""
        if not responses:
            return []
        out, names = self._forward_ids(responses, prompts), self.objectives
        return [{"score": float(out["score"][i]), "scores": dict(zip(names, out["raw"][i].tolist())),
                 "corrected": dict(zip(names, out["corrected"][i].tolist())),
                 "gates": dict(zip(names, out["gates"][i].tolist()))} for i in range(len(responses))]

    def score_details(self, conversations: Sequence[Sequence[Message]]) -> list[dict[str, Any]]:
        """Per conversation: the combined ``score``, the raw objective ``scores``, the verbosity-``corrected``
        ones and the ``gates`` (weights of the corrected ones in the score)."""
        return self.details_ids(self.embedder.encode(conversations),
                                self.embedder.encode([list(c[:-1]) for c in conversations]))

    def score(self, conversations: Sequence[Sequence[Message]]) -> list[float]:
        return self._forward(conversations)["score"].tolist() if conversations else []

    def rank_responses(self, groups: Sequence[tuple[Sequence[Message], Sequence[str]]]) -> list[list[float]]:
        from rewardlab.scoring import rank_with_scores

        return rank_with_scores(self.score, groups)


# ---------------------------------------------------------------------------------------------- training
@dataclasses.dataclass
class MultiObjectiveConfig(RunFields, DataFields, ModelFields):
    """`rewardlab train --kind multi_objective`: the shared model, data and run fields (the backbone stays frozen,
    so no optimisation group: the gate has its own few), then its own."""

    data: str = redefault(DataFields, "data", "", "Objective rows in HelpSteer's schema (prompt, response, one "
                                                  "column per objective).")
    eval_fraction: float = redefault(DataFields, "eval_fraction", 0.2, "Fraction of prompts held out for the final "
                                                                       "evaluation.")
    output_dir: str = redefault(RunFields, "output_dir", "outputs/multi-objective-model")
    val_fraction: float = field(0.2, "Fraction of the remaining prompts used to choose each ridge alpha.")
    objectives: tuple[str, ...] = field(HELPSTEER_ATTRIBUTES, "Objective columns, one ridge regression each.")
    verbosity_objective: str | None = field("verbosity", "Objective to de-correlate the others from (None: no "
                                                         "correction).")
    verbosity_in_gate: bool = field(True, "Let the gate weight the verbosity objective itself (as ArmoRM does).")
    pair_objective: str = field("helpfulness", "Stage-2 pairs: same-prompt rows, higher value of this objective "
                                               "= chosen.")
    ridge_alphas: tuple[float, ...] = field(DEFAULT_ALPHAS, "Ridge regularisation grid searched per objective.")
    gate_hidden: int = field(64, "Hidden units of the gating MLP.")
    gate_steps: int = field(300, "Full-batch AdamW steps for the gating network.")
    gate_lr: float = field(1e-3, "Learning rate of the gating network.")
    gate_weight_decay: float = field(0.01, "AdamW weight decay of the gating network.")
    embed_batch_size: int = field(16, "Conversations per frozen forward pass.")
    max_rows: int | None = field(None, "Use at most this many rows of `data` (seeded sample).")

    def __post_init__(self) -> None:
        check_fields(self, ("eval_fraction", "val_fraction"), unit_interval, "in [0, 1)")
        check_fields(self, ("gate_hidden", "gate_steps", "embed_batch_size", "max_rows"), at_least_one, "at least 1")
        check_fields(self, ("gate_lr",), positive_finite, "a positive number")
        check_fields(self, ("gate_weight_decay",), non_negative_finite, ">= 0")
        check_seed(self.seed)
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {self.max_length}")
        self.objectives = tuple(self.objectives)
        self.ridge_alphas = tuple(float(a) for a in self.ridge_alphas)
        if not self.data:
            raise ValueError("set `data` to a file of objective rows in HelpSteer's schema")
        if len(set(self.objectives)) != len(self.objectives) or not self.objectives:
            raise ValueError(f"objectives must be distinct and non-empty, got {self.objectives}")
        if self.verbosity_objective is not None and self.verbosity_objective not in self.objectives:
            raise ValueError(f"verbosity_objective {self.verbosity_objective!r} is not among the objectives "
                             f"{self.objectives}; add it or set verbosity_objective: null")
        if self.pair_objective not in self.objectives:
            raise ValueError(f"pair_objective {self.pair_objective!r} is not among the objectives {self.objectives}")
        if not self.ridge_alphas or min(self.ridge_alphas) <= 0:
            raise ValueError("ridge_alphas must be a non-empty list of positive numbers")
        if self.gated_objectives() == ():
            raise ValueError("no objective left for the gate: set verbosity_in_gate: true or add objectives")

    def gated_objectives(self) -> tuple[str, ...]:
        if self.verbosity_in_gate or self.verbosity_objective is None:
            return self.objectives
        return tuple(o for o in self.objectives if o != self.verbosity_objective)


def fit_objectives(x_fit: torch.Tensor, y_fit: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
                   alphas: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor, list[float], list[dict]]:
    """Stage 1: per objective, alpha by validation MSE, then a refit on fit + val rows. y: [N, K] (NaN masked).

    Returns weight [K, D], bias [K], the chosen alphas and each objective's validation MSEs (and that of
    predicting the training mean, the no-skill baseline).
    """
    weights, biases, chosen, report = [], [], [], []
    for k in range(y_fit.shape[1]):
        alpha, scores = select_ridge_alpha(x_fit, y_fit[:, k], x_val, y_val[:, k], alphas)
        observed = y_fit[:, k][~torch.isnan(y_fit[:, k])]
        baseline = masked_mse(torch.full_like(y_val[:, k], float(observed.mean())), y_val[:, k])
        w, b = ridge_fit(torch.cat([x_fit, x_val]), torch.cat([y_fit[:, k], y_val[:, k]]), alpha)
        weights.append(w)
        biases.append(b)
        chosen.append(alpha)
        report.append({"alpha": alpha, "val_mse": scores[alpha], "val_mse_by_alpha": {str(a): s for a, s in
                                                                                       scores.items()},
                       "val_mse_predict_mean": baseline})
    return torch.stack(weights).float(), torch.stack(biases).float(), chosen, report


def train_gate(head: MultiObjectiveHead, prompt: torch.Tensor, chosen: torch.Tensor, rejected: torch.Tensor,
               steps: int, lr: float, weight_decay: float) -> list[float]:
    """Stage 2: full-batch Bradley-Terry training of the gate (and the loss temperature). Returns the losses.

    prompt, chosen, rejected: [P, D] embeddings of each pair's prompt and responses.
    """
    from rewardlab.losses import bradley_terry_loss

    params = [*head.gate.parameters(), head.log_temperature]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    with torch.no_grad():
        _, rc = head.objectives(chosen)
        _, rr = head.objectives(rejected)
    losses = []
    head.train()
    for _ in range(steps):
        g = head.gates(prompt)
        diff = head.log_temperature.exp() * (gated_score(g, rc) - gated_score(g, rr))
        loss = bradley_terry_loss(diff, torch.zeros_like(diff)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    head.eval()
    return losses


def train_multi_objective(cfg: MultiObjectiveConfig, quiet: bool = False, device: str | None = None) -> TrainResult:
    """Fit the ridge objectives and the gate on a frozen backbone; writes one HF model folder to cfg.output_dir."""

    from rewardlab.config import config_to_dict
    from rewardlab.fitting.optim import set_seed
    from rewardlab.io_utils import check_output_path
    from rewardlab.kinds.finetune import pick_device
    from rewardlab.kinds.folders import save_kind_folder
    from rewardlab.kinds.regression import context_key, pairs_from_rows, read_attribute_rows, split_by_prompt
    from rewardlab.metrics import accuracy_with_interval

    def log(msg: str) -> None:
        if not quiet:
            print(f"[rewardlab multi_objective] {msg}", flush=True)

    # before any work: refuse an output_dir the final save would damage (files rewardlab did not write, an input)
    check_output_path(cfg.output_dir, overwrite=cfg.overwrite, inputs=(cfg.data, cfg.eval_data, cfg.model))
    set_seed(cfg.seed)
    backbone, tokenizer = load_backbone(cfg.model)
    backbone.to(pick_device(device))
    embedder = LastTokenEmbedder(backbone, tokenizer, cfg.max_length, cfg.embed_batch_size)
    rows = read_attribute_rows(cfg.data, cfg.objectives, cfg.data_split)
    if cfg.max_rows is not None and len(rows) > cfg.max_rows:
        rows = random.Random(cfg.seed).sample(rows, cfg.max_rows)
    if cfg.eval_data:
        rest, eval_rows = rows, read_attribute_rows(cfg.eval_data, cfg.objectives)
    else:
        rest, eval_rows = split_by_prompt(rows, cfg.eval_fraction, cfg.seed)
    fit_rows, val_rows = split_by_prompt(rest, cfg.val_fraction, cfg.seed + 1)
    all_rows = [*fit_rows, *val_rows, *eval_rows]
    log(f"{len(fit_rows)} ridge rows, {len(val_rows)} validation rows, {len(eval_rows)} held-out rows")

    # One frozen forward per distinct response and per distinct prompt.
    response_emb = embedder.embed([r.messages() for r in all_rows])
    contexts = {context_key(r.context): r.context for r in all_rows}
    prompt_emb = embedder.embed([list(map(dict, c)) for c in contexts.values()])
    ctx_index = {key: i for i, key in enumerate(contexts)}
    row_index = {(context_key(r.context), r.response): i for i, r in enumerate(all_rows)}
    labels = torch.tensor([r.labels for r in all_rows], dtype=torch.float64)
    n_fit, n_val = len(fit_rows), len(val_rows)
    x_fit, x_val = response_emb[:n_fit], response_emb[n_fit : n_fit + n_val]

    # Stage 1: ridge objectives, then the verbosity de-correlation fitted on the stage-1 rows' predictions.
    weight, bias, alphas, ridge_report = fit_objectives(x_fit, labels[:n_fit], x_val, labels[n_fit : n_fit + n_val],
                                                        cfg.ridge_alphas)
    for name, rep in zip(cfg.objectives, ridge_report):
        log(f"ridge {name}: alpha {rep['alpha']:g}, val MSE {rep['val_mse']:.4f} "
            f"(predicting the mean: {rep['val_mse_predict_mean']:.4f})")
    gated = cfg.gated_objectives()
    head = MultiObjectiveHead(response_emb.shape[1], len(cfg.objectives), cfg.gate_hidden,
                              [o in gated for o in cfg.objectives])
    head.ridge_weight.copy_(weight)
    head.ridge_bias.copy_(bias)
    stage1 = response_emb[: n_fit + n_val]
    raw_stage1, _ = head.objectives(stage1)
    decorrelation = {}
    if cfg.verbosity_objective is not None:
        v = cfg.objectives.index(cfg.verbosity_objective)
        t = verbosity_decorrelation(raw_stage1.detach(), v)
        head.decorrelation.copy_(t.float())
        decorrelation = {o: float(-t[i, v]) if i != v else 0.0 for i, o in enumerate(cfg.objectives)}
        log(f"verbosity de-correlation slopes (subtracted x r_{cfg.verbosity_objective}): {decorrelation}")
    stage_prompts = prompt_emb[[ctx_index[context_key(r.context)] for r in all_rows[: n_fit + n_val]]]
    head.prompt_mean.copy_(stage_prompts.mean(0))
    head.prompt_std.copy_(stage_prompts.std(0).clamp(min=1e-6))

    # Stage 2: the gate, on pairs of same-prompt stage-1 rows.
    pair_weights = [1.0 if o == cfg.pair_objective else 0.0 for o in cfg.objectives]

    def pair_tensors(pairs: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p = prompt_emb[[ctx_index[context_key(x.context)] for x in pairs]]
        c = response_emb[[row_index[(context_key(x.context), x.chosen)] for x in pairs]]
        r = response_emb[[row_index[(context_key(x.context), x.rejected)] for x in pairs]]
        return p, c, r

    train_pairs = pairs_from_rows([*fit_rows, *val_rows], pair_weights)
    eval_pairs = pairs_from_rows(eval_rows, pair_weights)
    if not train_pairs:
        raise ValueError(f"no stage-2 pairs: no prompt has two responses with different {cfg.pair_objective!r}")

    def heldout(head_: MultiObjectiveHead) -> dict[str, Any]:
        if not eval_pairs:
            return {}
        p, c, r = pair_tensors(eval_pairs)
        with torch.no_grad():
            oc, orr = head_(c, p), head_(r, p)
        out = {"gated": accuracy_with_interval(oc["score"].tolist(), orr["score"].tolist())}
        uniform = head_.gate_mask.float() / head_.gate_mask.sum()
        out["uniform_weights"] = accuracy_with_interval((oc["corrected"] @ uniform).tolist(),
                                                        (orr["corrected"] @ uniform).tolist())
        for i, name in enumerate(cfg.objectives):
            out[f"objective:{name}"] = accuracy_with_interval(oc["raw"][:, i].tolist(), orr["raw"][:, i].tolist())
            out[f"corrected:{name}"] = accuracy_with_interval(oc["corrected"][:, i].tolist(),
                                                              orr["corrected"][:, i].tolist())
        return out

    eval_before = heldout(head)  # the untrained (randomly initialised) gate
    losses = train_gate(head, *pair_tensors(train_pairs), cfg.gate_steps, cfg.gate_lr, cfg.gate_weight_decay)
    eval_after = heldout(head)
    log(f"gate BT loss {losses[0]:.4f} -> {losses[-1]:.4f}; held-out gated accuracy "
        f"{eval_before.get('gated', {}).get('accuracy')} -> {eval_after.get('gated', {}).get('accuracy')}")
    if not math.isfinite(losses[-1]):
        raise FloatingPointError("the gate's loss is not finite; lower gate_lr")

    summary: dict[str, Any] = {
        "kind": "multi_objective", "num_fit_rows": n_fit, "num_val_rows": n_val, "num_eval_rows": len(eval_rows),
        "num_train_pairs": len(train_pairs), "num_eval_pairs": len(eval_pairs), "ridge": dict(zip(cfg.objectives,
                                                                                                  ridge_report)),
        "decorrelation_slopes": decorrelation, "gate_loss_first": losses[0], "gate_loss_last": losses[-1],
        "eval_before": eval_before, "eval_after": eval_after, "truncated_conversations": embedder.truncated}
    out = save_kind_folder(cfg.output_dir, backbone, tokenizer, "multi_objective", config_to_dict(cfg),
                           {"summary": summary, "gate_losses": losses}, extra_tensors={HEAD_FILE: head.state_dict()},
                           objectives=list(cfg.objectives), gate_objectives=list(gated), ridge_alphas=alphas,
                           decorrelation_slopes=decorrelation, overwrite=cfg.overwrite)
    summary["gate_losses"] = losses
    return TrainResult(out, summary, (backbone, head), tokenizer)
