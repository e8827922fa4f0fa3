"""No command deletes what it did not write: output folders are refused, replaced whole, or left as they were.

The folder-level rules (io_utils) on plain files, then each command that writes a folder (data build, merge,
eval) through the CLI or its function, checked before any work starts.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rewardlab.cli import main
from rewardlab.io_utils import (
    MARKER,
    AtomicDirectory,
    OutputRefused,
    check_output_path,
    clean_stale_temps,
    foreign_entries,
    read_marker,
)


def _write(folder: Path, files: dict[str, str]) -> Path:
    with AtomicDirectory(folder, command="test") as tmp:
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text)
    return folder


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_folder_rewardlab_wrote_is_replaced_whole(tmp_path):
    out = _write(tmp_path / "out", {"model.bin": "old", "eval/rewardbench/results.json": "{}", "logs/e1": "x"})
    assert read_marker(out)["entries"] == ["eval", "logs", "model.bin"]
    _write(out, {"model.bin": "new"})
    assert _names(out) == ["model.bin", MARKER]  # no stale eval/ or logs/ beside the new model
    assert (out / "model.bin").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left beside it


def test_a_folder_rewardlab_did_not_write_is_refused_unless_overwrite(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputRefused, match=r"not written by rewardlab \(it holds thesis.tex\).*--overwrite"):
        _write(user, {"model.bin": "x"})
    assert _names(user) == ["thesis.tex"]
    with AtomicDirectory(user, overwrite=True, command="test") as tmp:
        (tmp / "model.bin").write_text("x")
    assert _names(user) == ["model.bin", MARKER]


def test_files_added_to_a_rewardlab_folder_are_not_deleted(tmp_path):
    out = _write(tmp_path / "out", {"model.bin": "old"})
    (out / "notes.txt").write_text("mine")
    (out / "data").mkdir()
    (out / "data" / "pairs.jsonl").write_text("{}")
    assert foreign_entries(out) == ["data/", "notes.txt"]
    with pytest.raises(OutputRefused, match=r"written by rewardlab but now also holds data/, notes.txt"):
        _write(out, {"model.bin": "new"})
    assert (out / "notes.txt").read_text() == "mine" and (out / "model.bin").read_text() == "old"


def test_results_of_another_command_inside_count_as_rewardlab_s(tmp_path):
    model = _write(tmp_path / "model", {"model.bin": "w"})
    _write(model / "eval" / "rewardbench", {"results.json": "{}"})  # `rewardlab eval` default folder
    assert foreign_entries(model) == []
    (model / "eval" / "my_notes.md").write_text("mine")
    assert foreign_entries(model) == ["eval/"]


@pytest.mark.parametrize("path", ["", "   ", None])
def test_an_empty_output_path_is_refused_not_the_current_directory(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputRefused, match="path is empty .an unset variable"):
        check_output_path(path, overwrite=True)


def test_an_existing_file_is_never_replaced_by_a_folder(tmp_path):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("name: mine\n")
    for overwrite in (False, True):
        with pytest.raises(OutputRefused, match="is an existing file, not a folder"):
            with AtomicDirectory(recipe, overwrite=overwrite):
                pass
    assert recipe.read_text() == "name: mine\n"


def test_overwrite_never_empties_the_working_directory_or_home(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text("x")
    monkeypatch.chdir(work)
    for target in (".", str(tmp_path)):
        with pytest.raises(OutputRefused, match="current directory"):
            check_output_path(target, overwrite=True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".bashrc").write_text("x")
    with pytest.raises(OutputRefused, match="home folder"):
        check_output_path(tmp_path / "home", overwrite=True)


def test_a_folder_holding_an_input_is_refused(tmp_path):
    out = _write(tmp_path / "out", {"model.bin": "w"})
    data = _write(out / "mixture", {"data.arrow": "rows"})  # rewardlab-written, so not foreign
    for target in (out, data):
        with pytest.raises(OutputRefused, match="is or contains the input"):
            check_output_path(target, inputs=[data])


def test_a_killed_writer_s_temporary_folder_is_removed_a_live_one_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # that process has exited
    stale = tmp_path / f".out.{dead_pid}-0a1b2c3d.tmp"
    live = tmp_path / f".out.{os.getppid()}-0a1b2c3d.tmp"  # pytest's parent: alive
    other = tmp_path / f".other.{dead_pid}-0a1b2c3d.tmp"
    for p in (stale, live, other):
        p.mkdir()
        (p / "model.safetensors").write_bytes(b"partial")
    assert clean_stale_temps(tmp_path, "out") == [stale]
    assert not stale.exists() and live.exists() and other.exists()
    _write(tmp_path / "other", {"a": "b"})  # the next write to `other` cleans its own leftovers
    assert not other.exists()


def test_a_full_disk_mid_write_leaves_the_previous_folder(tmp_path):
    out = _write(tmp_path / "out", {"model.bin": "old"})
    with pytest.raises(OSError, match="disk full while writing .*out is as it was") as info:
        with AtomicDirectory(out, command="test") as tmp:
            (tmp / "model.bin").write_text("half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.errno == errno.ENOSPC
    assert _names(out) == ["model.bin", MARKER] and (out / "model.bin").read_text() == "old"
    assert _names(tmp_path) == ["out"]


# ------------------------------------------------------------------------------------------------ commands
def test_data_build_never_replaces_the_recipe_or_a_user_folder(tmp_path, capsys):
    recipe = tmp_path / "mine.yaml"
    text = "name: mine\nsources:\n  - name: capybara\n    path: capybara.jsonl\n"
    recipe.write_text(text)
    assert main(["data", "build", str(recipe), "--out", str(recipe)]) == 2
    assert "is an existing file, not a folder" in capsys.readouterr().err
    assert recipe.read_text() == text
    assert main(["data", "build", str(recipe), "--out", str(tmp_path)]) == 2  # holds the recipe: not ours
    assert "not written by rewardlab" in capsys.readouterr().err
    assert main(["data", "build", str(recipe), "--out", ""]) == 2
    assert "path is empty" in capsys.readouterr().err
    assert recipe.read_text() == text


def test_merge_refuses_a_user_folder_and_the_adapter_itself_before_loading(tmp_path, capsys, monkeypatch):
    import rewardlab.modeling.loading as loading

    def no_loading(*args, **kwargs):
        raise AssertionError("the output folder must be checked before the model loads")

    monkeypatch.setattr(loading, "load_reward_model", no_loading)
    adapter = _write(tmp_path / "adapter", {"adapter_config.json": "{}"})
    user = tmp_path / "mine"
    user.mkdir()
    (user / "keep.txt").write_text("x")
    assert main(["merge", str(adapter), "--out", str(user)]) == 2
    assert "not written by rewardlab" in capsys.readouterr().err
    for out in (adapter, tmp_path):
        assert main(["merge", str(adapter), "--out", str(out), "--overwrite"]) == 2
        assert "is or contains the input" in capsys.readouterr().err
    assert (user / "keep.txt").exists() and (adapter / "adapter_config.json").exists()


class _LengthJudge:
    """Rewards the longer response: a `RewardJudge` with no model."""

    def rank_responses(self, groups):
        return [[float(len(r)) for r in responses] for _, responses in groups]


def test_eval_results_folder_checked_before_scoring_and_replaced_whole(tmp_path, capsys):
    from rewardlab.data.readers import write_pairs_jsonl
    from rewardlab.evaluation.cli_commands import eval_command
    from tests.helpers import synthetic_pairs

    data = tmp_path / "pairs.jsonl"
    write_pairs_jsonl(synthetic_pairs(12), data)
    user = tmp_path / "mine"
    user.mkdir()
    (user / "results.json").write_text('{"mine": true}')

    class Refuse:
        def rank_responses(self, groups):
            raise AssertionError("scored before the output folder was checked")

    kw = dict(benchmark="pairs", data=str(data), bootstrap_samples=20, show_progress=False)
    assert eval_command("m", out_dir=str(user), judge=Refuse(), **kw) == 2
    assert json.loads((user / "results.json").read_text()) == {"mine": True}
    assert eval_command("m", out_dir="", judge=Refuse(), **kw) == 2
    assert "path is empty" in capsys.readouterr().err

    out = tmp_path / "results"
    assert eval_command("m", out_dir=str(out), judge=_LengthJudge(), plot=True, **kw) == 0
    assert (out / "report.png").exists()
    assert eval_command("m", out_dir=str(out), judge=_LengthJudge(), plot=False, **kw) == 0
    assert not (out / "report.png").exists()  # a stale plot of the earlier run is not left beside new results
    assert read_marker(out)["command"] == "eval"
    printed = capsys.readouterr().out
    assert f"json: {out / 'results.json'}" in printed  # the paths printed are the final ones, not temporary


@pytest.mark.parametrize("kind", ["pairwise", "regression", "multi_objective"])
def test_other_kinds_check_their_output_folder_before_any_work(kind, tmp_path):
    import importlib

    module = importlib.import_module(f"rewardlab.kinds.{kind}")
    config_class = {"pairwise": "PairwiseConfig", "regression": "RegressionConfig",
                    "multi_objective": "MultiObjectiveConfig"}[kind]
    user = tmp_path / "mine"
    user.mkdir()
    (user / "keep.txt").write_text("x")
    # neither the data nor the model exists: reading or loading either first would raise something else
    cfg = getattr(module, config_class)(model=str(tmp_path / "no-model"), data=str(tmp_path / "no-data.jsonl"),
                                        output_dir=str(user))
    with pytest.raises(OutputRefused, match=r"not written by rewardlab \(it holds keep.txt\)"):
        getattr(module, f"train_{kind}")(cfg, quiet=True, device="cpu")
    assert (user / "keep.txt").exists()


def test_train_command_refuses_an_empty_output_dir(tiny_model_dir, tmp_path, capsys):
    from rewardlab.data.readers import write_pairs_jsonl
    from tests.helpers import synthetic_pairs

    data = tmp_path / "pairs.jsonl"
    write_pairs_jsonl(synthetic_pairs(8), data)
    assert main(["train", "--model", str(tiny_model_dir), "--data", str(data), "--output_dir", ""]) == 2
    assert "unset" in capsys.readouterr().err


def test_a_folder_of_several_rewardlab_models_is_not_replaced_whole(tmp_path):
    runs = tmp_path / "outputs"
    _write(runs / "run-a", {"model.bin": "a"})
    _write(runs / "run-b", {"model.bin": "b"})
    assert foreign_entries(runs) == ["run-a/", "run-b/"]  # `--output_dir outputs` would delete both runs
    with pytest.raises(OutputRefused, match="not written by rewardlab"):
        check_output_path(runs)


def test_a_swap_killed_between_its_renames_puts_the_previous_output_back(tmp_path):
    out = _write(tmp_path / "out", {"model.bin": "old"})
    out.rename(tmp_path / ".out.old")  # killed after moving the old folder aside, before moving the new one in
    clean_stale_temps(tmp_path, "out")
    assert (out / "model.bin").read_text() == "old" and not (tmp_path / ".out.old").exists()


def test_a_file_browser_s_metadata_is_not_a_user_s_file(tmp_path):
    out = _write(tmp_path / "out", {"model.bin": "old"})
    (out / ".DS_Store").write_bytes(b"\0")
    assert foreign_entries(out) == []
    _write(out, {"model.bin": "new"})
    assert (out / "model.bin").read_text() == "new"
