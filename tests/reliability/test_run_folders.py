"""Training runs never mix and damaged or unwritable checkpoints are survivable (tiny Llama, in process).

A run is stopped right after a chosen checkpoint (as a kill would leave it, see test_crash_resume.py for the
real SIGKILL), then the folder is damaged, refilled or reused, and the next `train` call is checked: refused with
what differs, resumed from the right checkpoint, or replacing the folder whole. Micro-batches run one after
another, so a resumed run is bitwise the uninterrupted one (same data order, schedule, RNG and optimizer state).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rewardlab.config import TrainConfig
from rewardlab.io_utils import MARKER, OutputRefused, read_marker
from rewardlab.training import trainer as trainer_mod
from rewardlab.training.checkpoint import CheckpointError, damaged_file, list_complete_checkpoints
from rewardlab.training.trainer import train


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from rewardlab.data.readers import write_pairs_jsonl
    from tests.helpers import synthetic_pairs

    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    write_pairs_jsonl(synthetic_pairs(24), path)
    return path


def config(model_dir, data, out, **kw) -> TrainConfig:
    base = dict(model=str(model_dir), data=str(data), output_dir=str(out), max_length=96, learning_rate=3e-3,
                batch_size=4, micro_batch_size=2, max_steps=4, eval_fraction=0.25, precision="fp32",
                gradient_checkpointing=False, warmup_ratio=0.0, seed=7, report_to="none", parallel_micro_batches=1)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def uninterrupted(tiny_model_dir, data, tmp_path_factory) -> dict[str, torch.Tensor]:
    out = tmp_path_factory.mktemp("uninterrupted") / "model"
    train(config(tiny_model_dir, data, out), quiet=True)
    return load_file(out / "model.safetensors")


class Stop(Exception):
    pass


def run_until_checkpoint(cfg: TrainConfig, step: int, monkeypatch) -> None:
    """Run `cfg` and stop it right after its checkpoint at `step` is complete."""
    original = trainer_mod.save_checkpoint

    def save_then_stop(accelerator, output_dir, at, state, keep):
        path = original(accelerator, output_dir, at, state, keep)
        if at == step:
            raise Stop
        return path

    with monkeypatch.context() as m:
        m.setattr(trainer_mod, "save_checkpoint", save_then_stop)
        with pytest.raises(Stop):
            train(cfg, quiet=True)
    assert (Path(cfg.output_dir) / "checkpoints" / f"step-{step:07d}" / "COMPLETE").exists()


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_second_run_replaces_the_folder_whole(tiny_model_dir, data, tmp_path):
    from rewardlab.io_utils import AtomicDirectory

    out = tmp_path / "model"
    train(config(tiny_model_dir, data, out, max_steps=2, report_to="tensorboard"), quiet=True)
    first = load_file(out / "model.safetensors")
    with AtomicDirectory(out / "eval" / "pairs", command="eval") as tmp:  # where `rewardlab eval` writes
        (tmp / "results.json").write_text("{}")
    train(config(tiny_model_dir, data, out, max_steps=2, seed=8, report_to="tensorboard"), quiet=True)
    assert not same_weights(first, load_file(out / "model.safetensors"))
    assert not (out / "eval").exists()  # the earlier model's results do not describe this one
    assert len(list((out / "logs").glob("events.out.tfevents.*"))) == 1  # one run's TensorBoard events
    train(config(tiny_model_dir, data, out, max_steps=1), quiet=True)  # no TensorBoard: no earlier run's either
    assert not (out / "logs").exists()
    assert sorted(read_marker(out)["entries"]) == sorted(p.name for p in out.iterdir() if p.name != MARKER)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary folder left beside it


def test_a_folder_rewardlab_did_not_write_is_refused_before_loading(tiny_model_dir, data, tmp_path, monkeypatch):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")

    def no_loading(*args, **kwargs):
        raise AssertionError("the output folder must be checked before the model loads")

    with monkeypatch.context() as m:
        m.setattr(trainer_mod, "_load_model", no_loading)
        with pytest.raises(OutputRefused, match=r"not written by rewardlab \(it holds thesis.tex\).*--overwrite"):
            train(config(tiny_model_dir, data, out), quiet=True)
        with pytest.raises(ValueError, match="unset"):
            train(config(tiny_model_dir, data, ""), quiet=True)
        with pytest.raises(OutputRefused, match="is or contains the input"):
            train(config(tiny_model_dir, data, data.parent), quiet=True)
    assert (out / "thesis.tex").read_text() == "years of work"
    train(config(tiny_model_dir, data, out, max_steps=1, overwrite=True), quiet=True)
    assert not (out / "thesis.tex").exists() and (out / "model.safetensors").exists()


def test_a_new_run_neither_deletes_nor_resumes_another_run_s_checkpoints(tiny_model_dir, data, tmp_path,
                                                                         monkeypatch, uninterrupted):
    out = tmp_path / "model"
    run_until_checkpoint(config(tiny_model_dir, data, out, save_steps=2, learning_rate=1e-3), 2, monkeypatch)
    with pytest.raises(CheckpointError, match=r"holds checkpoints of an earlier run .*latest complete: "
                                              r"step-0000002.*--resume.*--overwrite"):
        train(config(tiny_model_dir, data, out, save_steps=2), quiet=True)
    assert damaged_file(out / "checkpoints" / "step-0000002",
                        json.loads((out / "checkpoints" / "step-0000002" / "trainer_state.json").read_text())) is None
    # --overwrite: the earlier run's checkpoints go and the run starts from scratch (not from their step 2)
    train(config(tiny_model_dir, data, out, overwrite=True), quiet=True)
    assert not (out / "checkpoints").exists()
    assert same_weights(load_file(out / "model.safetensors"), uninterrupted)


def test_resume_refuses_a_checkpoint_of_another_run_and_says_what_differs(tiny_model_dir, data, tmp_path,
                                                                           monkeypatch, uninterrupted):
    out = tmp_path / "model"
    cfg = config(tiny_model_dir, data, out, save_steps=2)
    run_until_checkpoint(cfg, 2, monkeypatch)
    resume = dataclasses.replace(cfg, resume=True)

    def no_loading(*args, **kwargs):
        raise AssertionError("the checkpoint must be checked before the model loads")

    with monkeypatch.context() as m, pytest.raises(CheckpointError, match=r"belongs to a different run:\n  "
                                                   r"learning_rate: 0.003 in the checkpoint, 0.001 now\n.*"
                                                   r"--resume_allow_changes"):
        m.setattr(trainer_mod, "_load_model", no_loading)
        train(dataclasses.replace(resume, learning_rate=1e-3), quiet=True)

    from rewardlab.modeling.tiny import build_tiny_model_dir

    other = tmp_path / "other.jsonl"  # another model and another data file
    other.write_text(data.read_text().replace('"chosen": "', '"chosen": "Well, '))
    other_model = build_tiny_model_dir(tmp_path / "other-model", seed=1)
    with pytest.raises(CheckpointError) as info:
        train(dataclasses.replace(resume, data=str(other), model=str(other_model)), quiet=True)
    assert "data: " in str(info.value) and "model: " in str(info.value)
    # the same path with other contents: only the fingerprint can tell
    original = data.read_text()
    try:
        data.write_text(original.replace('"chosen": "', '"chosen": "Well, '))
        with pytest.raises(CheckpointError, match=r"training pairs: not the checkpoint's \(18 pairs, other "
                                                  r"contents; the data file changed\?\)"):
            train(resume, quiet=True)
    finally:
        data.write_text(original)
    assert list_complete_checkpoints(out)[-1][0] == 2  # nothing was resumed or deleted
    # a deliberate change is allowed, and the same run resumes exactly
    train(resume, quiet=True)
    assert same_weights(load_file(out / "model.safetensors"), uninterrupted)
    changed = tmp_path / "changed"
    run_until_checkpoint(config(tiny_model_dir, data, changed, save_steps=2), 2, monkeypatch)
    train(config(tiny_model_dir, data, changed, save_steps=2, resume=True, resume_allow_changes=True,
                 learning_rate=1e-3), quiet=True)
    assert not same_weights(load_file(changed / "model.safetensors"), uninterrupted)
    # the new peak applies from the resumed step on: cosine over 4 steps, step 3 at factor 0.5 (cos(pi/2) = 0)
    lrs = [r["learning_rate"] for r in json.loads((changed / "training_summary.json").read_text())["train_log"]]
    assert lrs[:2] == [3e-3, 3e-3 * 0.5 * (1 + math.cos(math.pi / 4))] and lrs[2] == pytest.approx(5e-4, rel=1e-12)


@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
def test_a_damaged_checkpoint_falls_back_to_the_previous_one(damage, tiny_model_dir, data, tmp_path, monkeypatch,
                                                             capsys, uninterrupted):
    out = tmp_path / "model"
    cfg = config(tiny_model_dir, data, out, save_steps=1, save_total_limit=10)
    run_until_checkpoint(cfg, 3, monkeypatch)
    weights = out / "checkpoints" / "step-0000003" / "model.safetensors"
    raw = weights.read_bytes()
    if damage == "truncate":  # a copy or a save cut short
        weights.write_bytes(raw[: len(raw) // 2])
    else:  # same size, some bytes flipped in the tensor data (the header still parses)
        weights.write_bytes(raw[:-64] + bytes(b ^ 0xFF for b in raw[-64:]))
    leftover = out / "checkpoints" / ".step-0000004.tmp"  # a save killed half-way
    leftover.mkdir()
    (leftover / "model.safetensors").write_bytes(b"partial")
    capsys.readouterr()
    train(dataclasses.replace(cfg, resume=True))
    printed = capsys.readouterr().out
    expected = "is truncated or damaged" if damage == "truncate" else "is corrupt"
    assert f"checkpoint damaged: {weights} {expected}" in printed
    assert f"resumed from {out / 'checkpoints' / 'step-0000002'} at step 2/4" in printed
    assert not leftover.exists()
    assert same_weights(load_file(out / "model.safetensors"), uninterrupted)


def test_no_intact_checkpoint_is_an_error_naming_each_file(tiny_model_dir, data, tmp_path, monkeypatch):
    out = tmp_path / "model"
    cfg = config(tiny_model_dir, data, out, save_steps=1, save_total_limit=10)
    run_until_checkpoint(cfg, 2, monkeypatch)
    for step in (1, 2):
        (out / "checkpoints" / f"step-{step:07d}" / "optimizer.bin").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"no intact checkpoint in .*\n  .*step-0000002/optimizer.bin is "
                                              r"truncated .*\n  .*step-0000001/optimizer.bin is truncated"):
        train(dataclasses.replace(cfg, resume=True), quiet=True)


def _partial_write_then_enospc(path) -> None:
    Path(path).write_bytes(b"\0" * 100)  # the disk filled up part-way through the file
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tiny_model_dir, data, tmp_path, monkeypatch,
                                                                uninterrupted):
    out = tmp_path / "model"
    cfg = config(tiny_model_dir, data, out, save_steps=1)
    real_save = torch.save

    def save(obj, f, *args, **kwargs):  # accelerate writes the optimizer and RNG states with torch.save
        if "step-0000003" in str(f):
            _partial_write_then_enospc(f)
        return real_save(obj, f, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(torch, "save", save)
        with pytest.raises(OSError, match=r"disk full while writing checkpoint .*step-0000003 .*the partial "
                                          r"checkpoint was removed; the previous checkpoint .*step-0000002 is "
                                          r"intact: free some space and run again with --resume") as info:
            train(cfg, quiet=True)
    assert info.value.errno == errno.ENOSPC
    kept = out / "checkpoints" / "step-0000002"
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-0000001", "step-0000002"]
    assert damaged_file(kept, json.loads((kept / "trainer_state.json").read_text())) is None
    train(dataclasses.replace(cfg, resume=True), quiet=True)
    assert same_weights(load_file(out / "model.safetensors"), uninterrupted)


def test_a_full_disk_during_the_final_save_keeps_the_previous_model(tiny_model_dir, data, tmp_path, monkeypatch,
                                                                    uninterrupted):
    import transformers.modeling_utils

    out = tmp_path / "model"
    train(config(tiny_model_dir, data, out, max_steps=1), quiet=True)  # an earlier model in the folder
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != MARKER}
    cfg = config(tiny_model_dir, data, out, save_steps=1)
    with monkeypatch.context() as m:
        m.setattr(transformers.modeling_utils, "safe_save_file",
                  lambda tensors, filename, *a, **k: _partial_write_then_enospc(filename))
        with pytest.raises(OSError, match=r"disk full while writing the model to .*model: the partial output was "
                                          r"removed .*the latest checkpoint .*step-0000003 is intact") as info:
            train(cfg, quiet=True)
    assert info.value.errno == errno.ENOSPC
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != MARKER} == before  # intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # the partial folder was removed
    train(dataclasses.replace(cfg, resume=True), quiet=True)  # step 4 again, then the save
    assert same_weights(load_file(out / "model.safetensors"), uninterrupted)


def test_run_differences_compare_what_a_run_is_made_of(tmp_path):
    from rewardlab.training.checkpoint import run_differences, run_identity
    from tests.helpers import synthetic_pairs

    pairs = synthetic_pairs(6)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 32}')
    (model / "model.safetensors").write_bytes(b"w" * 100)
    base = dataclasses.asdict(TrainConfig(model=str(model), data="a.jsonl", output_dir="out"))
    saved = run_identity(base, pairs[:4], pairs[4:])

    def differences(train_pairs=pairs[:4], **changes):
        return run_differences(saved, run_identity({**base, **changes}, train_pairs, pairs[4:]))

    moved = tmp_path / "moved"
    moved.mkdir()
    for f in model.iterdir():
        (moved / f.name).write_bytes(f.read_bytes())
    # a moved data file and model folder (same pairs, same files), and settings that leave the arithmetic alone
    assert differences(data="elsewhere/a.jsonl", model=str(moved), output_dir="o2", micro_batch_size=1,
                       logging_steps=5, save_steps=3, gradient_checkpointing=False) == []
    assert differences(learning_rate=1e-3) == ["learning_rate: 1e-05 in the checkpoint, 0.001 now"]
    assert differences(pairs[:3]) == ["training pairs: not the checkpoint's (4 then, 3 now; the data file changed?)"]
    assert differences(pairs[1:5], data="b.jsonl") == [
        "data: 'a.jsonl' in the checkpoint, 'b.jsonl' now",
        "training pairs: not the checkpoint's (4 pairs, other contents; the data file changed?)"]
    (moved / "model.safetensors").write_bytes(b"v" * 100)  # another model: same architecture, other weights
    assert differences(model=str(moved)) == [f"model: {str(model)!r} in the checkpoint, {str(moved)!r} now"]
    (model / "model.safetensors").write_bytes(b"v" * 100)  # the same folder, other weights of the same size
    assert differences() == [f"model: the folder {model} changed since the checkpoint (config or weight files)"]
    # a checkpoint from before fingerprints: compared by configuration only
    assert run_differences({"config": base}, run_identity({**base, "data": "b.jsonl"}, pairs[:4], pairs[4:])) == [
        "data: 'a.jsonl' in the checkpoint, 'b.jsonl' now"]


def test_a_final_save_killed_between_its_renames_is_undone_by_the_next_run(tmp_path):
    from rewardlab.io_utils import AtomicDirectory
    from rewardlab.training.checkpoint import prepare_run_folder

    out = tmp_path / "model"
    with AtomicDirectory(out, command="train") as tmp:
        (tmp / "model.safetensors").write_bytes(b"earlier model")
    out.rename(tmp_path / ".model.old")  # the first rename done, the second not
    prepare_run_folder(out, resume=False, overwrite=False, inputs=(), log=lambda msg: None)
    assert (out / "model.safetensors").read_bytes() == b"earlier model"
    assert not (tmp_path / ".model.old").exists()
