"""Validate before work, and small data trains (issue 18, items 4 and 5).

Every bad value stops the command in milliseconds with one `error:` line and exit code 2, before a model or a
data file loads; a file smaller than the batch trains (clamped batch, no zero learning rate on the first step).
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from rewardlab.cli import main
from rewardlab.config import TrainConfig
from rewardlab.fitting.batching import fit_batch_size, total_steps
from rewardlab.preflight import (
    check_local_or_hub,
    check_output_file,
    check_output_folder,
    is_hub_id_form,
    looks_like_path,
)


@pytest.fixture
def no_loading(monkeypatch):
    """Any model load or hub dataset call fails the test: the checks must come first."""
    import datasets

    import rewardlab.kinds
    import rewardlab.modeling.loading

    def refuse(*args, **kwargs):
        raise AssertionError("loaded a model or hub dataset before the input checks")

    monkeypatch.setattr(rewardlab.modeling.loading, "load_reward_model", refuse)
    monkeypatch.setattr(rewardlab.kinds, "load_scorer", refuse)
    monkeypatch.setattr(datasets, "load_dataset", refuse)


def run_cli(argv, capsys):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    return rc, err


# ----------------------------------------------------------------------------------------- config values
@pytest.mark.parametrize(("option", "value", "message"), [
    ("logging_steps", "0", "logging_steps must be at least 1, got 0"),
    ("eval_batch_size", "0", "eval_batch_size must be at least 1, got 0"),
    ("max_train_pairs", "0", "max_train_pairs must be at least 1 (or none: no limit), got 0"),
    ("max_train_pairs", "-3", "max_train_pairs must be at least 1 (or none: no limit), got -3"),
    ("max_steps", "0", "max_steps must be at least 1"),
    ("eval_steps", "-1", "eval_steps must be at least 1"),
    ("learning_rate", "nan", "learning_rate must be a positive number, got nan"),
    ("num_epochs", "0", "num_epochs must be a positive number"),
    ("adam_beta2", "1", "adam_beta2 must be in [0, 1)"),
    ("weight_decay", "-0.1", "weight_decay must be >= 0"),
    ("save_total_limit", "-1", "save_total_limit must be >= 0"),
    ("seed", "-1", "seed must be in 0 .. 2**63 - 1, got -1"),
    ("data", "", "data must be a non-empty string"),
    ("eval_data", "", "eval_data is empty"),
])
def test_bad_train_values_are_one_line_errors_before_anything_loads(option, value, message, capsys, no_loading):
    rc, err = run_cli(["train", f"--{option}", value], capsys)
    assert rc == 2
    assert err == f"rewardlab train: error: {message}" or (err.startswith("rewardlab train: error: ")
                                                           and message in err and "\n" not in err)


def test_kind_configs_check_their_optimisation_values(capsys, no_loading):
    rc, err = run_cli(["train", "--kind", "pairwise", "--micro_batch_size", "0"], capsys)
    assert (rc, err) == (2, "rewardlab train: error: micro_batch_size must be at least 1, got 0")
    rc, err = run_cli(["train", "--kind", "regression", "--data", "x.jsonl", "--warmup_ratio", "1.5"], capsys)
    assert (rc, err) == (2, "rewardlab train: error: warmup_ratio must be in [0, 1), got 1.5")
    rc, err = run_cli(["train", "--kind", "multi_objective", "--data", "x.jsonl", "--gate_steps", "0"], capsys)
    assert (rc, err) == (2, "rewardlab train: error: gate_steps must be at least 1, got 0")
    rc, err = run_cli(["train", "--kind", "pairwise", "--eval_fraction", "1"], capsys)
    assert (rc, err) == (2, "rewardlab train: error: eval_fraction must be in [0, 1), got 1.0")


# ----------------------------------------------------------------------------------------- names and paths
def test_hub_id_form_agrees_with_huggingface_hub():
    """Our check against huggingface_hub's own validate_repo_id (huggingface_hub/utils/_validators.py) on its
    docstring's examples and path-like names users type."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    names = ["foo", "foo/bar", "123", "Foo-BAR_foo.bar123", "datasets/foo/bar", ".repo_id", "foo--bar", "foo.git",
             "Skywork/Skywork-Reward-V2-Llama-3.1-8B", "allenai/reward-bench", "./data.jsonl", "~/pairs.jsonl",
             "a b", "org/name-", "-org/name", "x" * 97, "my_pairs.jsonl", "C:\\data\\pairs.jsonl"]
    for name in names:
        try:
            validate_repo_id(name)
            valid = True
        except HFValidationError:
            valid = False
        assert is_hub_id_form(name) == valid, name


