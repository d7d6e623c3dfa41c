"""The parent side of the sandbox: fork the model process, serve its requests (report files, notes,
callbacks) within the report folders it was given, relay what it prints, and turn how it ended into
the result or an error."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xai_cli.errors import InputError, UnsafeModelError
from xai_cli.models.sandbox import channel
from xai_cli.models.sandbox.child import EXIT_VIOLATION, child_main
from xai_cli.models.sandbox.limits import SandboxLimits
from xai_cli.models.sandbox.prepare import scratch_folder

TRUST_HINT = "if you trust this file, pass --trust-model (or set XAI_TRUST_MODEL=1)"
# What the model process may print (library noise) before the rest is dropped.
_RELAY_LIMIT = 64 << 10
# Modules a model process imported that the next one in this process (a batch) will import again:
# imported here before the next fork, so that each child starts with them. Only libraries this tool
# uses, whatever names the child sent.
WARM_PACKAGES = frozenset(
    {
        "xai_cli", "shap", "sklearn", "scipy", "numpy", "pandas", "matplotlib", "lime", "numba", "llvmlite",
        "pyarrow", "joblib", "threadpoolctl", "PIL", "torch", "captum", "keras", "onnxruntime", "onnx",
        "skops", "xgboost", "lightgbm", "catboost", "safetensors", "transformers", "h5py",
    }
)  # fmt: skip
_learned_modules: set[str] = set()
_SIGNAL_WORDS = {
    signal.SIGSYS: "made a system call the sandbox forbids (starting a process, writing or changing a "
    "file, opening a socket, or reaching another process)",
    signal.SIGXFSZ: "tried to write a file",
}


class _Session:
    """One model process: the folders it may write into and what it has sent so far."""

    def __init__(
        self,
        out_dirs: Sequence[Path],
        callbacks: Sequence[Callable[..., Any]],
        budget: int,
        on_layer_note: Callable[[str], None],
    ) -> None:
        self.out_roots = [os.path.realpath(folder) for folder in out_dirs]
        self.callbacks = list(callbacks)
        self.staging: set[str] = set()
        self.budget = budget
        self.result: Any = None
        self.error: BaseException | None = None
        self.violation: tuple[str, str] | None = None
        self.on_layer_note = on_layer_note
        self.finished = False
        self.relayed = 0

    def inside(self, text: object, *, strictly: bool = False) -> str:
        """The resolved ``text`` if it lies within a report folder, else a refusal."""
        if not isinstance(text, str):
            raise channel.ProtocolError("a path that is not text")
        resolved = os.path.realpath(text)
        for root in self.out_roots:
            if resolved.startswith(root.rstrip("/") + "/") or (resolved == root and not strictly):
                return resolved
        raise PermissionError(f"{text} is outside the report folder")


@dataclass(frozen=True)
class SandboxJob:
    """One run in a sandboxed child.

    ``work(call_back)`` runs in the child; ``call_back(i, args)`` there calls ``callbacks[i](*args)``
    here. ``read_paths`` may be read there (besides the Python installation), ``out_dirs`` written
    through this process; ``prepare`` runs there before the lock-down; ``on_layer_note`` hears here of
    each sandbox layer this platform lacks; ``seconds`` is the --timeout (None: none).
    """

    work: Callable[[Callable[[int, tuple[Any, ...]], None]], Any]
    callbacks: Sequence[Callable[..., Any]]
    read_paths: Sequence[Path]
    out_dirs: Sequence[Path]
    limits: SandboxLimits
    label: str
    seconds: float | None
    prepare: Callable[[], None]
    on_layer_note: Callable[[str], None]


def run_sandboxed(job: SandboxJob) -> Any:
    """Run ``job.work`` in a sandboxed child and return its value. Errors it raises are raised here,
    rebuilt from their class name and message."""
    made = _make_folders(job.out_dirs)
    try:
        return _run(job)
    except BaseException:
        _remove_empty(made)
        raise


def _make_folders(out_dirs: Sequence[Path]) -> list[Path]:
    """Make the report folders here, so that the model process may read back what it wrote (the HTML
    report inlines its images) under Landlock, whose rules name existing folders; the folders made,
    deepest first."""
    made: list[Path] = []
    for folder in out_dirs:
        missing = [path for path in [Path(folder), *Path(folder).parents] if not path.exists()]
        with contextlib.suppress(OSError):
            Path(folder).mkdir(parents=True, exist_ok=True)
            made += missing
    return made


def _remove_empty(folders: list[Path]) -> None:
    """A failed run leaves no folder it made (those it filled stay: os.rmdir removes empty ones only)."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _run(job: SandboxJob) -> Any:
    _warm_up()
    parent_end, child_end = socket.socketpair()
    relay_read, relay_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child ends in os._exit
        parent_end.close()
        os.close(relay_read)
        child_main(child_end.detach(), relay_write, job.work, job.read_paths, job.limits, job.prepare)
    child_end.close()
    os.close(relay_write)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    session = _Session(job.out_dirs, job.callbacks, job.limits.memory_bytes(), job.on_layer_note)
    deadline = None if job.seconds is None else time.monotonic() + job.seconds
    try:
        timed_out = _serve(session, parent_end.fileno(), relay_read, deadline)
    except BaseException:
        kill_process_group(pid)
        shutil.rmtree(scratch_folder(pid), ignore_errors=True)
        raise
    finally:
        parent_end.close()
        os.close(relay_read)
    if timed_out:
        kill_process_group(pid)
        shutil.rmtree(scratch_folder(pid), ignore_errors=True)
        _remove_staging(session)
        raise InputError(
            f"{job.label}: stopped after {job.seconds:g} s (--timeout {job.seconds:g}); no report was "
            "written; allow more time or explain fewer --rows"
        )
    _, status = os.waitpid(pid, 0)
    shutil.rmtree(scratch_folder(pid), ignore_errors=True)
    try:
        return _outcome(session, status, job.label, job.limits)
    except BaseException:
        _remove_staging(session)
        raise


