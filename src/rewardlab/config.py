"""Typed configuration: one dataclass per stage, loaded from YAML recipes whose keys are exactly the fields,
overridable from the command line (``--key value``). Each field is documented once, in its ``help`` metadata.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import math
import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml


def shipped_recipes() -> Path:
    """The recipes folder inside the installed package (models, data/ mixtures, accelerate/ and deepspeed/ configs),
    found through package resources so that an installed wheel finds it from any working directory."""
    folder = importlib.resources.files("rewardlab") / "recipes"
    # pip unpacks wheels, so this is a real folder; accelerate and deepspeed need real paths anyway.
    return Path(str(folder))


RECIPES = shipped_recipes()


def field(default: Any, help: str, **kw: Any) -> Any:
    return dataclasses.field(default=default, metadata={"help": help}, **kw)


def check_fields(config: Any, names: tuple[str, ...], ok: Any, requirement: str) -> None:
    """One-line ValueError for the first of `names` whose value fails `ok` (None, an unset optional, passes).

    Called from ``__post_init__``, so a bad value stops the run before any model or data loads.
    """
    for name in names:
        value = getattr(config, name)
        if value is not None and not ok(value):
            raise ValueError(f"{name} must be {requirement}, got {value!r}")


def at_least_one(value: Any) -> bool:
    return value >= 1


def positive_finite(value: Any) -> bool:
    return math.isfinite(value) and value > 0


def non_negative_finite(value: Any) -> bool:
    return math.isfinite(value) and value >= 0


def unit_interval(value: Any) -> bool:  # [0, 1)
    return 0.0 <= value < 1.0


def non_empty(value: Any) -> bool:
    return bool(str(value).strip())


def check_seed(seed: int) -> None:
    """numpy's seeded generators (the data order) take 0 .. 2**63 - 1: -1 used to fail after the model loaded."""
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in 0 .. 2**63 - 1, got {seed}")


# ------------------------------------------------------------------------------------------------ field groups
# Shared by every kind's training config: each field is declared (and documented) once here. A kind that needs
# another default says so with `redefault`, which keeps the field's type and documentation (a kind whose rows
# mean something else may give its own help). Bases go in the order (RunFields, OptimFields, DataFields,
# ModelFields, ...): dataclasses then list the model, data, optimisation and run fields first, then the kind's own.


def redefault(group: type, name: str, default: Any, help: str | None = None) -> Any:
    """The `group` field `name` with this kind's `default` (and, where the kind reads it differently, `help`)."""
    base = {f.name: f for f in dataclasses.fields(group)}[name]
    return field(default, help or base.metadata["help"])


@dataclasses.dataclass
class ModelFields:
    model: str = field("smollm2-135m-instruct", "Base model: embedded name (no network needed), local folder or "
                                                "hub id.")
    max_length: int = field(4096, "Tokens per conversation; longer ones are truncated from the left and counted.")


@dataclasses.dataclass
class DataFields:
    data: str = field("demo", "Training rows: 'demo', a file (.json/.jsonl/.jsonl.gz/.parquet), a built mixture "
                              "folder, or a hub dataset id.")
    data_split: str = field("train", "Split to read when `data` is a hub id or a datasets folder.")
    eval_data: str | None = field(None, "Held-out rows (same forms as `data`); default: `eval_fraction` of `data`.")
    eval_fraction: float = field(0.05, "Fraction of `data` held out for evaluation when `eval_data` is not set.")


@dataclasses.dataclass
class OptimFields:
    learning_rate: float = field(1e-5, "Peak learning rate.")
    batch_size: int = field(256, "Examples (pairs, rows, solutions) per optimizer step, over all processes (the "
                                 "recipe's global batch size).")
    micro_batch_size: int = field(1, "Examples per forward pass per process (Bradley-Terry with shared_context: one "
                                     "padding-free row); gradient accumulation makes up the rest.")
    num_epochs: float = field(1.0, "Passes over the training examples (fractions allowed).")
    max_steps: int | None = field(None, "Stop after this many optimizer steps (overrides num_epochs).")
    lr_scheduler: str = field("cosine", "Learning-rate schedule: cosine, linear or constant (after warmup).")
    warmup_ratio: float = field(0.03, "Fraction of the optimizer steps spent warming up linearly.")
    weight_decay: float = field(0.001, "AdamW weight decay (not applied to biases and norms).")
    adam_beta1: float = field(0.9, "AdamW beta1.")
    adam_beta2: float = field(0.999, "AdamW beta2.")
    max_grad_norm: float = field(1.0, "Gradient clipping norm (0 disables).")
    precision: str = field("auto", "bf16, fp16, fp32, or auto (bf16 where the hardware supports it).")