@pytest.mark.parametrize(("name", "path_like"), [
    ("./pairs", True), ("../pairs", True), ("/data/pairs", True), ("~/pairs", True), ("pairs.jsonl", True),
    ("pairs.jsonl.gz", True), ("model.safetensors", True), ("a/b/c", True), ("my pairs", True),
    ("Anthropic/hh-rlhf", False), ("org/Llama-3.1-8B", False), ("gpt2", False),
])
def test_looks_like_path(name, path_like):
    assert looks_like_path(name) == path_like


def test_a_local_folder_prefix_makes_a_name_path_like(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not looks_like_path("outputs/reward-model")
    (tmp_path / "outputs").mkdir()
    assert looks_like_path("outputs/reward-model")  # the user's own folder, not yet trained into


def test_missing_local_names_fail_and_hub_ids_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data ./nope.jsonl: no such file or folder"):
        check_local_or_hub("./nope.jsonl", "data")
    with pytest.raises(FileNotFoundError, match="folder .*missing does not exist either"):
        check_local_or_hub(str(tmp_path / "missing" / "x.jsonl"), "data")
    with pytest.raises(ValueError, match="model is empty"):
        check_local_or_hub(" ", "model")
    check_local_or_hub("Anthropic/hh-rlhf", "data")  # may be a hub dataset: left to the reader
    check_local_or_hub("demo", "data", special=("demo",))
    (tmp_path / "p.jsonl").write_text("")
    check_local_or_hub(str(tmp_path / "p.jsonl"), "data")


def test_output_checks(tmp_path):
    a_file = tmp_path / "f.jsonl"
    a_file.write_text("x")
    check_output_file(str(tmp_path / "new" / "deeper" / "out.jsonl"), "-o")  # folders can be made
    check_output_file(str(a_file), "-o")  # replaced
    check_output_file(None, "-o")  # stdout
    with pytest.raises(ValueError, match="is a folder; give a file name"):
        check_output_file(str(tmp_path), "-o")
    with pytest.raises(ValueError, match="f.jsonl is a file, so no folder can be made there"):
        check_output_file(str(a_file / "out.jsonl"), "-o")
    check_output_folder(str(tmp_path / "results"), "--out")
    with pytest.raises(ValueError, match="is a file; give a folder"):
        check_output_folder(str(a_file), "--out")
    with pytest.raises(ValueError, match="f.jsonl is a file"):
        check_output_folder(str(a_file / "sub"), "--out")


# ----------------------------------------------------------------------------------------- verbs
def test_train_refuses_a_missing_data_file_before_loading(tmp_path, tiny_model_dir, capsys, no_loading):
    rc, err = run_cli(["train", "--model", str(tiny_model_dir), "--data", "my_pairs.jsonl",
                       "--output_dir", str(tmp_path / "o"), "--report_to", "none"], capsys)
    assert rc == 2 and err.endswith("data my_pairs.jsonl: no such file or folder; a hub id looks like 'org/name'")
    rc, err = run_cli(["train", "--model", "./no-model", "--output_dir", str(tmp_path / "o")], capsys)
    assert rc == 2 and "model ./no-model: no such file or folder" in err


def test_score_eval_label_check_their_paths_before_loading(tmp_path, tiny_model_dir, capsys, no_loading):
    convs = tmp_path / "c.jsonl"
    convs.write_text("{}\n")
    model = str(tiny_model_dir)
    cases = [
        (["score", model, str(convs), "-o", str(convs / "x.jsonl")], "c.jsonl is a file, so no folder"),
        (["score", model, str(convs), "-o", str(tmp_path)], "is a folder; give a file name"),
        (["score", model, str(tmp_path / "none.jsonl")], "input " + str(tmp_path / "none.jsonl") + ": no such file"),
        (["score", "./no-model", str(convs)], "model ./no-model: no such file or folder"),
        (["eval", model, "--benchmark", "pairs"], "--benchmark pairs needs a file of held-out pairs"),
        (["eval", model, "--benchmark", "pairs", "--data", "none.jsonl"], "--data none.jsonl: no such file"),
        (["eval", model, "--benchmark", "pairs", "--data", str(convs), "--out", str(convs)], "is a file; give a"),
        (["label", model, str(convs)], "nothing to write"),
        (["label", model, str(convs), "--out-pairs", str(convs / "p.jsonl")], "--out-pairs"),
        # the output would replace the rows being read (also through another spelling of the same path)
        (["score", model, str(convs), "-o", str(tmp_path / "." / "c.jsonl")], "is the input file"),
        (["label", model, str(convs), "--out-best", str(convs)], "--out-best " + str(convs) + " is the input file"),
        (["label", model, str(convs), "--out-pairs", str(convs)], "is the input file"),
    ]
    for argv, message in cases:
        rc, err = run_cli(argv, capsys)
        assert rc == 2 and message in err and err.startswith(f"rewardlab {argv[0]}: error: "), (argv, err)
        assert "\n" not in err and "Traceback" not in err


def test_model_must_be_a_model_folder_and_device_present(tmp_path, tiny_model_dir, capsys, no_loading):
    import torch

    convs = tmp_path / "c.jsonl"
    convs.write_text("{}\n")
    (tmp_path / "empty").mkdir()
    rc, err = run_cli(["score", str(convs), str(convs)], capsys)
    assert rc == 2 and "is a file; give a model folder" in err
    rc, err = run_cli(["train", "--model", str(tmp_path / "empty"), "--output_dir", str(tmp_path / "o")], capsys)
    assert rc == 2 and "folder has no config.json / adapter_config.json / rewardlab_kind.json" in err
    rc, err = run_cli(["score", str(tiny_model_dir), str(convs), "--device", "banana"], capsys)
    assert (rc, err) == (2, "rewardlab score: error: --device 'banana': not a device; use cpu, cuda, cuda:1 or mps")
    if not torch.cuda.is_available():
        rc, err = run_cli(["label", str(tiny_model_dir), str(convs), "--out-best", "b.jsonl", "--device", "cuda"],
                          capsys)
        assert rc == 2 and "--device cuda: no cuda device on this machine" in err


def test_label_refuses_one_file_for_both_outputs(tmp_path, tiny_model_dir, capsys, no_loading):
    rows = tmp_path / "in.jsonl"
    rows.write_text('{"prompt": "q", "responses": ["a", "b"]}\n')
    out = str(tmp_path / "x.jsonl")
    rc, err = run_cli(["label", str(tiny_model_dir), str(rows), "--out-best", out, "--out-pairs", out], capsys)
    assert rc == 2 and "--out-best and --out-pairs are the same file" in err


def test_numeric_options_of_plain_verbs_must_be_positive(tmp_path, tiny_model_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["score", str(tiny_model_dir), "x.jsonl", "--batch-size", "0"])
    assert exit_info.value.code == 2
    assert "argument --batch-size: must be at least 1, got 0" in capsys.readouterr().err


def test_merge_of_a_full_model_folder_is_a_message(tmp_path, tiny_model_dir, capsys):
    rc, err = run_cli(["merge", str(tiny_model_dir), "--out", str(tmp_path / "m")], capsys)
    assert rc == 2 and "is not a LoRA adapter folder (no adapter_config.json)" in err
    assert not (tmp_path / "m").exists()


def test_serve_refuses_an_empty_api_key(tmp_path, tiny_model_dir, capsys, monkeypatch, no_loading):
    import rewardlab.serving.cli_commands as serving_cli

    monkeypatch.setattr(serving_cli, "serve_command", lambda *a, **k: pytest.fail("served"))
    for argv in (["--api-key", ""], ["--api_key", "  "], ["--api-key="]):
        rc, err = run_cli(["serve", str(tiny_model_dir), *argv], capsys)
        assert rc == 2 and "--api-key is empty" in err, argv
    rc, err = run_cli(["serve", str(tiny_model_dir), "--host", ""], capsys)
    assert rc == 2 and "--host is empty" in err
    monkeypatch.setenv("REWARDLAB_API_KEY", "")
    rc, err = run_cli(["serve", str(tiny_model_dir)], capsys)
    assert rc == 2 and "$REWARDLAB_API_KEY is set but empty" in err


def test_serve_takes_underscore_spellings_of_its_options(tiny_model_dir, capsys, monkeypatch):
    """`--api_key` used to fall through to the ServeConfig overrides and crash with a TypeError."""
    import rewardlab.serving.cli_commands as serving_cli

    seen = {}
    monkeypatch.setattr(serving_cli, "serve_command", lambda model, **kw: seen.update(kw) or 0)
    assert main(["serve", str(tiny_model_dir), "--api_key", "k3y", "--log_level", "warning", "--max_queue", "9"]) == 0
    assert seen["api_key"] == "k3y" and seen["log_level"] == "warning" and seen["max_queue"] == 9


def test_data_build_types_its_scalar_overrides(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: v2\nsources:\n  - name: helpsteer\n    path: none.jsonl\n")
    rc, err = run_cli(["data", "build", str(recipe), "--out", str(tmp_path / "o"), "--seed", "abc"], capsys)
    assert (rc, err) == (2, "rewardlab data: error: seed: expected int, got 'abc'")
    rc, err = run_cli(["data", "build", str(recipe), "--out", str(tmp_path / "o"), "--tokenizer", "./tok"], capsys)
    assert (rc, err) == (2, "rewardlab data: error: --tokenizer ./tok: no such file or folder; a hub id looks like "
                            "'org/name'")


def test_an_unforeseen_failure_is_one_line_not_a_traceback(capsys, monkeypatch):
    import rewardlab.data.cli_commands as data_cli

    def boom(*args, **kwargs):
        raise RuntimeError("something nobody checked")

    monkeypatch.setattr(data_cli, "stats_command", boom)
    monkeypatch.delenv("REWARDLAB_TRACEBACK", raising=False)
    rc, err = run_cli(["data", "stats", "x"], capsys)
    assert rc == 1 and err.startswith("rewardlab data: error: RuntimeError: something nobody checked")
    assert "\n" not in err
    monkeypatch.setenv("REWARDLAB_TRACEBACK", "1")
    with pytest.raises(RuntimeError):
        main(["data", "stats", "x"])


# ----------------------------------------------------------------------------------------- small data
def test_fit_batch_size():
    assert fit_batch_size(1000, 256, 4) == 256  # fits: unchanged
    assert fit_batch_size(34, 256, 1) == 34  # all the pairs, one step per epoch
    assert fit_batch_size(34, 256, 4) == 32  # whole micro-batches: 8 x 4
    assert fit_batch_size(34, 256, 8) == 32  # micro 4 x 2 processes
    with pytest.raises(ValueError, match="3 training pairs cannot fill one micro-batch per process"):
        fit_batch_size(3, 256, 4)


def test_max_steps_overrides_num_epochs_both_ways():
    assert total_steps(100, 10, 1.0) == 10
    assert total_steps(100, 10, 1.0, max_steps=3) == 3  # fewer
    assert total_steps(100, 10, 1.0, max_steps=25) == 25  # more: 2.5 epochs, as its help says


def test_first_step_learning_rate_is_never_zero_and_decay_is_transformers():
    """Warm-up starts above 0; from the peak on, the factors equal transformers' own schedules."""
    from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

    from rewardlab.fitting.optim import build_scheduler, lr_factor

    assert lr_factor(0, warmup=1, total=1, schedule="cosine") == 0.5  # ceil(0.03 x 1) = 1 warm-up step
    assert [lr_factor(s, 3, 10, "linear") for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    for schedule, theirs in (("cosine", get_cosine_schedule_with_warmup), ("linear", get_linear_schedule_with_warmup)):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        ref = theirs(opt, 3, 20)
        for step in range(20):
            if step >= 3:  # transformers: step / warmup before this, so 0 at step 0
                assert lr_factor(step, 3, 20, schedule) == pytest.approx(ref.get_last_lr()[0], abs=1e-12)
            opt.step()
            ref.step()
    cfg = TrainConfig(warmup_ratio=0.03, lr_scheduler="cosine", learning_rate=2e-5)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.learning_rate)
    assert build_scheduler(opt, cfg, steps=1).get_last_lr()[0] == pytest.approx(1e-5)


def test_interval_note():
    from rewardlab.metrics import accuracy_with_interval, interval_note

    few = accuracy_with_interval([1.0] * 4, [0.0] * 4)
    assert (few["accuracy_ci_low"], few["accuracy_ci_high"]) == (1.0, 1.0)  # the collapsed bootstrap interval
    assert interval_note(4, 1.0, 1.0) == "4 pairs: too few for a meaningful 95% interval"
    assert "same accuracy" in interval_note(200, 1.0, 1.0)
    assert interval_note(200, 0.6, 0.7) is None


def test_eval_of_a_handful_of_pairs_prints_no_interval(tmp_path):
    from rewardlab.evaluation.evaluator import evaluate
    from rewardlab.evaluation.writers import markdown_table
    from tests.helpers import LookupJudge

    data = tmp_path / "four.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"p{i}", "chosen": "good", "rejected": "bad"}) + "\n"
                            for i in range(4)))
    result = evaluate(LookupJudge({"good": 1.0, "bad": 0.0}), "pairs", str(data), bootstrap_samples=50,
                      show_progress=False)
    assert result.intervals["overall"] == (1.0, 1.0)  # what used to be printed as "95% CI [100.0, 100.0]"
    headline = markdown_table(result).splitlines()[0]
    assert "(4 rows: too few for a meaningful 95% interval)" in headline and "CI" not in headline


