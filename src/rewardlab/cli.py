"""The `rewardlab` command: parses arguments and calls one library function per verb.

Config-driven verbs (train, quickstart) take an optional YAML recipe plus ``--field value`` overrides whose
names are the config dataclass fields; ``rewardlab train --help`` lists them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from rewardlab.data.schema import DataError


def parse_overrides(extra: list[str]) -> dict[str, Any]:
    """``--key value`` / ``--key=value`` / bare ``--flag`` (true) pairs -> dict."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(extra):
        token = extra[i]
        if not token.startswith("--"):
            raise ValueError(f"unexpected argument {token!r}; overrides look like --learning_rate 1e-5")
        key = token[2:]
        if "=" in key:
            key, value = key.split("=", 1)
        elif i + 1 < len(extra) and not extra[i + 1].startswith("--"):
            value = extra[i + 1]
            i += 1
        else:
            value = "true"
        out[key.replace("-", "_")] = value
        i += 1
    return out


def _check_model_name(name: str, device: str | None = None) -> None:
    """A model argument that can only be a local path and does not exist, or is not a model folder, fails now
    (not after 30-50 s of hub retries); so does a --device this machine lacks."""
    from rewardlab.preflight import check_device, check_model

    check_model(name)
    check_device(device)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a batch size of 0 used to fail after the model loaded)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _config_help(cls: type) -> str:
    """The fields of a config class, by shared group (model, data, optimisation, run) then the class's own."""
    from rewardlab.config import field_groups

    lines = ["config fields (override any with --name value; lists as a,b,c):"]
    for title, fields in field_groups(cls):
        lines.append(f"\n {title}:")
        for f in fields:
            default = ",".join(map(str, f.default)) if isinstance(f.default, (tuple, list)) else f.default
            lines.append(f"  --{f.name:<28} {f.metadata.get('help', '')} [default: {default}]")
    return "\n".join(lines)


def _kind_config(kind: str) -> type:
    """The config class of `rewardlab train --kind KIND` (the kind registry's; refuses an unknown kind)."""
    from rewardlab.kinds.registry import get_kind

    return get_kind(kind).config_class()


MAX_LENGTH_HELP = ("tokens per conversation, longer ones truncated from the left (default: the model's own: a kind "
                   "folder's training max_length, else 4096)")
AGGREGATION_HELP = "process reward models: how step scores make the reward (default: the model's own)"


def cmd_train(args: argparse.Namespace, extra: list[str]) -> int:
    from rewardlab.config import TrainConfig, load_config
    from rewardlab.kinds.registry import get_kind
    from rewardlab.preflight import check_training_inputs
    from rewardlab.training.trainer import train

    overrides = parse_overrides(extra)
    kind = overrides.pop("kind", "bradley_terry")
    entry = get_kind(kind)  # refuses an unknown kind
    kind_train = entry.train_function()
    if kind_train is not None:  # the recipe's to-do list: other reward-model kinds, same flow
        cfg = load_config(entry.config_class(), args.recipe, overrides)
        check_training_inputs(cfg)
        result = kind_train(cfg)
        print(f"{kind} model: {result.output_dir}  ({entry.verbs()} load it by its rewardlab_kind.json)")
        return 0
    cfg = load_config(TrainConfig, args.recipe, overrides)
    result = train(cfg)
    _print_result(result)
    return 0


def _print_result(result: Any) -> None:
    import os

    from rewardlab.metrics import interval_note

    if int(os.environ.get("RANK", "0")) != 0:  # under accelerate/torchrun only rank 0 reports
        return
    s = result.summary
    print()
    for label, key in (("before training", "eval_before"), ("after training ", "eval_after")):
        e = s.get(key)
        if e:
            note = interval_note(e["num_pairs"], e["accuracy_ci_low"], e["accuracy_ci_high"])
            interval = note or f"95% CI {e['accuracy_ci_low']:.3f}-{e['accuracy_ci_high']:.3f}, {e['num_pairs']} pairs"
            print(f"held-out accuracy {label}: {e['accuracy']:.3f}  ({interval})")
    out = result.output_dir
    print(f"model:          {out}")
    print(f"training curve: {out / 'training_curve.png'}")
    print(f"model card:     {out / 'README.md'}")
    print(f"tensorboard:    tensorboard --logdir {out / 'logs'}")
    print(f"score with it:  rewardlab score {out} conversations.jsonl")


