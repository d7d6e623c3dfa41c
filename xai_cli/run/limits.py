"""Time limits: run one input's work in a child process and stop it when it takes too long.

``run_with_timeout(action, seconds, label, out_dirs)`` is what ``--timeout`` uses; any command (and
a batch, per input) can wrap its work in it. The work runs in a forked child process in its own
process group, so a model that hangs in C code, or that started processes of its own, is stopped
with all of them. Reports the work writes are only staged in the child; the parent moves them
into place once the child has finished in time, so a stopped run never leaves a partial report.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from xai_cli.errors import InputError, UsageError, XaiError
from xai_cli.models.sandbox.threads import single_openmp_thread

T = TypeVar("T")

_CHUNK = 1 << 20


def run_with_timeout(
    action: Callable[[], T], seconds: float | None, label: str, out_dirs: Iterable[Path] = ()
) -> T:
    """``action()``, stopped after ``seconds`` (None: no limit) with an InputError naming ``label``.

    ``out_dirs`` are the report folders the action writes to: staging folders it leaves there when
    stopped are removed. Errors raised by the action are raised here unchanged (their worker
    traceback is attached as a note, for --debug).
    """
    if seconds is None:
        return action()
    if not seconds > 0:
        raise UsageError(f"--timeout {seconds}: expected a number of seconds above 0")
    if not hasattr(os, "fork"):
        raise UsageError("--timeout needs a platform that can fork processes (Linux, macOS)")
    folders = [Path(folder) for folder in out_dirs]
    staging_before = {folder: _staging_folders(folder) for folder in folders}
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child ends in os._exit, which coverage tools do not see
        os.close(read_fd)
        _child(action, write_fd)
    os.close(write_fd)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also done by the child: whichever runs first
    try:
        data = _read_until(read_fd, time.monotonic() + seconds)
    except BaseException:
        _stop(pid, folders, staging_before)
        raise
    finally:
        os.close(read_fd)
    if data is None:
        _stop(pid, folders, staging_before)
        raise InputError(
            f"{label}: stopped after {seconds:g} s (--timeout {seconds:g}); no report was written; "
            "allow more time or explain fewer --rows"
        )
    _, status = os.waitpid(pid, 0)
    if not data:
        _clean_staging(folders, staging_before)
        raise InputError(f"{label}: the worker process died ({_describe(status)}); no report was written")
    kind, value, extra = pickle.loads(data)
    if kind == "error":
        if extra:
            value.add_note(f"in the --timeout worker process:\n{extra}")
        raise value
    from xai_cli.reports.writer import commit_staging

    for staging, out_dir in extra:
        commit_staging(staging, out_dir)
    return value


def _child(action: Callable[[], Any], write_fd: int) -> None:
    """Run the action in the forked child, send (kind, value, extra) to the parent, and exit."""
    code = 0
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        single_openmp_thread()
        from xai_cli.reports.writer import deferred_commits

        try:
            with deferred_commits() as pending:
                value = action()
            payload = pickle.dumps(("ok", value, list(pending)))
        except BaseException as exc:
            payload = pickle.dumps(("error", _portable(exc), traceback.format_exc()))
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(payload)
    except BaseException:
        code = 70
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling (ours do), else one that says what it was."""
    try:
        return pickle.loads(pickle.dumps(exc))
    except Exception:
        if isinstance(exc, XaiError):
            stand_in = XaiError(str(exc))
            stand_in.exit_code = exc.exit_code
            return stand_in
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _read_until(read_fd: int, deadline: float) -> bytes | None:
    """Everything the child sends, or None if the deadline passes first."""
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([read_fd], [], [], remaining)
        if ready:
            chunk = os.read(read_fd, _CHUNK)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _stop(pid: int, folders: list[Path], staging_before: dict[Path, set[str]]) -> None:
    """Kill the child's process group, reap the child, remove the staging folders it left."""
    from xai_cli.models.sandbox.parent import kill_process_group

    kill_process_group(pid)
    _clean_staging(folders, staging_before)


def _staging_folders(folder: Path) -> set[str]:
    from xai_cli.reports.writer import STAGING_PREFIX

    try:
        return {p.name for p in folder.iterdir() if p.name.startswith(STAGING_PREFIX)}
    except OSError:
        return set()


def _clean_staging(folders: list[Path], staging_before: dict[Path, set[str]]) -> None:
    for folder in folders:
        for name in _staging_folders(folder) - staging_before.get(folder, set()):
            shutil.rmtree(folder / name, ignore_errors=True)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(number).name}"
        return f"killed by signal {number}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