def test_a_file_smaller_than_the_batch_trains(tmp_path, tiny_model_dir, capsys, monkeypatch):
    """36 rows with the recipes' global batch of 256: the batch is clamped to the 34 training pairs (note
    printed), the one step has a learning rate above 0, the weights change, a long step shows its micro-batches,
    and 2 held-out pairs print no interval."""
    from safetensors.torch import load_file

    from rewardlab.data.readers import write_pairs_jsonl
    from rewardlab.training import trainer as trainer_mod
    from tests.helpers import synthetic_pairs

    monkeypatch.setattr(trainer_mod, "MICRO_PROGRESS_DELAY_S", 0.0)  # show the bar however short the step
    data = tmp_path / "mine.jsonl"
    write_pairs_jsonl(synthetic_pairs(36), data)
    out = tmp_path / "rm"
    rc = main(["train", "--model", str(tiny_model_dir), "--data", str(data), "--output_dir", str(out),
               "--micro_batch_size", "2", "--max_length", "96", "--precision", "fp32", "--report_to", "none",
               "--gradient_checkpointing", "false", "--learning_rate", "1e-3", "--parallel_micro_batches", "1"])
    assert rc == 0
    captured = capsys.readouterr()
    printed = captured.out + captured.err  # log lines go through tqdm.write (stdout), bars to stderr
    assert "note: batch_size 256 is more than the 34 training pairs; using 34" in printed
    # the micro-batch bar showed, over the step's 17 micro-batches (its last redraw may be skipped by tqdm's
    # mininterval on a fast machine, so its final count is not asserted)
    assert "step 1/1:" in captured.err and "/17 [" in captured.err and "micro-batch" in captured.err
    assert "held-out accuracy after training" in captured.out
    assert "(2 pairs: too few for a meaningful 95% interval)" in captured.out and "95% CI" not in captured.out
    card_rows = [line for line in (out / "README.md").read_text().splitlines() if line.startswith("| trained |")]
    assert len(card_rows) == 1 and card_rows[0].endswith("| – (2 pairs: too few for a meaningful 95% interval) | 2 |")
    saved = json.loads((out / "training_summary.json").read_text())
    assert saved["config"]["batch_size"] == 34 and saved["summary"]["batch_size_requested"] == 256
    (step,) = saved["train_log"]
    assert step["learning_rate"] == pytest.approx(0.5e-3)  # warm-up step 1 of 1 (transformers: 0)
    trained, base = load_file(out / "model.safetensors"), load_file(tiny_model_dir / "model.safetensors")
    key = "model.layers.0.mlp.down_proj.weight"
    assert not torch.equal(trained[key], base[key])
    assert math.isfinite(step["loss"])


