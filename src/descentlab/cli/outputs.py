"""Where the commands write: output paths checked before any work, one run per run folder, and removals that
an interrupt cannot tear.

- :func:`check_file_output` / :func:`check_folder_output` find, before data are read or a model trained, what
  would make writing fail later (a folder where a file is meant or the other way round, a path under a regular
  file, a place the user cannot write), and  both first refuse, by the one rule of every command, an output that
  is, or in a run folder holds, one of the command's inputs.
- :class:`RunLock` is an exclusive ``flock`` on a run's output: a second run into it at the same time is refused
  (a model file inside a run folder in use too), and the kernel releases the lock of a run that crashed, so a
  stale lock file never blocks.
- :func:`claim_run_folder` takes the lock and refuses a folder that already holds a run unless told to replace
  it; :func:`clear_previous_run` then removes the files that run wrote (and nothing else), so no stale model is
  left beside a new summary.
- :func:`new_run_folder` creates a fresh default folder with ``mkdir``, which fails when the name is taken, so
  two runs started in the same second never share one.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

LOCK_NAME = ".descentlab.lock"
_REMOVING = ".removing-"


Inputs = dict[str, Path | None]  # each input of a command by its flag (None: not given)


class OutputError(Exception):
    """An output path the command cannot or must not write: printed as one line, exit code 1."""


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name the same file: the same path once symbolic links are resolved, or the
    same inode (hard links)."""
    a, b = Path(a), Path(b)
    try:
        if a.resolve() == b.resolve():
            return True
        return os.path.samefile(a, b)
    except (OSError, RuntimeError):  # RuntimeError: a symbolic-link loop; the reader then names the path
        return False


def _lies_inside(folder: Path, path: Path) -> bool:
    """True when ``path`` lies inside ``folder`` once symbolic links are resolved."""
    try:
        return folder.resolve() in path.resolve().parents
    except (OSError, RuntimeError):  # RuntimeError: a symbolic-link loop; the reader then names the path
        return False


def _check_keeps_inputs(output: Path, flag: str, inputs: Inputs, run_folder: bool) -> None:
    """The one rule every command follows before any work: no input may be among what it writes. ``output`` is a
    file, or a run folder whose :data:`~descentlab.reporting.write.RUN_FILES` a run writes or replaces;
    ``inputs`` maps each input's flag to its path. Compared after resolving symbolic links, and by inode for hard
    links."""
    from ..reporting.write import RUN_FILES

    files = RUN_FILES if run_folder else ()
    written = [output / name for name in files] if files else [output]
    for input_flag, path in ((flag_, path_) for flag_, path_ in inputs.items() if path_ is not None):
        for target in written:
            if same_file(target, path) or _lies_inside(target, path):
                what = "one of the files a run writes into this folder" if files else f"the same file as {flag}"
                raise OutputError(f"{output}: {input_flag} {path} is {what}; writing it would destroy the input: "
                                  f"choose another {flag}" + (" or move the data out of it" if files else ""))


def _existing_ancestor(path: Path) -> Path:
    """The nearest folder above ``path`` that exists; refused when a regular file stands in the way."""
    for ancestor in Path(os.path.abspath(path)).parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputError(f"{path}: {ancestor} is a file, not a folder")
            return ancestor
    return Path("/")


