"""The one registry of reward-model kinds: each kind is declared here once, and every verb looks it up.

An entry names where the kind lives (its config class, train function and loader, imported only when asked for:
``import rewardlab.kinds`` stays light) and what its trained model can answer:

- ``reward``: a scalar per conversation (`score`; `rewardlab score`, ``/get_reward``, best-of-n by reward);
- ``attribute_scores``: named per-attribute / per-objective scores alongside the reward;
- ``probability``: P(response a better than b) (``/compare``);
- ``step_scores``: a score per reasoning step, aggregated into the reward (``--aggregation``).

`rewardlab train --kind K` takes K's config and train function, `load_scorer` / `load_judge` its loader and load
options, `rewardlab score`, `serve` and `label` its answers. Adding a kind: one module with a config dataclass, a
``train_<kind>(cfg)`` and a scorer class with ``from_pretrained``, plus one entry below.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

ANSWERS = ("reward", "attribute_scores", "probability", "step_scores")


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    config: str  # "module:Class" of the kind's config dataclass
    loader: str  # "module:Class" whose ``from_pretrained(folder, device=..., **options)`` loads a trained folder
    answers: frozenset[str]
    train: str | None = None  # "module:function"; None: the Bradley-Terry trainer (`rewardlab.training`, the cli's)
    load_options: tuple[str, ...] = ("batch_size", "max_length")  # the `load_scorer` options its loader takes
    # `model_type` in reward-bench's flat results file. Upstream (rewardbench/models/__init__.py REWARD_MODEL_CONFIG)
    # labels AutoModelForSequenceClassification models "Seq. Classifier" and models with their own pipeline
    # "Custom Classifier": ArmoRM (multi-objective) and the pairwise preference models (RLHFlow
    # pair-preference-model, PairRM, SteamSHP); a process model reads its own step positions, so the latter too.
    upstream_model_type: str = "Custom Classifier"
    summary: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.answers) - set(ANSWERS)
        if unknown or not self.answers:
            raise ValueError(f"kind {self.name}: answers must be a non-empty subset of {ANSWERS}, got {self.answers}")

    def config_class(self) -> type:
        return _resolve(self.config)

    def train_function(self) -> Any:
        return _resolve(self.train) if self.train else None

    def loader_class(self) -> type:
        return _resolve(self.loader)

    @property
    def gives_reward(self) -> bool:
        return "reward" in self.answers

    def verbs(self) -> str:
        """The verbs that use a trained model of this kind (printed after training)."""
        return "eval / score / serve / label" if self.gives_reward else "eval / serve / label"


def _resolve(target: str) -> Any:
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


REGISTRY: dict[str, Kind] = {k.name: k for k in (
    Kind("bradley_terry", "rewardlab.config:TrainConfig", "rewardlab.scoring:RewardScorer",
         frozenset({"reward", "probability"}), upstream_model_type="Seq. Classifier",
         load_options=("batch_size", "max_length", "dtype", "trust_remote_code", "max_tokens_per_batch",
                       "show_progress"),
         summary="a scalar reward per conversation, Bradley-Terry loss on chosen/rejected pairs"),
    Kind("pairwise", "rewardlab.kinds.pairwise:PairwiseConfig", "rewardlab.kinds.pairwise:PairwiseJudge",
         frozenset({"probability"}), train="rewardlab.kinds.pairwise:train_pairwise",
         summary='a causal LM answers "A" or "B" for a prompt and two responses'),
    Kind("regression", "rewardlab.kinds.regression:RegressionConfig",
         "rewardlab.kinds.regression:RegressionScorer", frozenset({"reward", "attribute_scores"}),
         train="rewardlab.kinds.regression:train_regression", upstream_model_type="Seq. Classifier",
         load_options=("batch_size", "max_length", "max_tokens_per_batch", "show_progress"),
         summary="multi-attribute regression with masked MSE, HelpSteer-style"),
    Kind("multi_objective", "rewardlab.kinds.multi_objective:MultiObjectiveConfig",
         "rewardlab.kinds.multi_objective:MultiObjectiveScorer",
         frozenset({"reward", "attribute_scores", "probability"}),
         train="rewardlab.kinds.multi_objective:train_multi_objective",
         summary="ArmoRM-style ridge objectives + gating network"),
    Kind("process", "rewardlab.kinds.process:ProcessConfig", "rewardlab.kinds.process:ProcessScorer",
         frozenset({"reward", "step_scores"}), train="rewardlab.kinds.process:train_process",
         load_options=("batch_size", "max_length", "aggregation"),
         summary="a score per reasoning step, aggregated into the reward"),
)}


def get_kind(name: str) -> Kind:
    if name not in REGISTRY:
        raise ValueError(f"--kind must be {', '.join(REGISTRY)}; got {name!r}")
    return REGISTRY[name]


def kind_of(model: Any) -> Kind:
    """The kind of a loaded model (its scorer's ``kind``; anything without one is served as Bradley-Terry)."""
    return get_kind(getattr(model, "kind", "bradley_terry"))
