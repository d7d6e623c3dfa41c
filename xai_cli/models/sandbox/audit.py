"""The Python-level wall of the sandbox: an audit hook (PEP 578) that stops the process the moment code
in it asks Python to start a process, open a socket, write or change a file, or read a file outside the
paths it was given. It names what was tried; the kernel layers (seccomp, Landlock, rlimits) stop the
same actions when they are made from C, where no audit event is raised.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Sequence

from xai_cli.models.sandbox.roots import is_within

_PROCESS_EVENTS = frozenset(
    {
        "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.startfile",
        "subprocess.Popen", "pty.spawn", "webbrowser.open",
    }
)  # fmt: skip
_NETWORK_EVENTS = frozenset(
    {
        "socket.__new__", "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg",
        "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request", "http.client.connect",
        "ftplib.connect", "smtplib.connect", "imaplib.open", "poplib.connect", "telnetlib.Telnet.open",
    }
)  # fmt: skip
_CHANGE_EVENTS = frozenset(
    {
        "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.link",
        "os.symlink", "os.utime", "os.chflags", "os.lchmod", "os.lchown", "os.setxattr", "os.removexattr",
        "shutil.rmtree", "shutil.copyfile", "shutil.copymode", "shutil.copystat", "shutil.move",
        "shutil.make_archive", "shutil.unpack_archive", "tempfile.mkstemp", "tempfile.mkdtemp",
    }
)  # fmt: skip
_LIST_EVENTS = frozenset({"os.listdir", "os.scandir", "glob.glob", "os.walk"})
_SIGNAL_EVENTS = frozenset({"os.kill", "os.killpg", "signal.pthread_kill"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def install_audit_hook(
    read_roots: Sequence[str], list_only: Sequence[str], on_violation: Callable[[str, str], None]
) -> None:
    """Stop the process at the first forbidden action; ``on_violation(what, detail)`` then ends it.

    ``read_roots`` may be read; the folders ``list_only`` may be listed (not read beneath)."""
    listable = frozenset(list_only)
    state = threading.local()
    pid = os.getpid()

    def judge(event: str, args: tuple[object, ...]) -> tuple[str, str] | None:
        if event == "open":
            return _judge_open(args, read_roots)
        if event in _PROCESS_EVENTS:
            return "start a process", _describe(args)
        if event in _NETWORK_EVENTS:
            return "open a network connection", _describe(args)
        if event in _CHANGE_EVENTS:
            return "write or change a file", _describe(args)
        if event in _LIST_EVENTS:
            folder = args[0] if args else None
            if isinstance(folder, str | bytes) and not _listable(folder, read_roots, listable):
                return "list a folder outside the model, the data and Python", _describe(args)
        if event in _SIGNAL_EVENTS and args and args[0] not in (pid, 0):
            return "signal another process", _describe(args)
        return None

    def hook(event: str, args: tuple[object, ...]) -> None:
        if getattr(state, "busy", False):
            return
        state.busy = True
        try:
            verdict = judge(event, args)
        finally:
            state.busy = False
        if verdict is not None:
            on_violation(*verdict)

    sys.addaudithook(hook)


def _judge_open(args: tuple[object, ...], read_roots: Sequence[str]) -> tuple[str, str] | None:
    path = args[0] if args else None
    mode = args[1] if len(args) > 1 else None
    flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
    if isinstance(path, int) or path is None:
        return None  # an already open descriptor (os.fdopen, socket files)
    writing = bool(flags & _WRITE_FLAGS) or (isinstance(mode, str) and any(c in mode for c in "wax+"))
    if writing:
        return "write a file", _describe((path,))
    if isinstance(path, str | bytes | os.PathLike) and not _readable(path, read_roots):
        return "read a file outside the model, the data and Python", _describe((path,))
    return None


def _listable(folder: str | bytes, read_roots: Sequence[str], listable: frozenset[str]) -> bool:
    with contextlib.suppress(TypeError, ValueError, OSError):
        if os.path.realpath(os.fsdecode(folder)) in listable:
            return True
    return _readable(folder, read_roots)


def _readable(path: object, read_roots: Sequence[str]) -> bool:
    try:
        resolved = os.path.realpath(os.fsdecode(path))  # type: ignore[arg-type]
    except (TypeError, ValueError, OSError):
        return False
    return is_within(resolved, read_roots)


def _describe(args: tuple[object, ...]) -> str:
    text = " ".join(os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args[:2])
    return text if len(text) <= 160 else text[:160] + "..."