def cmd_quickstart(args: argparse.Namespace, extra: list[str]) -> int:
    from rewardlab.config import TrainConfig, load_config
    from rewardlab.training.trainer import train

    cfg = load_config(TrainConfig, "quickstart", parse_overrides(extra))
    print(f"[rewardlab] quickstart: training {cfg.model} on the bundled demo set -> {cfg.output_dir}")
    result = train(cfg)
    _print_result(result)
    return 0


def cmd_score(args: argparse.Namespace, extra: list[str]) -> int:
    from rewardlab.kinds import score_command
    from rewardlab.preflight import check_input_file, check_output_file

    _check_model_name(args.model, args.device)
    check_input_file(args.input, "input")
    check_output_file(args.output, "--output", inputs=(args.input,))
    return score_command(args.model, args.input, args.output, device=args.device, batch_size=args.batch_size,
                         max_length=args.max_length, dtype=args.dtype)


def cmd_data_build(args: argparse.Namespace, extra: list[str]) -> int:
    import typing

    from rewardlab.config import convert_value
    from rewardlab.data.cli_commands import build_command
    from rewardlab.data.mixtures import DataBuildConfig
    from rewardlab.preflight import check_model

    overrides = parse_overrides(extra)
    scalar = {k: t for k, t in typing.get_type_hints(DataBuildConfig).items() if t in (int, float, bool)}
    for key, value in overrides.items():  # `--seed abc` used to reach the build as a string
        if key in scalar:
            overrides[key] = convert_value(value, scalar[key], key)
    if overrides.get("tokenizer") not in (None, "null", "none"):
        check_model(str(overrides["tokenizer"]), "--tokenizer")
    from rewardlab.modeling.loading import load_tokenizer

    return build_command(args.recipe, args.out, overrides, overwrite=args.overwrite, load_tokenizer=load_tokenizer)


def cmd_data_stats(args: argparse.Namespace, extra: list[str]) -> int:
    from rewardlab.data.cli_commands import stats_command
    from rewardlab.modeling.loading import load_tokenizer

    return stats_command(args.dataset, load_tokenizer=load_tokenizer)


def cmd_recipes(args: argparse.Namespace, extra: list[str]) -> int:
    from rewardlab.config import copy_recipes, resolve_recipe, shipped_recipe_names

    if args.copy is not None:
        written = copy_recipes(args.copy)
        print(f"wrote {len(written)} recipe files under {args.copy}/")
    elif args.name:
        print(resolve_recipe(args.name).resolve())
    else:
        print("\n".join(shipped_recipe_names()))
    return 0


def cmd_eval(args: argparse.Namespace, extra: list[str]) -> int:
    from rewardlab.evaluation.cli_commands import eval_command
    from rewardlab.kinds import KIND_FILE, load_scorer
    from rewardlab.preflight import check_local_or_hub, check_output_folder

    _check_model_name(args.model, args.device)
    if args.benchmark == "pairs" and not args.data:
        raise ValueError("--benchmark pairs needs a file of held-out pairs: --data FILE")
    check_local_or_hub(args.data, "--data")
    check_output_folder(args.out, "--out")
    if args.benchmark in ("processbench", "steps"):  # step-level benchmarks of process reward models
        from rewardlab.evaluation.processbench import process_eval_command

        return process_eval_command(args.model, benchmark=args.benchmark, data=args.data, out_dir=args.out,
                                    split=args.split, limit=args.limit, batch_size=args.batch_size,
                                    max_length=args.max_length, bootstrap_samples=args.bootstrap,
                                    device=args.device, overwrite=args.overwrite)
    judge = None
    if (Path(args.model) / KIND_FILE).exists():  # pairwise / regression / multi-objective folders
        judge = load_scorer(args.model, device=args.device, max_length=args.max_length, batch_size=args.batch_size)
    return eval_command(args.model, benchmark=args.benchmark, data=args.data, out_dir=args.out, judge=judge,
                        batch_size=args.batch_size, max_length=args.max_length, tie_policy=args.ties,
                        weights=args.weights,
                        bootstrap_samples=args.bootstrap, split=args.split, limit=args.limit, device=args.device,
                        trust_remote_code=args.trust_remote_code, update_card=args.update_card,
                        overwrite=args.overwrite)


