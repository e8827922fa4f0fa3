"""Output that never destroys what rewardlab did not write.

Files are written under a temporary name in the same folder, then renamed over the target. Folders are built
under a hidden temporary sibling and swapped in whole (`AtomicDirectory`), so a folder rewardlab wrote is
replaced entirely -- no stale results next to a new model -- and an interrupted or failed write (a full disk)
leaves the previous folder as it was.

Every folder written whole carries a marker, ``rewardlab_output.json``, listing the entries rewardlab put there.
A non-empty target without it, or holding entries it does not list (a user's notes, data copied in), is
refused unless the caller passes ``overwrite`` (the ``--overwrite`` flag); an existing *file* is never replaced by
a folder; an empty path (an unset shell variable) is refused rather than meaning the current directory.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MARKER = "rewardlab_output.json"


class OutputRefused(ValueError):
    """The output path would replace or delete something rewardlab did not write."""


def disk_full(message: str) -> OSError:
    """An OSError carrying ENOSPC whose text is `message` alone (the CLI prints it without a traceback)."""
    err = OSError(message)
    err.errno = errno.ENOSPC
    return err


def is_disk_full(exc: BaseException, where: str | Path | None = None) -> bool:
    """Whether `exc` (or an exception it chains) reports a full disk. safetensors (Rust) and torch.save do not
    raise OSError/ENOSPC but their own errors (torch only "file write failed"), so the message is read too and,
    given `where`, the free space there is looked at before the partial output is removed."""
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(e)
        if "No space left on device" in text or "os error 28" in text or "Disk quota exceeded" in text:
            return True
        e = e.__cause__ or e.__context__
    if where is not None:
        try:
            return shutil.disk_usage(where).free < 1 << 20
        except OSError:
            return False
    return False


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot create output folder {folder}: {e.strerror or e}") from e
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"output folder {folder} is not writable")


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask can only read by setting)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    _check_writable(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; a file written normally gets 0666 minus the umask, so other users can read it
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.errno == 28:  # ENOSPC
            raise OSError(f"disk full while writing {path}") from e
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


# ------------------------------------------------------------------------------------------ output folders
# Hidden temporary names carry the writer's process id, so the next run can tell a killed writer's leftovers
# (process gone: removed) from a concurrent writer's work in progress (left alone).
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]+\.tmp$")


def _temp_name(name: str) -> str:
    return f".{name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"


#: files the operating system's file browser drops into any folder it shows; never anyone's work
OS_METADATA = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


def _is_our_temp(name: str) -> bool:
    """A hidden temporary leftover of an interrupted rewardlab write, or a file browser's metadata file."""
    return name in OS_METADATA or (name.startswith(".") and (name.endswith(".tmp") or name.endswith(".old")))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_path(path: Path) -> None:
    """Delete a file, a symlink (never what it points to) or a folder tree."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def clean_stale_temps(folder: str | Path, name: str | None = None) -> list[Path]:
    """Remove the hidden temporary folders/files a killed writer left in `folder` (for target `name`, or any),
    i.e. those whose writing process no longer exists. Returns what was removed."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        m = _TEMP.match(p.name)
        if m and (name is None or m.group("name") == name) and not _pid_alive(int(m.group("pid"))):
            remove_path(p)
            removed.append(p)
    old = folder / f".{name}.old" if name is not None else None
    if old is not None and old.exists():
        if (folder / name).exists():  # a swap killed after the new folder was in place
            remove_path(old)
            removed.append(old)
        else:  # killed between its two renames: the previous output goes back in place
            os.replace(old, folder / name)
    return removed


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """The folder's ``rewardlab_output.json`` record, or None when it has none (or an unreadable one)."""
    try:
        record = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("written_by") != "rewardlab":
        return None
    if not isinstance(record.get("entries"), list):
        return None
    return record


def write_marker(folder: str | Path, command: str, entries: Iterable[str] | None = None) -> None:
    """Mark `folder` as written by rewardlab; `entries` (default: what it holds now) are the names it wrote."""
    from rewardlab import __version__

    folder = Path(folder)
    if entries is None:
        entries = (p.name for p in folder.iterdir())
    names = sorted({e for e in entries if e != MARKER and not _is_our_temp(e)})
    atomic_write_json(folder / MARKER, {"written_by": "rewardlab", "version": __version__, "command": command,
                                        "entries": names})


