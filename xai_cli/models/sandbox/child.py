"""The sandboxed side: a forked process that locks itself down, runs the work, and sends back files,
notes and the result over its channel, then exits."""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import signal
import stat
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from xai_cli.errors import InputError, XaiError
from xai_cli.models.sandbox import channel
from xai_cli.models.sandbox.limits import SandboxLimits

EXIT_DONE = 0
EXIT_VIOLATION = 86
EXIT_BROKEN = 70
MAX_REPORTED_MODULES = 20_000
# Kept in the model process's environment; everything else (tokens, keys, passwords) is removed.
_KEPT_VARIABLES = ("PATH", "HOME", "LANG", "LC_", "TZ", "TMPDIR", "PYTHON", "OMP_", "MKL_", "OPENBLAS_",
                   "KMP_", "KERAS_", "TORCH_", "CUDA_", "NVIDIA_", "HF_", "TRANSFORMERS_", "XAI_",
                   "MPLBACKEND", "MPLCONFIGDIR", "NUMBA_", "VIRTUAL_ENV", "CI")  # fmt: skip


class RemoteSink:
    """Report files go to the parent, which checks each path and writes it (reports.writer.FileSink)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

    def _ask(self, header: dict[str, Any], body: bytes = b"") -> dict[str, Any]:
        with self.lock:
            channel.send(self.fd, header, body)
            reply, _ = channel.receive(self.fd)
        if reply.get("op") == "refused":
            number = reply.get("errno") if isinstance(reply.get("errno"), int) else 13
            raise OSError(number, str(reply.get("reason", "refused by the parent process")))
        return reply

    def write(self, path: Path, data: bytes) -> None:
        """Send one file."""
        self._ask({"op": "write", "path": str(path)}, data)

    def append(self, path: Path, data: bytes, *, first: bool) -> None:
        """Send a piece of a file written in pieces."""
        self._ask({"op": "append", "path": str(path), "first": bool(first)}, data)

    def make_folder(self, path: Path) -> None:
        """Ask for a folder."""
        self._ask({"op": "make_folder", "path": str(path)})

    def make_staging(self, out_dir: Path) -> Path:
        """Ask for a staging folder; its path comes back."""
        return Path(str(self._ask({"op": "make_staging", "path": str(out_dir)})["path"]))

    def commit(self, staging: Path, out_dir: Path) -> None:
        """Ask for a staging folder to be moved in."""
        self._ask({"op": "commit", "path": str(staging), "out_dir": str(out_dir)})

    def remove_tree(self, path: Path) -> None:
        """Ask for a folder of this run to be removed."""
        with contextlib.suppress(OSError):
            self._ask({"op": "remove_tree", "path": str(path)})


def child_main(
    fd: int,
    relay_fd: int,
    work: Callable[[Callable[[int, tuple[Any, ...]], None]], Any],
    read_paths: Sequence[Path],
    limits: SandboxLimits,
    prepare: Callable[[], None],
) -> NoReturn:
    """Lock down, run ``work(call_back)``, send the outcome, exit. Never returns."""
    code = EXIT_BROKEN
    modules_before = set(sys.modules)
    try:
        _detach(fd, relay_fd)
        prepare()
        notes, roots = _lock_down(fd, read_paths, limits)
        for note in notes:
            channel.send(fd, {"op": "layer_note", "text": note})

        def call_back(index: int, arguments: tuple[Any, ...]) -> None:
            channel.send(fd, {"op": "call", "index": index, "args": channel.encode_value(list(arguments))})

        try:
            value = work(call_back)
            imported = sorted(set(sys.modules) - modules_before)[:MAX_REPORTED_MODULES]
            channel.send(fd, {"op": "result", "value": channel.encode_value(value), "modules": imported})
        except MemoryError as exc:
            limit = limits.memory_bytes() / (1 << 30)
            error = InputError(
                f"the model needed more than the sandbox's {limit:.1f} GiB of memory; if you trust the "
                "model's size, raise --max-memory"
            )
            channel.send(fd, channel.encode_error(error, _traceback_text(exc)))
        except BaseException as exc:
            denied = _denied_by_the_sandbox(exc, roots)
            if denied is not None:
                channel.send(fd, {"op": "violation", "what": "read a file outside the model, the data "
                                  "and Python", "detail": denied})  # fmt: skip
            channel.send(fd, channel.encode_error(exc, _traceback_text(exc)))
        code = EXIT_DONE
    except BaseException:
        code = EXIT_BROKEN
    finally:
        os._exit(code)


def _traceback_text(exc: BaseException) -> str:
    """The traceback without source lines: reading them would open files outside the read roots."""
    frames = traceback.StackSummary.extract(traceback.walk_tb(exc.__traceback__), lookup_lines=False)
    lines = [f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n' for frame in frames]
    return "Traceback (most recent call last):\n" + "".join(lines) + f"{type(exc).__name__}: {exc}\n"


def _detach(fd: int, relay_fd: int) -> None:
    """Own process group; stdin from /dev/null; stdout and stderr into the relay pipe (a regular file
    could not be written once RLIMIT_FSIZE is 0); no inherited socket but the channel."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(relay_fd, 1)
    os.dup2(relay_fd, 2)
    os.close(relay_fd)
    _close_sockets(keep=fd)
    for name in list(os.environ):
        if not name.startswith(_KEPT_VARIABLES):
            del os.environ[name]
    sys.dont_write_bytecode = True
    # The parent's garbage-collection hooks watch the parent (distributed's reads its /proc/PID/statm).
    gc.callbacks.clear()


def _close_sockets(keep: int) -> None:
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc/self/fd"):
            number = int(entry)
            if number in (keep, 0, 1, 2):
                continue
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.fstat(number).st_mode):
                    os.close(number)


def _denied_by_the_sandbox(exc: BaseException, roots: Sequence[str]) -> str | None:
    """What Landlock refused, when ``exc`` (or an error behind it) is a denied access to a file outside
    the read roots: a read from C code, below the audit hook (torch.from_file, a C library's fopen)."""
    from xai_cli.models.sandbox.roots import is_within

    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in (errno.EACCES, errno.EPERM) and error.filename:
            name = os.path.realpath(os.fsdecode(error.filename))
            if not is_within(name, roots):
                return name
        elif "Permission denied" in str(error) and not isinstance(error, OSError | XaiError):
            return str(error).strip().splitlines()[0][:160]
        error = error.__cause__ or error.__context__
    return None


def _lock_down(fd: int, read_paths: Sequence[Path], limits: SandboxLimits) -> tuple[list[str], list[str]]:
    from xai_cli.models.sandbox.audit import install_audit_hook
    from xai_cli.models.sandbox.kernel import apply_landlock, apply_resource_limits, apply_seccomp
    from xai_cli.models.sandbox.roots import import_path_folders, read_roots
    from xai_cli.reports.writer import install_sink

    with contextlib.suppress(ImportError, OSError):
        import pyseccomp  # noqa: F401  (finds libseccomp by running ldconfig: before exec is forbidden)
    roots = read_roots(read_paths)
    listable = import_path_folders()
    install_sink(RemoteSink(fd))
    rlimit_note = apply_resource_limits(limits.memory_bytes(), limits.max_cpu_seconds)
    notes = [note for note in (rlimit_note, apply_landlock(roots, listable), apply_seccomp()) if note]

    def on_violation(what: str, detail: str) -> None:
        with contextlib.suppress(BaseException):
            channel.send(fd, {"op": "violation", "what": what, "detail": detail})
        os._exit(EXIT_VIOLATION)

    install_audit_hook(roots, listable, on_violation)
    return notes, roots