def _check_writable(folder: Path, path: Path) -> None:
    """Create and remove a temporary file in ``folder``: the only test of writability that also holds for
    read-only file systems and for the superuser."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".descentlab-probe-", dir=folder)
    except OSError as error:
        raise OutputError(f"{path}: cannot write in {folder} ({error.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def check_file_output(path: Path, flag: str, inputs: Inputs) -> None:
    """Refuse, before any work, a file output that is one of the ``inputs`` or could not be written: a folder, a
    device or other special file, a path under a regular file, or one in a folder the user cannot write."""
    _check_keeps_inputs(path, flag, inputs, run_folder=False)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; {flag} needs a file name")
    if path.exists() and not path.is_file():
        raise OutputError(f"{path}: is not a regular file; {flag} needs a file name")
    if path.is_symlink() and not path.exists():  # writing would replace the link, not make what it names
        raise OutputError(f"{path}: is a symbolic link that leads nowhere (a loop, or a missing file); {flag} needs "
                          "a file name")
    parent = Path(os.path.abspath(path)).parent
    if parent.exists():
        if not parent.is_dir():
            raise OutputError(f"{path}: {parent} is a file, not a folder")
        _check_writable(parent, path)
    else:
        _check_writable(_existing_ancestor(path), path)


def check_folder_output(folder: Path, flag: str, inputs: Inputs) -> None:
    """Refuse, before any work, a run folder whose run files include one of the ``inputs``, or that could not be
    written: a regular file, a path under one, a folder whose run files have the wrong kind (a folder
    ``summary.json``, a file ``models``), or a place the user cannot write."""
    from ..reporting.write import RUN_FILES, RUN_FOLDERS

    _check_keeps_inputs(folder, flag, inputs, run_folder=True)
    if folder.exists():
        if not folder.is_dir():
            raise OutputError(f"{folder}: is a file; {flag} needs a folder")
        for name in RUN_FILES:
            if (folder / name).exists() and (name in RUN_FOLDERS) != (folder / name).is_dir():
                kind = "a folder" if name in RUN_FOLDERS else "a file"
                raise OutputError(f"{folder / name}: is {'a file' if kind == 'a folder' else 'a folder'} where the "
                                  f"run writes {kind}")
        _check_writable(folder, folder)
    else:
        _check_writable(_existing_ancestor(folder), folder)


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``path`` for as long as a run writes its output.

    A second run asking for the same lock is refused at once with :class:`OutputError`. The kernel drops the
    lock when the process ends, however it ends, so the file left by a crashed run does not block the next.
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode("ascii", "replace").strip()
                os.close(fd)
                raise OutputError(f"{self.what} is in use by another descentlab run (process {holder or '?'}); "
                                  f"wait for it to finish or choose another --out") from None
            # The holder before us may have removed the file after we opened it: then we hold a lock on a
            # name nobody else sees, and must lock the file now on disk instead.
            try:
                current = os.stat(self.path).st_ino
            except FileNotFoundError:
                current = -1
            if current == os.fstat(fd).st_ino:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode("ascii"))
                self._fd = fd
                return self
            os.close(fd)

    def release(self) -> None:
        """Remove the lock file while still holding it, then let go (in this order, see :meth:`acquire`)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _in_use(folder: Path) -> bool:
    """Whether a process holds ``folder``'s run lock now, as any other process sees it."""
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def previous_run(folder: Path) -> list[str]:
    """The names of the run files and folders in ``folder`` (a run left them there)."""
    from ..reporting.write import RUN_FILES

    return [name for name in RUN_FILES if (folder / name).exists()]


def claim_run_folder(folder: Path, command: str, overwrite: bool, resuming: bool) -> RunLock:
    """Create ``folder`` if needed and lock it for this run.

    Refused with :class:`OutputError` when another run holds it, or when it holds a previous run (finished or
    interrupted) and neither ``overwrite`` nor ``resuming`` (continuing that very run) allows it. Returns the
    held lock; release it when the run has written everything.
    """
    folder.mkdir(parents=True, exist_ok=True)
    check = None if overwrite or resuming else lambda: check_no_previous_run(folder, command)
    return acquire_checked(RunLock(folder / LOCK_NAME, str(folder)), check)


def acquire_checked(lock: RunLock, check: Callable[[], None] | None) -> RunLock:
    """``lock`` acquired, then ``check()`` (a refusal) made while it is held: what the check saw cannot change
    before this run writes. A refusal releases the lock again and is raised."""
    lock.acquire()
    if check is not None:
        try:
            check()
        except BaseException:
            lock.release()
            raise
    return lock


def check_no_previous_run(folder: Path, command: str) -> None:
    """Refuse a run folder that holds a previous run, finished or interrupted (see :func:`claim_run_folder`)."""
    found = previous_run(folder)
    if "checkpoint" in found:
        raise OutputError(f"{folder} holds an interrupted run: finish it with 'descentlab {command} --resume "
                          f"{folder / 'checkpoint'}', or pass --overwrite to replace it")
    if found:
        raise OutputError(f"{folder} already holds a run ({', '.join(found)}); pass --overwrite to replace it, or "
                          f"choose another --out")