def cmd_merge(args: argparse.Namespace, extra: list[str]) -> int:
    from rewardlab.modeling.lora import is_adapter_dir
    from rewardlab.modeling.merge import merge_adapter
    from rewardlab.preflight import check_output_folder

    if not Path(args.adapter).is_dir():
        raise FileNotFoundError(f"{args.adapter}: no such folder (merge takes the folder a --lora_r training wrote)")
    if not is_adapter_dir(args.adapter):
        raise ValueError(f"{args.adapter} is not a LoRA adapter folder (no adapter_config.json): it was not trained "
                         "with --lora_r, so it is already a full model and there is nothing to merge")
    check_output_folder(args.out, "--out")
    out = merge_adapter(args.adapter, args.out, overwrite=args.overwrite)
    print(f"merged {args.adapter} -> {out} (a full AutoModelForSequenceClassification folder)")
    return 0


def cmd_serve(args: argparse.Namespace, extra: list[str]) -> int:
    from rewardlab.config import convert_overrides
    from rewardlab.serving.cli_commands import API_KEY_ENV, serve_command
    from rewardlab.serving.config import ServeConfig

    overrides = convert_overrides(ServeConfig, parse_overrides(extra))
    # An empty key would mean "no auth" further down: `--api-key "$UNSET"` must not open the server.
    if args.api_key is not None and not args.api_key.strip():
        raise ValueError("--api-key is empty (an unset shell variable?); give a key, or leave the option out "
                         "to serve without one")
    if args.api_key is None and API_KEY_ENV in os.environ and not os.environ[API_KEY_ENV].strip():
        raise ValueError(f"${API_KEY_ENV} is set but empty; set a key or unset the variable")
    if not args.host.strip():  # uvicorn would bind every interface: exposing the server must be spelled out
        raise ValueError("--host is empty (an unset shell variable?); give an address, e.g. 127.0.0.1 or 0.0.0.0")
    _check_model_name(args.model, args.device)
    return serve_command(args.model, host=args.host, port=args.port, api_key=args.api_key, device=args.device,
                         dtype=args.dtype, max_length=args.max_length, trust_remote_code=args.trust_remote_code,
                         log_level=args.log_level, aggregation=args.aggregation, **overrides)


def cmd_label(args: argparse.Namespace, extra: list[str]) -> int:
    from rewardlab.labeling import label_command
    from rewardlab.preflight import check_input_file, check_output_file

    if args.out_best is None and args.out_pairs is None:
        raise ValueError("nothing to write: pass --out-best, --out-pairs or both")
    _check_model_name(args.model, args.device)
    check_input_file(args.input, "input")
    check_output_file(args.out_best, "--out-best", inputs=(args.input,))
    check_output_file(args.out_pairs, "--out-pairs", inputs=(args.input,))
    if args.out_best and args.out_pairs and Path(args.out_best).resolve() == Path(args.out_pairs).resolve():
        raise ValueError(f"--out-best and --out-pairs are the same file ({args.out_best}): the pairs would replace "
                         "the best-of-n rows; give two names")
    return label_command(args.model, args.input, out_best=args.out_best, out_pairs=args.out_pairs, mode=args.mode,
                         margin=args.margin, pair_format=args.pair_format, on_invalid=args.on_invalid,
                         device=args.device, dtype=args.dtype, batch_size=args.batch_size,
                         max_length=args.max_length, trust_remote_code=args.trust_remote_code,
                         aggregation=args.aggregation)


