"""The `rewardlab` command: verbs parse, call their library function, and bad input exits with a clear message."""

import json

from rewardlab.cli import main, parse_overrides


def test_parse_overrides_forms():
    assert parse_overrides(["--a", "1", "--b=x", "--flag", "--c-d", "2"]) == {"a": "1", "b": "x", "flag": "true",
                                                                              "c_d": "2"}


def test_train_on_a_built_mixture_then_score(tmp_path, tiny_model_dir, capsys):
    import datasets

    from tests.helpers import synthetic_pairs

    built = tmp_path / "mixture"
    datasets.Dataset.from_list([p.to_record() for p in synthetic_pairs(24)]).save_to_disk(str(built))
    out = tmp_path / "rm"
    rc = main(["train", "--model", str(tiny_model_dir), "--data", str(built), "--output_dir", str(out),
               "--max_steps", "2", "--batch_size", "4", "--micro_batch_size", "2", "--max_length", "96",
               "--precision", "fp32", "--gradient_checkpointing", "false", "--report_to", "none",
               "--eval_fraction", "0.25"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "held-out accuracy after training" in printed and f"rewardlab score {out}" in printed
    convs = tmp_path / "convs.jsonl"
    convs.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                              {"role": "assistant", "content": "hello"}]}) + "\n")
    assert main(["score", str(out), str(convs), "-o", str(tmp_path / "scored.jsonl")]) == 0
    assert isinstance(json.loads((tmp_path / "scored.jsonl").read_text())["reward"], float)


def test_bad_input_exits_2_with_file_and_line(tmp_path, tiny_model_dir, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "q", "chosen": "a", "rejected": "a"}\n')
    rc = main(["train", "--model", str(tiny_model_dir), "--data", str(bad), "--on_invalid", "error",
               "--output_dir", str(tmp_path / "o"), "--report_to", "none"])
    assert rc == 2
    assert "bad.jsonl:1: identical responses" in capsys.readouterr().err
    assert main(["train", "--no_such_option", "1"]) == 2
    assert "unknown option --no_such_option" in capsys.readouterr().err


def test_train_kind_pairwise_then_eval_through_the_same_flow(tmp_path, tiny_model_dir, synthetic_jsonl):
    out = tmp_path / "pm"
    rc = main(["train", "--kind", "pairwise", "--model", str(tiny_model_dir), "--data", str(synthetic_jsonl),
               "--output_dir", str(out), "--max_steps", "1", "--batch_size", "4", "--micro_batch_size", "2",
               "--max_length", "160", "--eval_fraction", "0.25", "--eval_before_training", "false"])
    assert rc == 0 and (out / "rewardlab_kind.json").exists()
    rc = main(["eval", str(out), "--benchmark", "pairs", "--data", str(synthetic_jsonl), "--out", str(tmp_path / "ev"),
               "--bootstrap", "50", "--limit", "6", "--device", "cpu"])
    assert rc == 0
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert 0.0 <= results["score"] <= 1.0


def test_eval_of_a_kind_folder_takes_batch_size_and_max_length(trained_regression, tmp_path, monkeypatch):
    """`eval` hands --batch-size and --max-length to a kind folder's judge (they used to be ignored)."""
    import rewardlab.evaluation.cli_commands as ec

    seen = {}

    def fake_eval_command(model, judge=None, **kwargs):
        seen["judge"] = judge
        return 0

    monkeypatch.setattr(ec, "eval_command", fake_eval_command)
    cfg, _ = trained_regression
    data = tmp_path / "x.jsonl"  # must exist: a missing --data file is refused before the model loads
    data.write_text("")
    rc = main(["eval", cfg.output_dir, "--benchmark", "pairs", "--data", str(data), "--batch-size", "3",
               "--max-length", "77"])
    assert rc == 0
    judge = seen["judge"]
    assert judge.inner.batch_size == 3 and judge.encoder.max_length == 77