def check_no_interrupted_run(model: Path, checkpoint: Path) -> None:
    """Refuse a model file whose checkpoint folder holds an interrupted run (see :func:`claim_model_file`)."""
    if checkpoint.exists() and not checkpoint.is_dir():
        raise OutputError(f"{checkpoint}: is a file where an interrupted run would save its checkpoint folder")
    if checkpoint.exists():
        raise OutputError(f"{checkpoint} holds an interrupted run of {model}: finish it with 'descentlab train "
                          f"--resume {checkpoint}', or pass --overwrite to discard it")


def claim_model_file(model: Path, checkpoint: Path, overwrite: bool, resuming: bool) -> RunLock:
    """Lock the model file ``model`` for this run (see :class:`RunLock`). Refused when another run holds it, or
    when ``checkpoint`` holds an interrupted run of it and neither ``overwrite`` (discard that run) nor
    ``resuming`` (continue it) allows writing. Returns the held lock."""
    if checkpoint.exists() and not checkpoint.is_dir():
        raise OutputError(f"{checkpoint}: is a file where an interrupted run would save its checkpoint folder")
    model.parent.mkdir(parents=True, exist_ok=True)

    from ..reporting.write import RUN_FILES

    def check() -> None:
        path = Path(os.path.abspath(model))
        for folder in path.parents:  # a run folder's files (models/…) are its run's while it runs
            if path.relative_to(folder).parts[0] in RUN_FILES and _in_use(folder):
                raise OutputError(f"{model}: {folder} is in use by another descentlab run; wait for it to finish "
                                  f"or choose another --out")
        if not (overwrite or resuming):
            check_no_interrupted_run(model, checkpoint)

    return acquire_checked(RunLock(model.parent / f".{model.name}.lock", str(model)), check)


def _written_by_its_run(folder: Path) -> list[Path]:
    """The files in ``folder``'s ``models/`` and ``cells/`` that its previous run wrote: the models its
    summary.json names, the cells its manifest.json names. Anything else there is the user's."""
    import json

    found: list[Path] = []
    for record, key, pattern in (("summary.json", "model_files", "{}"), ("manifest.json", "cells", "cells/{}.parquet")):
        try:
            names = json.loads((folder / record).read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError, AttributeError):
            continue
        names = names.values() if isinstance(names, dict) else names if isinstance(names, list) else ()
        found += [folder / pattern.format(name) for name in names if isinstance(name, str) and ".." not in name]
    return found


def clear_previous_run(folder: Path) -> None:
    """Remove the files a previous run wrote in ``folder`` (:data:`~descentlab.reporting.write.RUN_FILES`, the
    models and cells it names, leftovers of an interrupted removal), all but ``checkpoint/``, which the new run
    replaces with its own; files descentlab did not write are left alone."""
    from ..reporting.write import CHECKPOINT, RUN_FILES, RUN_FOLDERS

    for path in _written_by_its_run(folder):
        path.unlink(missing_ok=True)
    for name in RUN_FILES:
        if name not in RUN_FOLDERS:
            (folder / name).unlink(missing_ok=True)
        elif name != CHECKPOINT and (folder / name).is_dir() and not any((folder / name).iterdir()):
            (folder / name).rmdir()
    for leftover in folder.glob(f".*{_REMOVING}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def remove_tree(path: Path) -> None:
    """Remove a folder so that it disappears at once: it is renamed to a hidden name first (one atomic step),
    then deleted. A folder already gone is fine."""
    if not path.exists():
        return
    trash = path.with_name(f".{path.name}{_REMOVING}{os.getpid()}")
    os.replace(path, trash)
    shutil.rmtree(trash)


def new_run_folder(base: Path = Path("runs"), now: datetime | None = None) -> Path:
    """Create and return a new folder ``base/<date>-<time>`` (``-2``, ``-3``, … when taken). ``mkdir`` fails
    when another process created the name first, so two runs never get the same folder."""
    stem = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        path = base / (stem if n == 1 else f"{stem}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            n += 1
            continue
        return path