def _serve(session: _Session, fd: int, relay_fd: int, deadline: float | None) -> bool:
    """Answer the child until it closes the channel; True if the deadline passed first."""
    open_fds = [fd, relay_fd]
    while fd in open_fds:
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            return True
        ready, _, _ = select.select(open_fds, [], [], timeout)
        if relay_fd in ready and not _relay(session, relay_fd):
            open_fds.remove(relay_fd)
        if fd in ready:
            try:
                header, body = channel.receive(fd)
            except channel.ChannelClosed:
                open_fds.remove(fd)
                continue
            session.budget -= len(body)
            if session.budget < 0:
                raise InputError("the model process sent more data than its memory limit")
            _handle(session, fd, header, body)
    while relay_fd in open_fds and select.select([relay_fd], [], [], 1.0)[0] and _relay(session, relay_fd):
        pass
    return False


def _relay(session: _Session, relay_fd: int) -> bool:
    data = os.read(relay_fd, 1 << 16)
    if not data:
        return False
    if session.relayed < _RELAY_LIMIT:
        from xai_cli.textsafe import terminal_safe

        text = data[: _RELAY_LIMIT - session.relayed].decode("utf-8", "replace")
        sys.stderr.write("\n".join(terminal_safe(line) for line in text.split("\n")))
        sys.stderr.flush()
    session.relayed += len(data)
    return True


def _handle(session: _Session, fd: int, header: dict[str, Any], body: bytes) -> None:
    op = header["op"]
    if op == "call":
        index, arguments = header.get("index"), channel.decode_value(header.get("args"))
        if not (
            isinstance(index, int) and 0 <= index < len(session.callbacks) and isinstance(arguments, list)
        ):
            raise channel.ProtocolError("a call to a callback that does not exist")
        session.callbacks[index](*arguments)
    elif op == "layer_note":
        session.on_layer_note(str(header.get("text")))
    elif op == "result":
        session.result, session.finished = channel.decode_value(header.get("value")), True
        _learn(header.get("modules"))
    elif op == "error":
        session.error, session.finished = channel.decode_error(header), True
    elif op == "violation":
        session.violation = (str(header.get("what")), str(header.get("detail")))
    else:
        _file_request(session, fd, header, body)