@dataclasses.dataclass
class RunFields:
    output_dir: str = field("outputs/reward-model", "Folder for the trained model folder, logs and checkpoints.")
    overwrite: bool = field(False, "Replace an output_dir that holds files rewardlab did not write, or delete the "
                                   "checkpoints of an earlier run there (never needed for a folder rewardlab "
                                   "wrote, which a new run replaces whole).")
    seed: int = field(42, "Seed for data order, held-out split and initialisation.")


FIELD_GROUPS = (("model", ModelFields), ("data", DataFields), ("optimisation", OptimFields), ("run", RunFields))


def field_groups(cls: type) -> list[tuple[str, list[dataclasses.Field]]]:
    """`cls`'s fields as [(title, fields)]: each shared group it takes, then its own fields ('<Class> fields')."""
    fields = dataclasses.fields(cls)
    out, seen = [], set()
    for title, group in FIELD_GROUPS:
        if issubclass(cls, group):
            names = {f.name for f in dataclasses.fields(group)}
            out.append((f"{title} fields", [f for f in fields if f.name in names]))
            seen |= names
    own = [f for f in fields if f.name not in seen]
    if own:
        out.append((f"{cls.__name__} fields", own))
    return out


@dataclasses.dataclass
class TrainConfig(RunFields, OptimFields, DataFields, ModelFields):
    """`rewardlab train` (Bradley-Terry): the shared model, data, optimisation and run fields, then its own."""

    eval_split: str = field("test", "Split to read when `eval_data` is a hub id or a datasets folder.")
    max_train_pairs: int | None = field(None, "Use at most this many training pairs (after shuffling).")
    max_eval_pairs: int | None = field(None, "Evaluate on at most this many held-out pairs.")
    on_invalid: str = field("drop", "Invalid rows: 'drop' (counted and reported) or 'error' (stop at the first).")
    center_rewards_coefficient: float = field(0.0, "Weight of the reward-centering term mean((r_c + r_r)^2); "
                                                   "0.01 is a common choice.")
    router_aux_loss_coef: float = field(0.0, "Mixture-of-experts models: weight of the router's load-balancing loss "
                                             "(Switch Transformer's, over real tokens only, as transformers' "
                                             "load_balancing_loss_func; 0 disables). Mixtral's config uses 0.02, "
                                             "Qwen-MoE's 0.001.")
    gradient_checkpointing: bool = field(True, "Recompute activations in the backward pass to save memory.")
    length_grouping: bool = field(True, "Sort each optimizer step's pairs by length before cutting micro-batches "
                                        "(less padding; the step's gradient is unchanged).")
    shared_context: bool = field(True, "Compute every shared prefix once and run micro-batches padding-free: one "
                                       "row laid out as a prefix tree [system | context | chosen | rejected | "
                                       "context | ...] whose attention lets each token see only its own "
                                       "sequence (same rewards and gradients as separate padded sequences, "
                                       "fewer tokens).")
    parallel_micro_batches: int = field(0, "CPU, single process: run this many of a step's micro-batches at once, "
                                           "each on its own core(s), instead of splitting every operation across "
                                           "the cores (0: auto, one per torch thread; 1: one after another, "
                                           "bitwise reproducible). Activation memory is that of all micro-"
                                           "batches in flight; the gradient is the same sum.")
    lean_activations: bool = field(True, "Keep fewer tensors for the backward in gated MLPs and RMSNorms (the "
                                         "backward recomputes two elementwise ops; same forward, same gradient "
                                         "to float rounding, about a quarter fewer bytes kept). Single "
                                         "process and DDP; not under DeepSpeed or FSDP.")
    logging_steps: int = field(1, "Log training metrics every this many optimizer steps.")
    eval_steps: int | None = field(None, "Evaluate on the held-out pairs every this many steps (None: at the end only).")
    save_steps: int | None = field(None, "Write a resumable checkpoint every this many steps (None: no checkpoints).")
    save_total_limit: int = field(2, "Keep at most this many checkpoints.")
    resume: bool = field(False, "Continue from the latest intact checkpoint in output_dir (refused when it "
                                "belongs to a run with other data, model or optimisation settings).")
    resume_allow_changes: bool = field(False, "With resume: continue a checkpoint even though the data, model or "
                                              "optimisation settings differ from its run (listed in the log).")
    eval_before_training: bool = field(True, "Also measure held-out accuracy of the untrained model.")
    eval_batch_size: int = field(8, "Conversations per forward pass when evaluating.")
    lora_r: int = field(0, "LoRA rank (peft); 0 trains all weights. The score head is always trained and saved.")
    lora_alpha: int = field(16, "LoRA scaling alpha.")
    lora_dropout: float = field(0.0, "LoRA dropout.")
    lora_target_modules: str = field("all-linear", "Modules that get LoRA adapters: 'all-linear' or a comma list.")
    load_in_4bit: bool = field(False, "QLoRA: load the frozen base in 4-bit (bitsandbytes, CUDA only); needs lora_r.")
    trust_remote_code: bool = field(False, "Allow model code from the hub (off by default: it runs arbitrary code).")
    report_to: str = field("tensorboard", "Where to log: tensorboard or none.")
    num_proc: int = field(1, "Processes for tokenization.")

    def __post_init__(self) -> None:
        if self.parallel_micro_batches < 0:
            raise ValueError(f"parallel_micro_batches must be >= 0 (0 = auto), got {self.parallel_micro_batches}")
        if self.micro_batch_size < 1 or self.batch_size < 1:
            raise ValueError("batch_size and micro_batch_size must be at least 1")
        if self.batch_size % self.micro_batch_size:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of micro_batch_size ({self.micro_batch_size})"
            )
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        if self.on_invalid not in ("drop", "error"):
            raise ValueError(f"on_invalid must be 'drop' or 'error', got {self.on_invalid!r}")
        if self.precision not in ("auto", "bf16", "fp16", "fp32"):
            raise ValueError(f"precision must be auto, bf16, fp16 or fp32, got {self.precision!r}")
        if self.lr_scheduler not in ("cosine", "linear", "constant"):
            raise ValueError(f"lr_scheduler must be cosine, linear or constant, got {self.lr_scheduler!r}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {self.max_length}")
        if self.lora_r < 0:
            raise ValueError(f"lora_r must be >= 0, got {self.lora_r}")
        if self.load_in_4bit and not self.lora_r:
            raise ValueError("load_in_4bit (QLoRA) trains adapters only: set lora_r, e.g. --lora_r 16")
        if self.report_to not in ("tensorboard", "none"):
            raise ValueError(f"report_to must be tensorboard or none, got {self.report_to!r}")
        if not 0.0 <= self.router_aux_loss_coef < float("inf"):  # NaN fails too
            raise ValueError(f"router_aux_loss_coef must be >= 0 (0 disables it), got {self.router_aux_loss_coef}")
        check_fields(self, ("model", "data", "data_split", "eval_split", "lora_target_modules"), non_empty,
                     "a non-empty string (an unset shell variable?)")
        if self.eval_data is not None and not non_empty(self.eval_data):
            raise ValueError("eval_data is empty (an unset shell variable?); give a file or leave it unset")
        check_fields(self, ("logging_steps", "eval_batch_size", "num_proc"), at_least_one, "at least 1")
        check_fields(self, ("max_train_pairs", "max_eval_pairs", "max_steps", "eval_steps", "save_steps"),
                     at_least_one, "at least 1 (or none: no limit)")
        check_fields(self, ("learning_rate", "num_epochs", "lora_alpha"), positive_finite, "a positive number")
        check_fields(self, ("weight_decay", "max_grad_norm", "center_rewards_coefficient"), non_negative_finite,
                     ">= 0")
        check_fields(self, ("adam_beta1", "adam_beta2", "lora_dropout"), unit_interval, "in [0, 1)")
        if self.save_total_limit < 0:
            raise ValueError(f"save_total_limit must be >= 0 (0: keep every checkpoint), got {self.save_total_limit}")
        check_seed(self.seed)


