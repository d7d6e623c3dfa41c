"""Hostile model payloads, shared by the unit tests and the corpus generator.

Every payload is harmless: if a file holding it were loaded without the allow-list, it would
create a marker file and nothing else. ``Marker`` says how a payload finds that file: at a fixed
path (unit tests, one marker per test) or through the ``XAI_HOSTILE_MARKER`` environment variable
(the corpus, so that its files do not depend on where a test puts its marker).
"""

from __future__ import annotations

import builtins
import copy
import functools
import importlib
import os
import pickle
import runpy
import subprocess
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from numpy.testing._private.utils import runstring

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from numpy.core import _ufunc_reconstruct as numpy1_ufunc_reconstruct

ROOT = Path(__file__).resolve().parents[2]
MARKER_VARIABLE = "XAI_HOSTILE_MARKER"
DEFAULT_MARKER_NAME = "xai-hostile-marker"

FORMATS = [
    "pickle-p0",
    "pickle-p1",
    "pickle-p2",
    "pickle-p3",
    "pickle-p4",
    "pickle-p5",
    "joblib-0",
    "joblib-3",
]
COMPRESSORS = [("zlib", 3), ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)]

PAYLOAD_KINDS = [
    "os.system", "subprocess.Popen", "subprocess.check_output", "builtins.exec", "builtins.eval",
    "io.open", "getattr-chain", "builtins.__import__", "importlib.import_module", "numpy-runstring",
    "runpy._run_code", "numpy.load", "pandas.read_pickle", "joblib.load", "pickle.loads",
    "numpy1-ufunc-reconstruct", "in-containers", "estimator-attribute", "object-array",
    "object-array-in-estimator",
]  # fmt: skip


@dataclass(frozen=True)
class Marker:
    """How a payload creates its marker: as a shell command, as Python code, as an argv."""

    shell: str
    python: str
    argv: tuple[str, ...]

    @classmethod
    def at(cls, path: Path) -> Marker:
        """A payload that creates exactly ``path``."""
        return cls(f"touch {path}", f"open({str(path)!r}, 'w').close()", ("touch", str(path)))

    @classmethod
    def from_environment(cls) -> Marker:
        """A payload that creates ``$XAI_HOSTILE_MARKER``, or ``xai-hostile-marker`` in the working dir."""
        shell = f'touch "${{{MARKER_VARIABLE}:-{DEFAULT_MARKER_NAME}}}"'
        python = (
            f"open(__import__('os').environ.get({MARKER_VARIABLE!r}, {DEFAULT_MARKER_NAME!r}), 'w').close()"
        )
        return cls(shell, python, ("sh", "-c", shell))


def save(obj: object, path: Path, fmt: str | tuple[str, int]) -> Path:
    """Write ``obj`` in one of FORMATS (or with a joblib compressor tuple)."""
    if isinstance(fmt, tuple):
        joblib.dump(obj, path, compress=fmt)
    elif fmt.startswith("pickle-p"):
        with open(path, "wb") as fh:
            pickle.dump(obj, fh, protocol=int(fmt[-1]))
    else:
        joblib.dump(obj, path, compress=int(fmt.split("-")[1]))
    return path


class Call:
    """Pickles as ``func(*args)``: exactly what a hostile ``__reduce__`` returns."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args

    def __call__(self, *args: Any) -> None:
        raise AssertionError("a Call only stands for a callable inside a pickle")


def qualified_name(func: Any) -> str:
    """'module.qualname' of a function, as a pickle names it."""
    return f"{func.__module__}.{func.__qualname__}"


@dataclass
class Payload:
    """An object to pickle, and the names a refusal may give for it (one of them)."""

    obj: Any
    refused: set[str]


def working_estimator() -> Any:
    """A real decision tree over the iris sample's four columns: it loads and explains."""
    return copy.deepcopy(_fitted_tree())


@functools.cache
def _fitted_tree() -> Any:
    from sklearn.tree import DecisionTreeClassifier

    frame = pd.read_csv(ROOT / "sample_data" / "iris.csv")
    return DecisionTreeClassifier(max_depth=2, random_state=0).fit(
        frame.drop(columns="species"), frame["species"]
    )


def with_attribute(value: Any) -> Any:
    """A working estimator carrying ``value`` in an attribute of its own."""
    estimator = working_estimator()
    estimator.evil = value
    return estimator


