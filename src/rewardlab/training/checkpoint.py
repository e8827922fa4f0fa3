"""Resumable checkpoints that never mix runs and survive damage.

- Written under a hidden temporary name and renamed when complete, so a run killed while saving never leaves a
  half-written checkpoint that resuming could pick; the next run removes such leftovers. A full disk while
  saving removes the partial checkpoint and says which earlier one is intact.
- Each checkpoint records the run it belongs to (its configuration and fingerprints of the training pairs and
  the model) and the size and SHA-256 of every file. `--resume` refuses a checkpoint of a different run (listing
  what differs; `resume_allow_changes` for deliberate changes), and skips a checkpoint with a truncated or
  corrupt file -- naming it -- for the previous complete one.
- A new run never deletes or silently continues another run's checkpoints (`prepare_run_folder`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

COMPLETE = "COMPLETE"
STATE_FILE = "trainer_state.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")
_STEP_TEMP = re.compile(r"^\.step-(\d+)\.tmp$")

#: TrainConfig fields a resumed run may change freely: where and how often it logs, evaluates and saves, and how
#: a step is computed when the arithmetic is the same (micro-batch size and layout, recomputation, shared
#: prefixes: the step's gradient is the same sum).
RESUME_MAY_CHANGE = frozenset({
    "output_dir", "resume", "resume_allow_changes", "overwrite", "logging_steps", "eval_steps", "save_steps",
    "save_total_limit", "report_to", "eval_batch_size", "eval_before_training", "num_proc", "trust_remote_code",
    "micro_batch_size", "parallel_micro_batches", "gradient_checkpointing", "lean_activations", "length_grouping",
    "shared_context",
})
#: Fields that only say where the pairs come from: when the pairs' fingerprints match (a file moved or renamed,
#: the same rows), they may differ; the pairs are what a run is made of.
DATA_SOURCE_FIELDS = frozenset({"data", "data_split", "eval_data", "eval_split", "eval_fraction", "max_train_pairs",
                                "max_eval_pairs", "on_invalid"})


class CheckpointError(ValueError):
    """No checkpoint can be resumed: every one is damaged, or the latest belongs to a different run."""


def checkpoints_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def list_complete_checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    root = checkpoints_root(output_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _STEP_DIR.match(p.name)
        if m and (p / COMPLETE).exists() and (p / STATE_FILE).exists():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    found = list_complete_checkpoints(output_dir)
    return found[-1][1] if found else None


def clean_checkpoint_temps(output_dir: str | Path) -> list[Path]:
    """Remove the hidden ``.step-N.tmp`` folders a killed save left (one run writes a folder at a time)."""
    root = checkpoints_root(output_dir)
    removed = []
    if root.is_dir():
        for p in root.iterdir():
            if _STEP_TEMP.match(p.name):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


# ------------------------------------------------------------------------------------------------ fingerprints
def _sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def pairs_fingerprint(pairs: Sequence[Any]) -> str:
    """SHA-256 over the pairs' records in order: the same pairs in the same order, the same fingerprint."""
    h = hashlib.sha256()
    for p in pairs:
        h.update(json.dumps(p.to_record(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def model_fingerprint(model: str) -> str:
    """A local model folder: its config.json and, per weight file, its name, size and three 1 MiB samples (start,
    middle, end: two fine-tunes of one architecture differ there; hashing gigabytes would cost more than it
    tells); an embedded name or hub id: the name itself."""
    folder = Path(model)
    if not folder.is_dir():
        return hashlib.sha256(model.encode("utf-8")).hexdigest()
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if p.name in ("config.json", "adapter_config.json"):
            h.update(p.name.encode() + b"\0" + p.read_bytes())
        elif p.suffix in (".safetensors", ".bin", ".gguf"):
            size = p.stat().st_size
            h.update(f"{p.name}\0{size}".encode())
            with open(p, "rb") as fh:
                for offset in sorted({0, max(0, size // 2 - (1 << 19)), max(0, size - (1 << 20))}):
                    fh.seek(offset)
                    h.update(fh.read(1 << 20))
    return h.hexdigest()


def run_identity(config: dict[str, Any], train_pairs: Sequence[Any], eval_pairs: Sequence[Any]) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the configuration and fingerprints of data and model."""
    return {"config": json.loads(json.dumps(config, default=str)),
            "fingerprint": {"train_pairs": pairs_fingerprint(train_pairs), "num_train_pairs": len(train_pairs),
                            "held_out_pairs": pairs_fingerprint(eval_pairs), "num_held_out_pairs": len(eval_pairs),
                            "model": model_fingerprint(str(config.get("model", "")))}}


def run_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between the run a checkpoint state belongs to and the current one, one phrase each.

    Compared: every configuration field but `RESUME_MAY_CHANGE`, and the fingerprints of the training pairs,
    the held-out pairs and the model. A moved data file or model folder (other path, same fingerprint) is the
    same run. Checkpoints written before fingerprints existed are compared by configuration only."""
    before, now = saved.get("config") or {}, current["config"]
    fp_before, fp_now = saved.get("fingerprint"), current["fingerprint"]
    same_pairs = bool(fp_before) and all(fp_before.get(k) == fp_now[k] for k in ("train_pairs", "held_out_pairs"))
    same_model = bool(fp_before) and fp_before.get("model") == fp_now["model"]
    out = []
    for key in sorted(set(before) | set(now)):
        if key in RESUME_MAY_CHANGE or before.get(key) == now.get(key):
            continue
        if (key in DATA_SOURCE_FIELDS and same_pairs) or (key == "model" and same_model):
            continue
        out.append(f"{key}: {before.get(key)!r} in the checkpoint, {now.get(key)!r} now")
    if fp_before:
        for key, label in (("train_pairs", "training pairs"), ("held_out_pairs", "held-out pairs")):
            if fp_before.get(key) != fp_now[key]:
                n_before, n_now = fp_before.get(f"num_{key}"), fp_now[f"num_{key}"]
                counts = f"{n_before} then, {n_now} now" if n_before != n_now else f"{n_now} pairs, other contents"
                out.append(f"{label}: not the checkpoint's ({counts}; the data file changed?)")
        if not same_model and before.get("model") == now.get("model"):
            out.append(f"model: the folder {now.get('model')} changed since the checkpoint (config or weight files)")
    return out


# ------------------------------------------------------------------------------------------------ file checks
def files_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every file under `folder` (relative paths), except the state file and the marker."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel not in (STATE_FILE, COMPLETE):
            out[rel] = {"size": p.stat().st_size, "sha256": _sha256_file(p)}
    return out


def damaged_file(folder: Path, state: dict[str, Any]) -> str | None:
    """The first file of checkpoint `folder` that is missing, truncated or corrupt, as a phrase; None if intact.

    Checkpoints written before manifests existed (no ``files`` entry) pass: their loading is the check."""
    for rel, expected in (state.get("files") or {}).items():
        p = folder / rel
        if not p.is_file():
            return f"{p} is missing"
        size = p.stat().st_size
        if size != expected["size"]:
            return f"{p} is truncated or damaged ({size:,} bytes, {expected['size']:,} when saved)"
        if _sha256_file(p) != expected["sha256"]:
            return f"{p} is corrupt (its SHA-256 differs from the one recorded when it was saved)"
    return None


# ------------------------------------------------------------------------------------------------ saving
def save_checkpoint(accelerator: Any, output_dir: str | Path, step: int, state: dict[str, Any],
                    keep: int) -> Path:
    """Save model/optimizer/scheduler/RNG through accelerate, plus `state` and a manifest of the files; rename
    into place when done. A full disk removes the partial checkpoint and names the intact previous one."""
    root = checkpoints_root(output_dir)
    final = root / f"step-{step:07d}"
    tmp = root / f".step-{step:07d}.tmp"
    previous = latest_checkpoint(output_dir)
    try:
        if accelerator.is_main_process:
            root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            full = {**state, "files": files_manifest(tmp)}
            (tmp / STATE_FILE).write_text(json.dumps(full, indent=1))
            (tmp / COMPLETE).write_text("ok\n")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
    except Exception as e:
        from rewardlab.io_utils import disk_full, is_disk_full

        full = is_disk_full(e, root if root.exists() else None)
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        if full:
            kept = (f"the previous checkpoint {previous} is intact: free some space and run again with --resume"
                    if previous else "there is no earlier checkpoint: free some space and run again")
            raise disk_full(f"disk full while writing checkpoint {final} ({e}): the partial checkpoint was "
                            f"removed; {kept}") from e
        raise
    if accelerator.is_main_process:
        for _, old in list_complete_checkpoints(output_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Any, path: Path) -> dict[str, Any]:
    accelerator.load_state(str(path))
    return json.loads((path / STATE_FILE).read_text())


def select_checkpoint(output_dir: str | Path, identity: dict[str, Any], allow_changes: bool,
                      log: Callable[[str], None], below: int | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The latest intact checkpoint (below step `below`, if given) and its state; None when there is none.

    Cheap enough to run before the model loads: reads the state files and hashes the checkpoint's files. One
    with a missing, truncated or corrupt file is reported by name and skipped for the previous one; none
    intact is an error. The checkpoint chosen must belong to the same run as `identity` (see
    `run_differences`) unless `allow_changes`."""
    found = [(step, path) for step, path in list_complete_checkpoints(output_dir) if below is None or step < below]
    problems = []
    for _, path in reversed(found):
        try:
            state = json.loads((path / STATE_FILE).read_text())
            problem = damaged_file(path, state)
        except (OSError, ValueError, KeyError, TypeError) as e:
            state, problem = None, f"{path / STATE_FILE} is unreadable ({e})"
        if problem is None:
            differences = run_differences(state, identity)
            if differences and not allow_changes:
                raise CheckpointError(
                    f"--resume: {path} belongs to a different run:\n  " + "\n  ".join(differences)
                    + "\nResume with the checkpoint's settings, pass --resume_allow_changes to continue it with the "
                    "new ones anyway, or start over with --overwrite (deletes its checkpoints)")
            if differences:
                log(f"--resume_allow_changes: continuing {path.name} with " + "; ".join(differences))
            return path, state
        problems.append(problem)
        log(f"checkpoint damaged: {problem}; falling back to the previous checkpoint")
    if problems:
        raise CheckpointError(f"--resume: no intact checkpoint in {checkpoints_root(output_dir)}:\n  "
                              + "\n  ".join(problems) + "\nStart over with --overwrite (deletes them)")
    return None


def resume_checkpoint(accelerator: Any, output_dir: str | Path, identity: dict[str, Any], allow_changes: bool,
                      log: Callable[[str], None],
                      chosen: tuple[Path, dict[str, Any]] | None = None) -> tuple[Path, dict[str, Any]] | None:
    """Load the checkpoint `select_checkpoint` chose (`chosen`, or chosen now); returns (path, state), or None
    when there is none. One that fails to load (a damage the manifest cannot see, or a checkpoint written
    before manifests) is reported and the previous one is tried."""
    if chosen is None:
        chosen = select_checkpoint(output_dir, identity, allow_changes, log)
    while chosen is not None:
        path, _ = chosen
        try:
            return path, load_checkpoint(accelerator, path)
        except Exception as e:  # noqa: BLE001 -- any failure to load makes this checkpoint unusable
            problem = f"{path} does not load ({type(e).__name__}: {e})"
        log(f"checkpoint damaged: {problem}; falling back to the previous checkpoint")
        step = int(_STEP_DIR.match(path.name).group(1))
        chosen = select_checkpoint(output_dir, identity, allow_changes, log, below=step)
        if chosen is None:
            raise CheckpointError(f"--resume: no intact checkpoint in {checkpoints_root(output_dir)}: {problem}; "
                                  "start over with --overwrite (deletes them)")
    return None


def prepare_run_folder(output_dir: str | Path, *, resume: bool, overwrite: bool, inputs: Sequence[Any],
                       log: Callable[[str], None]) -> Path:
    """Check and prepare `output_dir` before anything loads (main process only).

    Refuses what `check_output_path` refuses. Removes temporary folders of a killed save. A new run (no
    `resume`) in a folder holding another run's checkpoints is refused unless `overwrite`, which deletes them:
    never deleted silently, never continued silently. Marks the folder as rewardlab's, keeping what an earlier
    run wrote listed, so the final save replaces the folder whole.
    """
    from rewardlab.io_utils import check_output_path, clean_stale_temps, read_marker, remove_path, write_marker

    out = check_output_path(output_dir, overwrite=overwrite, inputs=inputs)
    # first: a final save killed between its renames left the previous folder aside, and it goes back
    cleaned = clean_stale_temps(out.resolve().parent, out.resolve().name)
    out = check_output_path(output_dir, overwrite=overwrite, inputs=inputs)
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise PermissionError(f"output_dir {out} is not writable")
    cleaned += clean_checkpoint_temps(out)
    legacy = out / ".model.tmp"  # the final save's staging folder before it moved next to the output folder
    if legacy.is_dir():
        shutil.rmtree(legacy, ignore_errors=True)
        cleaned.append(legacy)
    if cleaned:
        log("removed temporary folders of an interrupted save: " + ", ".join(str(p) for p in cleaned))
    steps = [p for p in checkpoints_root(out).glob("step-*") if _STEP_DIR.match(p.name)]
    if steps and not resume:
        latest = latest_checkpoint(out)
        if not overwrite:
            what = f"latest complete: {latest.name}" if latest else "none complete"
            raise CheckpointError(
                f"{out} holds checkpoints of an earlier run ({len(steps)} in {checkpoints_root(out)}, {what}): "
                "continue that run with --resume, start a new one there with --overwrite (deletes them), or "
                "choose another output_dir")
        remove_path(checkpoints_root(out))
        log(f"--overwrite: deleted the earlier run's checkpoints in {checkpoints_root(out)}")
    record = read_marker(out)
    earlier = record["entries"] if record else []
    write_marker(out, "train", [*earlier, "checkpoints", "logs"])
    return out