def convert_value(value: Any, annotation: Any, name: str) -> Any:
    """Convert a command-line string (or YAML value) to the field's declared type (resolved, not a string:
    ``typing.get_type_hints``). Tuples and lists take a YAML list or a comma-separated string
    (``--attributes helpfulness,correctness``); their items are converted to the item type."""
    if isinstance(annotation, str):
        raise TypeError(f"{name}: pass the resolved annotation (typing.get_type_hints), not {annotation!r}")
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        annotation = next(a for a in args if a is not type(None))
        args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        if isinstance(value, str):  # the command line: comma-separated, blanks around items ignored
            items = [part.strip() for part in value.split(",")] if value.strip() else []
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise ValueError(f"{name}: expected a list (YAML list or comma-separated), got {value!r}")
        if origin is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):  # fixed length: tuple[int, str]
            if len(items) != len(args):
                raise ValueError(f"{name}: expected {len(args)} comma-separated values, got {value!r}")
            return tuple(convert_value(v, a, name) for v, a in zip(items, args))
        item_type = args[0] if args else Any
        converted = [v if item_type is Any else convert_value(v, item_type, name) for v in items]
        return tuple(converted) if origin is tuple else converted
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name}: expected true/false, got {value!r}")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ValueError(f"{name}: expected a number, got {value!r}")
        try:
            return annotation(value) if annotation is float or isinstance(value, int) else int(str(value))
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected {annotation.__name__}, got {value!r}") from None
    if annotation is str and not isinstance(value, str):
        raise ValueError(f"{name}: expected a string, got {value!r}")
    return value