def build_parser() -> argparse.ArgumentParser:
    from rewardlab import __version__
    from rewardlab.config import TrainConfig

    parser = argparse.ArgumentParser(prog="rewardlab", description="Train, evaluate and serve reward models.")
    parser.add_argument("--version", action="version", version=f"rewardlab {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True)

    from rewardlab.kinds.registry import REGISTRY

    p = sub.add_parser("train", help=f"train a reward model (--kind {', '.join(REGISTRY)}; default bradley_terry; "
                                     "`train --kind K --help` lists K's fields)",
                       epilog=_config_help(TrainConfig), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", help="YAML recipe (path or shipped name, e.g. quickstart, gemma-2b-it), "
                                             "followed by --field value overrides")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("quickstart", help="train + evaluate the embedded model on the bundled demo set",
                       epilog=_config_help(TrainConfig), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=cmd_quickstart)

    p = sub.add_parser("score", help="score conversations in a JSONL file (any kind but pairwise)")
    p.add_argument("model", help="reward model folder (any kind but pairwise) or hub id")
    p.add_argument("input", help="JSONL: rows with 'messages' (a conversation) or 'prompt' + 'response'")
    p.add_argument("-o", "--output", help="output JSONL (default: stdout); each row gains 'reward' (and 'scores', "
                                          "per attribute / objective, from regression and multi-objective models)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--max-length", type=positive_int, default=None, help=MAX_LENGTH_HELP)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)")
    p.add_argument("--dtype", default=None, choices=[None, "float32", "bfloat16", "float16"],
                   help="weights and activations (default: bfloat16 on CUDA, else float32); bfloat16 is faster on "
                        "a CPU with bf16 matrix units, at some agreement (benchmarks/rollout_scoring.py measures both)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("eval", help="RewardBench v1/v2 or held-out pairs accuracy, with 95%% bootstrap intervals")
    p.add_argument("model", help="reward model folder of any kind, or hub id")
    p.add_argument("--benchmark", choices=["rewardbench", "rewardbench2", "pairs", "processbench", "steps"],
                   default="rewardbench", help="processbench / steps: process reward models (ProcessBench's schema "
                                               "/ step-labelled rows, --data FILE)")
    p.add_argument("--data", help="local file/folder in the benchmark's schema (default: the hub dataset); "
                                  "required for --benchmark pairs")
    p.add_argument("--split", default=None, help="split to read (default: the benchmark's official split)")
    p.add_argument("--out", default=None, help="results folder (default: <model>/eval/<benchmark>)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--max-length", type=positive_int, default=2048, help="tokens (RewardBench's official run uses 2048)")
    p.add_argument("--ties", choices=["wrong", "half"], default="wrong",
                   help="a tie counts as wrong (official leaderboard) or as half right")
    p.add_argument("--weights", choices=["leaderboard", "legacy-2024-09"], default="leaderboard",
                   help="RewardBench v1 subset weights: upstream's today, or those before 2024-09-10 (XSTest 250/154) "
                        "to reproduce older model cards")
    p.add_argument("--bootstrap", type=positive_int, default=1000, help="bootstrap resamples for the 95%% intervals")
    p.add_argument("--limit", type=positive_int, default=None, help="evaluate only the first N rows (smoke tests)")
    p.add_argument("--device", default=None)
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--update-card", action="store_true", help="write the results into the model's README.md")
    p.add_argument("--overwrite", action="store_true", help="replace an output folder holding files rewardlab did not write (one it wrote is replaced anyway)")
    p.set_defaults(func=cmd_eval)

    from rewardlab.serving.config import ServeConfig

    p = sub.add_parser("serve", help="HTTP server: POST /v1/rewards, /get_reward (OpenRLHF), /classify /pooling "
                                     "(vLLM, SGLang), /compare; GET /health",
                       epilog=_config_help(ServeConfig), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="reward model folder of any kind, or hub id")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", default=None, help="require this key (default: $REWARDLAB_API_KEY if set)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None, choices=[None, "float32", "bfloat16", "float16"])
    p.add_argument("--max-length", type=positive_int, default=None, help=MAX_LENGTH_HELP)
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--log-level", default="info")
    p.add_argument("--aggregation", choices=["min", "last", "product", "mean"], default=None,
                   help=AGGREGATION_HELP)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("label", help="best-of-n choice and chosen/rejected pairs for rejection sampling / iterative DPO")
    p.add_argument("model", help="reward model folder of any kind, or hub id")
    p.add_argument("input", help='JSONL rows {"prompt": str or messages, "responses": [str, ...]}')
    p.add_argument("--out-best", help="JSONL of best-of-n choices (rows gain best_index, best_response and the "
                                      "rewards; pairwise models: the knockout winner)")
    p.add_argument("--out-pairs", help="JSONL of chosen/rejected pairs in the training format, rewards kept")
    p.add_argument("--mode", choices=["best_worst", "all_pairs"], default="best_worst")
    p.add_argument("--margin", type=float, default=0.0, help="keep pairs whose reward gap exceeds this (pairwise "
                                                             "models: P(chosen better) - P(rejected better))")
    p.add_argument("--pair-format", choices=["trl", "record"], default="trl")
    p.add_argument("--on-invalid", choices=["error", "drop"], default="error")
    p.add_argument("--aggregation", choices=["min", "last", "product", "mean"], default=None,
                   help=AGGREGATION_HELP)
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None, choices=[None, "float32", "bfloat16", "float16"])
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--max-length", type=positive_int, default=None, help=MAX_LENGTH_HELP)
    p.add_argument("--trust-remote-code", action="store_true")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("merge", help="merge a LoRA reward model (adapter folder) into a full model folder")
    p.add_argument("adapter", help="folder written by training with --lora_r")
    p.add_argument("--out", required=True, help="output folder for the merged model")
    p.add_argument("--overwrite", action="store_true", help="replace an output folder holding files rewardlab did not write (one it wrote is replaced anyway)")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("recipes", help="list the shipped recipes, print one's path, or copy them all (for "
                                       "accelerate launch --config_file recipes/accelerate/...)")
    p.add_argument("name", nargs="?", help="print this shipped recipe's path (e.g. accelerate/zero3, "
                                           "deepspeed/zero3.json)")
    p.add_argument("--copy", nargs="?", const="recipes", default=None, metavar="DIR",
                   help="copy every shipped recipe into DIR (default: ./recipes); existing files are kept")
    p.set_defaults(func=cmd_recipes)

    data = sub.add_parser("data", help="build preference mixtures and their statistics tables")
    dsub = data.add_subparsers(dest="data_verb", required=True)
    p = dsub.add_parser("build", help="build a mixture recipe (a file or a shipped name, e.g. data/v2) into an Arrow "
                                          "dataset")
    p.add_argument("recipe")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace an output folder holding files rewardlab did not write (one it wrote is replaced anyway)")
    p.set_defaults(func=cmd_data_build)
    p = dsub.add_parser("stats", help="print the statistics table of a built mixture")
    p.add_argument("dataset")
    p.set_defaults(func=cmd_data_stats)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] == "train" and {"-h", "--help"} & set(argv[1:]):
        _describe_kind(parser, argv)  # `rewardlab train --kind K --help` lists K's fields
    if argv and argv[0] in ("train", "quickstart") and not {"-h", "--help"} & set(argv[1:]):
        # Config verbs: [RECIPE] then --field value pairs; argparse would mistake a value for the recipe.
        rest = argv[1:]
        recipe = rest.pop(0) if argv[0] == "train" and rest and not rest[0].startswith("--") else None
        args = argparse.Namespace(verb=argv[0], recipe=recipe, func=cmd_train if argv[0] == "train" else cmd_quickstart)
        extra = rest
    else:
        args, extra = parser.parse_known_args(_dashed_options(parser, argv))
    if extra and not (args.verb in ("train", "quickstart", "serve") or getattr(args, "data_verb", None) == "build"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args, extra)
    except (DataError, ValueError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError,
            NotADirectoryError) as e:
        print(f"rewardlab {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # unreachable hub, full disk, unreadable file: say what, without a traceback
        print(f"rewardlab {args.verb}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a failure no check foresaw: one line, the traceback on request
        if os.environ.get("REWARDLAB_TRACEBACK"):
            raise
        print(f"rewardlab {args.verb}: error: {type(e).__name__}: {e} (REWARDLAB_TRACEBACK=1 shows where; "
              "please report it)", file=sys.stderr)
        return 1


def _describe_kind(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Point the train verb's help at the config of the `--kind` in `argv` (default: Bradley-Terry)."""
    kind = "bradley_terry"
    for i, token in enumerate(argv):
        if token == "--kind" and i + 1 < len(argv):
            kind = argv[i + 1]
        elif token.startswith("--kind="):
            kind = token.split("=", 1)[1]
    try:
        cls = _kind_config(kind)
    except ValueError as e:
        parser.error(str(e))
    train = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    train.description = f"Train a reward model of kind {kind}: rewardlab train [RECIPE] --kind {kind} [--field value]."
    train.epilog = _config_help(cls)


def _dashed_options(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """`--api_key x` -> `--api-key x` where the verb has that option: train's config fields are spelled with '_',
    so users type them that way elsewhere too (serve took `--api_key` for a ServeConfig field and crashed)."""
    known: set[str] = set()
    current = parser
    for token in argv[:2]:  # the verb, and a sub-verb (`data build`)
        subparsers = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers or token not in subparsers[0].choices:
            break
        current = subparsers[0].choices[token]
        known = set(current._option_string_actions)
    out = []
    for token in argv:
        name, eq, value = token.partition("=")
        dashed = name.replace("_", "-")
        out.append(dashed + eq + value if name.startswith("--") and name not in known and dashed in known else token)
    return out


if __name__ == "__main__":
    sys.exit(main())
