"""Untrusted models load and run in a child process that cannot write files, start processes, open
sockets, or read outside the model, the data and the Python installation; the parent writes the reports.

``sandboxed`` wraps a command's run function (``run_explain(args, on_note, ...)``): unless
``args.trust_model``, the whole function runs in a forked child locked down by resource limits
(memory, CPU time, no file growth), Landlock, a seccomp filter and a Python audit hook (see kernel.py
and audit.py), with its callbacks, report files and result passed over a channel that carries no pickle
(channel.py). ``XAI_SANDBOX=0`` switches it off (the allow-list still applies); it is also off where
``fork`` is missing (Windows), with a note.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from xai_cli.models.sandbox.limits import SandboxLimits

__all__ = ["SandboxLimits", "inside_sandbox", "sandboxed"]

F = TypeVar("F", bound=Callable[..., Any])
_INSIDE = False
_NOTED: set[str] = set()


def inside_sandbox() -> bool:
    """True in a sandboxed model process."""
    return _INSIDE


def sandbox_wanted(args: Any) -> bool:
    """Whether ``args`` (a command's arguments) run in the sandbox: untrusted, sandbox on, fork there."""
    if getattr(args, "trust_model", True) or _INSIDE:
        return False
    if os.environ.get("XAI_SANDBOX", "").strip() == "0":
        return False
    if not hasattr(os, "fork"):
        _note_once("the sandbox needs fork (Linux, macOS): untrusted models run under the allow-list alone")
        return False
    return True


def sandboxed(func: F) -> F:
    """Run ``func(args, *callbacks, **options)`` in the sandbox unless ``args.trust_model``.

    Callables among the other arguments are called back in this process; ``plot_helper`` is off in the
    child (it may not fork); ``args.timeout``, when the args have one, is enforced from here.
    """

    @functools.wraps(func)
    def wrapper(args: Any, *rest: Any, **options: Any) -> Any:
        if not sandbox_wanted(args):
            return func(args, *rest, **options)
        return _run_in_sandbox(func, args, rest, options)

    return wrapper  # type: ignore[return-value]


def _run_in_sandbox(
    func: Callable[..., Any], args: Any, rest: tuple[Any, ...], options: dict[str, Any]
) -> Any:
    from xai_cli.models.sandbox.parent import SandboxJob, run_sandboxed
    from xai_cli.models.sandbox.prepare import prepare_for
    from xai_cli.models.sandbox.roots import args_paths

    callbacks = [value for value in (*rest, *options.values()) if callable(value)]
    seconds = getattr(args, "timeout", None)
    child_args = dataclasses.replace(args, timeout=None) if seconds is not None else args
    if "plot_helper" in options:
        options = {**options, "plot_helper": False}

    def work(call_back: Callable[[int, tuple[Any, ...]], None]) -> Any:
        global _INSIDE
        _INSIDE = True
        proxies = iter(range(len(callbacks)))

        def proxy(value: Any) -> Any:
            if not callable(value):
                return value
            index = next(proxies)
            return lambda *arguments: call_back(index, arguments)

        child_rest = tuple(proxy(value) for value in rest)
        child_options = {name: proxy(value) for name, value in options.items()}
        return func(child_args, *child_rest, **child_options)

    model_path = Path(args.model)
    job = SandboxJob(
        work=work,
        callbacks=callbacks,
        read_paths=args_paths(args),
        out_dirs=[Path(args.out)],
        limits=getattr(args, "limits", None) or SandboxLimits(),
        label=str(model_path),
        seconds=seconds,
        prepare=lambda: prepare_for(model_path, str(getattr(args, "device", "cpu"))),
        on_layer_note=lambda text: _note_once(text, rest[0] if rest and callable(rest[0]) else None),
    )
    return run_sandboxed(job)


def _note_once(text: str, on_note: Callable[[str], None] | None = None) -> None:
    """A note about the sandbox, once per process: through the command's note callback (its first
    callback, which --quiet silences) when it has one, else on stderr."""
    if text in _NOTED:
        return
    _NOTED.add(text)
    if on_note is not None:
        on_note(text)
    else:
        sys.stderr.write(f"note: {text}\n")