def shipped_recipe_names() -> list[str]:
    """Shipped YAML recipes by name: 'quickstart', 'gemma-2b-it', 'data/v2', 'accelerate/zero3', ..."""
    return sorted(p.relative_to(RECIPES).with_suffix("").as_posix() for p in RECIPES.rglob("*.yaml"))


def resolve_recipe(name: str) -> Path:
    """A recipe path, or a shipped recipe name ('quickstart', 'gemma-2b-it', 'data/v2', 'data/v2.yaml')."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = name.removeprefix("recipes/")  # the path in a source checkout before recipes moved into the package
    for candidate in (RECIPES / f"{shipped}.yaml", RECIPES / shipped):
        if candidate.is_file():
            return candidate
    if path.is_dir():
        raise IsADirectoryError(f"recipe {name!r} is a folder; give a YAML file")
    raise FileNotFoundError(f"recipe {name!r} not found; shipped recipes: {', '.join(shipped_recipe_names())}")


def read_recipe(recipe: str | os.PathLike, valid_keys: Any) -> tuple[Path, dict[str, Any]]:
    """Resolve `recipe` (path or shipped name), read its YAML mapping and refuse keys outside `valid_keys`.

    Every recipe (a kind's training config, a data mixture) is read here, so they share names, messages and the
    shipped-recipe lookup.
    """
    path = resolve_recipe(str(recipe))
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: a recipe must be a mapping of config fields")
    unknown = sorted(set(loaded) - set(valid_keys))
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; valid keys: {sorted(valid_keys)}")
    return path, loaded


def load_config(cls: type, recipe: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> Any:
    """Build a `cls` config from an optional YAML recipe plus overrides; unknown keys are errors."""
    values: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    if recipe is not None:
        _, loaded = read_recipe(recipe, fields)
        values.update(loaded)
    converted = {k: convert_value(v, hints[k], k) for k, v in values.items()}
    converted.update(convert_overrides(cls, overrides or {}))
    return cls(**converted)


def convert_overrides(cls: type, overrides: dict[str, Any]) -> dict[str, Any]:
    """Command-line ``--key value`` overrides -> typed values for `cls`'s fields; unknown keys are errors."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    out = {}
    for key, value in overrides.items():
        key = key.replace("-", "_")
        if key not in fields:
            raise ValueError(f"unknown option --{key}; valid options: {sorted(fields)}")
        out[key] = convert_value(value, hints[key], key)
    return out


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def copy_recipes(dest: str | os.PathLike = "recipes") -> list[Path]:
    """Copy the shipped recipes into `dest` (default ./recipes) and return the files written.

    `accelerate launch --config_file recipes/accelerate/zero3.yaml` needs real files whose
    ``deepspeed_config_file`` resolves from the working directory; the shipped configs name
    ``recipes/deepspeed/*.json``, rewritten here when `dest` is another folder. Existing files are never replaced.
    """
    dest = Path(dest)
    sources = sorted(p for p in RECIPES.rglob("*") if p.is_file() and p.suffix in (".yaml", ".json"))
    clashes = [str(dest / p.relative_to(RECIPES)) for p in sources if (dest / p.relative_to(RECIPES)).exists()]
    if clashes:
        raise FileExistsError(f"{dest}: would replace {len(clashes)} existing file(s), e.g. {clashes[0]}; "
                              "copy into another folder or remove them first")
    written = []
    for src in sources:
        target = dest / src.relative_to(RECIPES)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = src.read_text(encoding="utf-8")
        if src.parent.name == "accelerate" and dest.as_posix() != "recipes":
            text = text.replace("recipes/deepspeed/", f"{dest.as_posix()}/deepspeed/")
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
