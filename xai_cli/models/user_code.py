"""The user's own Python code that a model file needs: ``--code path.py`` and ``--arch module:factory``.

This is code the user names on the command line, never code taken from the model file, so importing it
needs no ``--trust-model``; a pickled model object still does.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from xai_cli.errors import InputError, UsageError


def import_code_file(path: Path) -> ModuleType:
    """Import a .py file as a module named after its stem (so pickles and --arch can name it)."""
    if not path.is_file():
        raise InputError(f"--code {path}: no such file")
    if path.suffix != ".py":
        raise UsageError(f"--code {path}: expected a Python file (.py)")
    name = path.stem
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__file__", None) == str(path.resolve()):
        return existing
    spec = importlib.util.spec_from_file_location(name, path.resolve())
    if spec is None or spec.loader is None:
        raise InputError(f"--code {path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _on_path(path.resolve().parent):
            spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise InputError(f"--code {path}: importing it failed: {type(exc).__name__}: {exc}") from exc
    return module


def build_from_factory(spec: str) -> Any:
    """Call ``package.module:factory`` (or ``module:Class``) with no arguments and return what it builds."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise UsageError(f"--arch {spec}: expected package.module:factory, e.g. mynets:make_model")
    try:
        with _on_path(Path.cwd()):
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(
            f"--arch {spec}: cannot import {module_name!r} ({exc}); run from the folder that holds it, "
            "set PYTHONPATH, or pass --code path/to/file.py"
        ) from exc
    factory = module
    for part in attribute.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise InputError(f"--arch {spec}: {module_name} has no attribute {attribute!r}")
    if not callable(factory):
        raise InputError(f"--arch {spec}: {attribute} is not callable")
    try:
        return factory()
    except Exception as exc:
        raise InputError(f"--arch {spec}: calling it failed: {type(exc).__name__}: {exc}") from exc


@contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    text = str(folder)
    added = text not in sys.path
    if added:
        sys.path.insert(0, text)
    try:
        yield
    finally:
        if added and text in sys.path:
            sys.path.remove(text)
