"""Scanning Keras files: the model config (config.json in a .keras zip, ``model_config`` in a legacy
.h5) read as JSON, without importing Keras.

Keras rebuilds a model by importing every class and function its config names. A ``Lambda`` layer
whose function is a Python lambda carries marshalled bytecode that runs when the layer is built;
a name from outside Keras needs custom code. Both are refused. Keras names are allowed, except the
modules that are no part of a model (file, download and saving helpers: the ones Keras itself
lists as "non-modeling APIs", which have been used to attack older versions).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xai_cli.errors import InputError
from xai_cli.models.scanning.base import Finding, ScanResult

KERAS_CHECKED = (
    "every layer, function and object the model config names (classes and functions from Keras "
    "only; no Lambda bytecode)"
)
# Module segments that hold no modeling objects at all.
_REFUSED_SEGMENTS = frozenset(
    {"utils", "saving", "config", "export", "datasets", "callbacks", "distribution", "visualization"}
)
# Module segments that hold model classes next to functions that load, save or read files: only
# classes (capitalised names) are allowed from them.
_CLASSES_ONLY_SEGMENTS = frozenset({"models", "backend", "preprocessing"})


def keras_name_allowed(module: str, name: str) -> bool:
    """True for a Keras class or function that is part of a model, by module and name."""
    segments = module.split(".")
    if segments[0] != "keras" or not name.isidentifier():
        return False
    if _REFUSED_SEGMENTS.intersection(segments):
        return False
    return not (_CLASSES_ONLY_SEGMENTS.intersection(segments) and not name[:1].isupper())


def config_findings(config: Any, where: str) -> list[Finding]:
    """Every object a Keras config names, judged; duplicates listed once."""
    found: dict[tuple[str, str], Finding] = {}
    try:
        for finding in _walk(config, where, layer=None):
            found.setdefault((finding.name, finding.kind), finding)
    except RecursionError as exc:
        raise InputError(f"{where}: the model config is nested too deeply to be a model") from exc
    return list(found.values())


def _walk(node: Any, where: str, layer: str | None) -> Iterator[Finding]:
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, where, layer)
        return
    if not isinstance(node, dict):
        return
    class_name = node.get("class_name")
    inner = node.get("config")
    if isinstance(inner, dict) and isinstance(inner.get("name"), str):
        layer = inner["name"]
    if isinstance(class_name, str):
        yield from _judge(node, class_name, inner, where, layer)
    for key, value in node.items():
        if key != "class_name":
            yield from _walk(value, where, layer)


def _judge(
    node: dict[str, Any], class_name: str, inner: Any, where: str, layer: str | None
) -> Iterator[Finding]:
    where_layer = f"layer '{layer}'" if layer else "the model"
    if class_name == "__lambda__":
        yield Finding(
            f"a Python lambda in {where_layer}",
            "lambda",
            False,
            where,
            "marshalled bytecode, run when the layer is built",
        )
        return
    if class_name == "Lambda" and isinstance(inner, dict):
        function = inner.get("function")
        if isinstance(function, list) or inner.get("function_type") == "lambda":
            # Keras 2 (legacy .h5) spelling: [bytecode, defaults, closure].
            yield Finding(
                f"a Python lambda in {where_layer}",
                "lambda",
                False,
                where,
                "marshalled bytecode, run when the layer is built",
            )
        elif isinstance(function, str):
            yield Finding(
                f"{inner.get('module') or '?'}.{function}",
                "custom-object",
                False,
                where,
                f"the function of {where_layer}: code from outside the file",
            )
    module = node.get("module")
    if class_name.startswith("__") and class_name.endswith("__"):
        return  # __keras_tensor__, __numpy__, __tensor__, __bytes__...: data, no code
    registered = node.get("registered_name")
    if isinstance(registered, str) and ">" in registered:
        yield Finding(
            registered,
            "custom-object",
            False,
            where,
            "a registered custom object: its code is not in the file",
        )
        return
    if not isinstance(module, str):
        # Keras 2 (legacy .h5) names built-in objects without a module; Keras looks them up by name.
        yield Finding(
            class_name,
            "import",
            True,
            where,
            "looked up by name among Keras' own classes; an unknown name fails to load",
        )
        return
    name = inner if class_name == "function" and isinstance(inner, str) else class_name
    if keras_name_allowed(module, name):
        yield Finding(f"{module}.{name}", "import", True, where)
    elif module.split(".")[0] == "keras":
        yield Finding(f"{module}.{name}", "import", False, where, "a Keras helper that is no part of a model")
    else:
        yield Finding(f"{module}.{name}", "custom-object", False, where, "code from outside Keras")


def scan_keras(path: Path, file_format: str) -> ScanResult:
    """Judge the config of a Keras 3 ``.keras`` archive."""
    from xai_cli.models.scanning.zip_limits import open_archive, read_member

    with open_archive(path, "Keras file") as archive:
        try:
            raw = read_member(path, archive, "config.json")
        except KeyError as exc:
            raise InputError(f"{path}: not a readable Keras file (no config.json)") from exc
        if "metadata.json" in archive.namelist():
            read_member(path, archive, "metadata.json")  # Keras reads it whole too
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise InputError(f"{path}: not a readable Keras file ({type(exc).__name__}: {exc})") from exc
    return ScanResult(path, file_format, config_findings(config, "config.json"), KERAS_CHECKED)


def scan_keras_h5(path: Path, file_format: str) -> ScanResult:
    """Judge the ``model_config`` of a legacy HDF5 Keras file (needs h5py to read it)."""
    try:
        import h5py
    except ImportError:
        return ScanResult(
            path, file_format, [], "nothing", "h5py is not installed, so the HDF5 model config cannot be read"
        )
    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
    except Exception as exc:
        raise InputError(f"{path}: not a readable HDF5 file ({type(exc).__name__}: {exc})") from exc
    if raw is None:
        return ScanResult(path, file_format, [], "the file holds no model config (weights only)")
    try:
        config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
    except ValueError as exc:
        raise InputError(f"{path}: the HDF5 model_config is not JSON ({exc})") from exc
    return ScanResult(path, file_format, config_findings(config, "model_config"), KERAS_CHECKED)