def second_stage(workdir: Path, marker: Marker) -> Path:
    """A plain os.system pickle for the payloads that load another file."""
    path = workdir / "stage2.pkl"
    path.write_bytes(pickle.dumps(Call(os.system, marker.shell)))
    return path


def make_payload(kind: str, marker: Marker, module: str, workdir: Path) -> Payload:
    """The payload of one of PAYLOAD_KINDS; ``module`` creates the marker when imported and
    ``workdir`` receives the second-stage file of the payloads that chain one."""
    code = marker.python
    system = Call(os.system, marker.shell)
    posix_system = {qualified_name(os.system)}
    payloads: dict[str, Callable[[], Payload]] = {
        "os.system": lambda: Payload(system, posix_system),
        "subprocess.Popen": lambda: Payload(Call(subprocess.Popen, list(marker.argv)), {"subprocess.Popen"}),
        "subprocess.check_output": lambda: Payload(
            Call(subprocess.check_output, list(marker.argv)), {"subprocess.check_output"}
        ),
        "builtins.exec": lambda: Payload(Call(exec, code), {"builtins.exec"}),
        "builtins.eval": lambda: Payload(Call(eval, code), {"builtins.eval"}),
        "io.open": lambda: Payload(Call(open, *_open_args(marker)), {"io.open"}),
        "getattr-chain": lambda: Payload(
            Call(Call(getattr, Call(importlib.import_module, "os"), "system"), marker.shell),
            {"builtins.getattr", "importlib.import_module"},
        ),
        "builtins.__import__": lambda: Payload(Call(builtins.__import__, module), {"builtins.__import__"}),
        "importlib.import_module": lambda: Payload(
            Call(importlib.import_module, module), {"importlib.import_module"}
        ),
        "numpy-runstring": lambda: Payload(Call(runstring, code, {}), {qualified_name(runstring)}),
        "runpy._run_code": lambda: Payload(Call(runpy._run_code, code, {}), {"runpy._run_code"}),
        "numpy.load": lambda: Payload(
            Call(np.load, str(second_stage(workdir, marker)), None, True), {qualified_name(np.load)}
        ),
        "pandas.read_pickle": lambda: Payload(
            Call(pd.read_pickle, str(second_stage(workdir, marker))), {qualified_name(pd.read_pickle)}
        ),
        "joblib.load": lambda: Payload(
            Call(joblib.load, str(second_stage(workdir, marker))), {qualified_name(joblib.load)}
        ),
        "pickle.loads": lambda: Payload(
            Call(pickle.loads, pickle.dumps(system)), {"_pickle.loads", "pickle.loads"}
        ),
        "numpy1-ufunc-reconstruct": lambda: Payload(
            Call(Call(numpy1_ufunc_reconstruct, os.system.__module__, "system"), marker.shell), posix_system
        ),
        "in-containers": lambda: Payload([1, {"a": (2.0, [system])}], posix_system),
        "estimator-attribute": lambda: Payload(with_attribute(system), posix_system),
        "object-array": lambda: Payload(np.array([1, "x", system], dtype=object), posix_system),
        "object-array-in-estimator": lambda: Payload(
            with_attribute(np.array([system], dtype=object)), posix_system
        ),
    }
    return payloads[kind]()


def _open_args(marker: Marker) -> tuple[str, str]:
    """open(PATH, 'w') creates the marker; only a literal path can be given to it."""
    path = marker.argv[-1] if marker.argv[0] == "touch" else DEFAULT_MARKER_NAME
    return path, "w"


def unicode_op(text: str, proto: int) -> bytes:
    """The opcode that pushes ``text`` in protocol ``proto``."""
    if proto >= 1:
        data = text.encode("utf-8")
        return b"X" + len(data).to_bytes(4, "little") + data
    return b"V" + text.encode("raw_unicode_escape") + b"\n"


def global_call(module: str, name: str, args: tuple[str, ...], proto: int) -> bytes:
    """A pickle that imports ``module.name`` (GLOBAL, or STACK_GLOBAL from protocol 4) and
    calls it with string ``args``."""
    out = bytes([pickle.PROTO[0], proto]) if proto >= 2 else b""
    if proto >= 4:
        out += unicode_op(module, proto) + unicode_op(name, proto) + pickle.STACK_GLOBAL
    else:
        out += pickle.GLOBAL + f"{module}\n{name}\n".encode()
    out += pickle.MARK + b"".join(unicode_op(a, proto) for a in args) + pickle.TUPLE
    return out + pickle.REDUCE + pickle.STOP