def _file_request(session: _Session, fd: int, header: dict[str, Any], body: bytes) -> None:
    from xai_cli.reports import writer

    op = header["op"]
    reply: dict[str, Any] = {"op": "ok"}
    try:
        if op == "write":
            writer.write_local(Path(session.inside(header.get("path"), strictly=True)), body)
        elif op == "append":
            target = Path(session.inside(header.get("path"), strictly=True))
            with target.open("wb" if header.get("first") else "ab") as handle:
                handle.write(body)
        elif op == "make_folder":
            Path(session.inside(header.get("path"))).mkdir(parents=True, exist_ok=True)
        elif op == "make_staging":
            staging = str(writer.make_local_staging(Path(session.inside(header.get("path")))))
            session.staging.add(staging)
            reply["path"] = staging
        elif op == "commit":
            staging = session.inside(header.get("path"), strictly=True)
            out_dir = session.inside(header.get("out_dir"))
            if os.path.dirname(staging) != out_dir:
                raise PermissionError(f"{staging} is not a folder inside {out_dir}")
            session.staging.discard(staging)
            writer.commit_local(Path(staging), Path(out_dir))
        elif op == "remove_tree":
            target = session.inside(header.get("path"), strictly=True)
            session.staging.discard(target)
            shutil.rmtree(target, ignore_errors=True)
        else:
            raise channel.ProtocolError(f"an unknown request {op!r}")
    except OSError as exc:
        reply = {"op": "refused", "errno": exc.errno or 13, "reason": exc.strerror or str(exc)}
    except InputError as exc:
        reply = {"op": "refused", "errno": 13, "reason": str(exc)}
    channel.send(fd, reply)


def _outcome(session: _Session, status: int, label: str, limits: SandboxLimits) -> Any:
    if session.violation is not None:
        what, detail = session.violation
        raise UnsafeModelError(
            f"{label}: stopped by the sandbox: the model tried to {what} ({detail}), which an untrusted "
            f"model may not do; {TRUST_HINT}"
        )
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number in _SIGNAL_WORDS:
            raise UnsafeModelError(
                f"{label}: stopped by the sandbox: the model {_SIGNAL_WORDS[number]}; {TRUST_HINT}"
            )
        if number == signal.SIGXCPU:
            raise InputError(
                f"{label}: stopped by the sandbox after {limits.max_cpu_seconds} s of CPU time "
                "(--max-cpu-seconds); raise it, or explain fewer --rows"
            )
        raise InputError(
            f"{label}: the model process was killed ({signal.Signals(number).name}); no report was written"
        )
    if session.error is not None:
        raise session.error
    if not session.finished:
        raise InputError(
            f"{label}: the model process ended without a result "
            f"(exit status {os.waitstatus_to_exitcode(status)}); no report was written"
        )
    if os.waitstatus_to_exitcode(status) == EXIT_VIOLATION:
        raise UnsafeModelError(f"{label}: stopped by the sandbox; {TRUST_HINT}")
    return session.result


def _learn(modules: object) -> None:
    if isinstance(modules, list):
        _learned_modules.update(
            name for name in modules if isinstance(name, str) and name.partition(".")[0] in WARM_PACKAGES
        )


def _warm_up() -> None:
    """Import what the last model process of this process imported (see WARM_PACKAGES)."""
    import importlib

    while _learned_modules:
        name = _learned_modules.pop()
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def _remove_staging(session: _Session) -> None:
    for staging in session.staging:
        shutil.rmtree(staging, ignore_errors=True)


def kill_process_group(pid: int) -> None:
    """SIGKILL a child's process group and the child, then reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