def foreign_entries(folder: str | Path) -> list[str]:
    """Entries of `folder` that rewardlab did not write: everything when it has no marker (even a folder holding
    only rewardlab models: replacing it would delete all of them), else what the marker does not list, except a
    sub-folder of rewardlab outputs (``eval/rewardbench/`` with its own marker) and hidden temporary leftovers of
    an interrupted write."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    record = read_marker(folder)
    listed = set(record["entries"]) | {MARKER} if record else set()
    out = []
    for p in sorted(folder.iterdir()):
        if p.name in listed or _is_our_temp(p.name) or (record and _only_rewardlab_outputs(p)):
            continue
        out.append(p.name + ("/" if p.is_dir() and not p.is_symlink() else ""))
    return out


def _only_rewardlab_outputs(path: Path) -> bool:
    """A non-empty folder that is a complete rewardlab output, or holds only such folders."""
    if not path.is_dir() or path.is_symlink() or not any(path.iterdir()):
        return False
    if read_marker(path):
        return not foreign_entries(path)
    return all(_is_our_temp(p.name) or _only_rewardlab_outputs(p) for p in path.iterdir())


def _must_not_replace(target: Path) -> str | None:
    """Why `target` may never be emptied, even with overwrite: the root, the home folder, the working folder
    or one of its ancestors."""
    resolved = target.resolve()
    cwd = Path.cwd().resolve()
    if resolved == Path(resolved.anchor):
        return "it is the root of the file system"
    if resolved == Path.home().resolve():
        return "it is your home folder"
    if resolved == cwd or resolved in cwd.parents:
        return "it is (or contains) the current directory"
    return None


def check_output_path(path: str | os.PathLike | None, *, overwrite: bool = False, inputs: Iterable[Any] = (),
                      flag: str = "--overwrite", what: str = "output folder") -> Path:
    """Refuse an output folder that writing would damage; returns it as a Path. Checked before any work.

    Refused: an empty path; an existing file (never replaced by a folder, even with `overwrite`); a folder that
    is or contains one of `inputs`; a non-empty folder holding entries rewardlab did not write, unless
    `overwrite` -- and even then the root, the home folder and the current directory (or its ancestors).
    """
    if path is None or not str(path).strip():
        raise OutputRefused(f"the {what} path is empty (an unset variable?); give a folder path -- the current "
                            "directory is never used by default")
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputRefused(f"{target} is an existing file, not a folder; rewardlab never replaces a file with its "
                            f"{what}: give a new folder path")
    resolved = target.resolve()
    for item in inputs:
        if item is None or not str(item).strip() or not Path(item).exists():
            continue
        inp = Path(item).resolve()
        if inp == resolved or resolved in inp.parents:
            raise OutputRefused(f"the {what} {target} is or contains the input {item}: writing the output there "
                                "would delete it; choose another folder")
    if not target.is_dir():
        return target
    foreign = foreign_entries(target)
    if not foreign:
        return target
    shown = ", ".join(foreign[:6]) + (f" and {len(foreign) - 6} more" if len(foreign) > 6 else "")
    if overwrite:
        reason = _must_not_replace(target)
        if reason:
            raise OutputRefused(f"refusing to replace the contents of {target} ({shown}): {reason}; give a "
                                f"dedicated {what}")
        return target
    if read_marker(target):
        raise OutputRefused(f"{target} was written by rewardlab but now also holds {shown}, which rewardlab did "
                            "not write (replacing the folder would delete it): move that out, choose another "
                            f"folder, or pass {flag} to replace everything in it")
    raise OutputRefused(f"{target} is not empty and was not written by rewardlab (it holds {shown}): choose a new "
                        f"or empty folder, or pass {flag} to replace its contents")


class AtomicDirectory:
    """Context manager yielding a temporary folder that replaces `target` whole on success (removed on failure,
    `target` left as it was). The target is checked first (`check_output_path`), and the new folder gets the
    rewardlab marker. `carry` names entries of the current target moved into the new folder just before the
    swap (a training run's checkpoints and logs).

    The temporary folder is a hidden sibling, renamed over the target; when the target's parent is not writable
    (a mount point) or the target holds the working directory, it is staged inside the target instead and the
    target's contents are replaced.
    """

    def __init__(self, target: str | Path, *, overwrite: bool = False, command: str = "", inputs: Iterable[Any] = (),
                 carry: Iterable[str] = (), flag: str = "--overwrite"):
        self.given = target
        self.overwrite, self.command, self.inputs, self.carry, self.flag = overwrite, command, inputs, carry, flag

    def __enter__(self) -> Path:
        self.target = check_output_path(self.given, overwrite=self.overwrite, inputs=self.inputs, flag=self.flag)
        self.target = self.target.resolve()
        parent = self.target.parent
        if not self.target.is_dir():
            _check_writable(parent)
        self.inside = self.target.is_dir() and (not os.access(parent, os.W_OK) or _must_not_replace(self.target))
        home = self.target if self.inside else parent
        clean_stale_temps(home, self.target.name)
        self.tmp = home / _temp_name(self.target.name)
        self.tmp.mkdir()  # mode from the umask, like any folder the user makes
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            full = isinstance(exc, Exception) and is_disk_full(exc, self.tmp)
            shutil.rmtree(self.tmp, ignore_errors=True)
            if full:
                raise disk_full(f"disk full while writing {self.target}: the partial output was removed and "
                                f"{self.target} is as it was; free some space and run again") from exc
            return
        try:
            write_marker(self.tmp, self.command)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        moved = []
        try:
            for name in self.carry:
                if (self.target / name).exists() and not (self.tmp / name).exists():
                    os.replace(self.target / name, self.tmp / name)
                    moved.append(name)
            if moved:
                write_marker(self.tmp, self.command)
        except BaseException:
            for name in moved:
                os.replace(self.tmp / name, self.target / name)
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        if self.inside:
            for p in self.target.iterdir():
                if p != self.tmp:
                    remove_path(p)
            for p in self.tmp.iterdir():
                os.replace(p, self.target / p.name)
            self.tmp.rmdir()
        elif self.target.exists():
            old = self.target.with_name(f".{self.target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.target, old)
            os.replace(self.tmp, self.target)
            remove_path(old)
        else:
            os.replace(self.tmp, self.target)