def test_a_file_all_held_out_says_so(tmp_path, tiny_model_dir, capsys, no_loading):
    from rewardlab.data.readers import write_pairs_jsonl
    from tests.helpers import synthetic_pairs

    data = tmp_path / "three.jsonl"
    write_pairs_jsonl(synthetic_pairs(3), data)
    rc, err = run_cli(["train", "--model", str(tiny_model_dir), "--data", str(data), "--eval_fraction", "0.9",
                       "--output_dir", str(tmp_path / "o"), "--report_to", "none"], capsys)
    assert rc == 2 and "all 3 pairs of" in err and "lower --eval_fraction or pass --eval_data" in err


def test_max_steps_runs_past_one_epoch(tmp_path, tiny_model_dir, synthetic_jsonl):
    from rewardlab.training.trainer import train

    cfg = TrainConfig(model=str(tiny_model_dir), data=str(synthetic_jsonl), output_dir=str(tmp_path / "o"),
                      max_length=96, batch_size=16, micro_batch_size=8, num_epochs=1.0, max_steps=5,
                      eval_fraction=0.0, precision="fp32", gradient_checkpointing=False, report_to="none",
                      parallel_micro_batches=1)
    result = train(cfg, quiet=True)
    log = json.loads((result.output_dir / "training_summary.json").read_text())["train_log"]
    assert result.summary["total_steps"] == 5 and len(log) == 5  # num_epochs alone: ceil(48 / 16) = 3 steps
    assert log[-1]["epoch"] == pytest.approx(5 * 16 / 48)
