"""Scanning ONNX files: operator domains and external data locations, read with the onnx package.

An ONNX file holds a graph of operators, no Python code. What a hostile one can do is name operators
from a custom domain (they need a native library registered at load time) or point its tensors at
"external data" files anywhere on disk (read at load time), directly or through a symbolic link put
beside the model. A few hundred bytes of graph can also ask for gigabytes (``onnx_sizes.py``): such a
graph is refused with an InputError naming the node (exit 3), by ``xai scan`` and the loader alike.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from xai_cli.errors import InputError
from xai_cli.limits import MAX_TENSOR_BYTES, limit_value
from xai_cli.models.scanning.base import Finding, ScanResult
from xai_cli.models.scanning.onnx_sizes import SizeCheck, check_onnx_sizes, check_tensor_proto

ONNX_CHECKED = (
    "every operator domain, every external data location (a regular file in the model's folder, reached "
    "through no symbolic link), and every tensor's size at the batch xai runs"
)
# The standard operator sets, and onnxruntime's built-in contrib ops.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "com.microsoft"})


def scan_onnx(path: Path, file_format: str) -> ScanResult:
    """Judge the operator domains and external data of an ONNX model (needs the onnx package); a graph
    whose tensors would exceed the size limit raises InputError naming the node."""
    return scan_onnx_model(path, file_format)[0]


def scan_onnx_model(path: Path, file_format: str) -> tuple[ScanResult, SizeCheck]:
    """``scan_onnx``, and what the size check found (the loader uses it to set up onnxruntime)."""
    try:
        import onnx
    except ImportError:
        reason = "the onnx package is not installed, so the graph cannot be read"
        return ScanResult(path, file_format, [], "nothing", reason), SizeCheck(["(not checked)"], True)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise InputError(f"{path}: not a readable ONNX file ({type(exc).__name__}: {exc})") from exc
    found: dict[str, Finding] = {}
    for opset in model.opset_import:
        _add_domain(found, opset.domain)
    limit = limit_value(MAX_TENSOR_BYTES)
    folder = path.parent
    for graph in _graphs(model.graph, list(model.functions)):
        for node in graph.node if hasattr(graph, "node") else []:
            _add_domain(found, node.domain)
        for tensor in _tensors(graph):
            check_tensor_proto(path, tensor, f"the tensor '{tensor.name}'", limit)
            location = _external_location(tensor)
            if location is not None:
                problem = external_data_problem(folder, location)
                found.setdefault(
                    f"external:{location}",
                    Finding(location, "external-data", problem is None, None, problem),
                )
    from xai_cli.models.network import RUN_CHUNK

    sizes = check_onnx_sizes(path, model, RUN_CHUNK)
    result = ScanResult(path, file_format, list(found.values()), ONNX_CHECKED)
    if sizes.unbounded:
        result.notes.append(
            f"{len(sizes.unbounded)} value(s) have a size known only at run time "
            f"(e.g. '{sizes.unbounded[0]}'); onnxruntime's arena limit bounds them"
        )
    return result, sizes


def external_data_files(path: Path) -> list[Path]:
    """The files an ONNX model's external data names (beside it), for a sandbox that must let them be
    read; an unreadable model or no onnx package gives none."""
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:
        return []
    locations = {
        location
        for graph in _graphs(model.graph, list(model.functions))
        for tensor in _tensors(graph)
        if (location := _external_location(tensor))
    }
    return sorted(path.parent / location for location in locations)


def external_data_problem(folder: Path, location: str) -> str | None:
    """Why an external-data location is unsafe to read, or None: it must be a relative path without
    '..', name a regular file inside the model's folder, and go through no symbolic link."""
    if not location:
        return "an empty location"
    for pure in (PurePosixPath(location), PureWindowsPath(location)):
        if pure.is_absolute() or pure.drive or ".." in pure.parts:
            return "points outside the model's folder"
    current = folder
    for part in PurePosixPath(location).parts:
        current = current / part
        if current.is_symlink():
            return f"goes through a symbolic link ({os.readlink(current)})"
    real_folder = os.path.realpath(folder)
    if os.path.commonpath([real_folder, os.path.realpath(current)]) != real_folder:
        return "resolves outside the model's folder"
    if current.exists() and not stat.S_ISREG(current.stat().st_mode):
        return "is not a regular file (a folder, device or pipe)"
    return None


def _add_domain(found: dict[str, Finding], domain: str) -> None:
    allowed = domain in STANDARD_DOMAINS
    detail = None if allowed else "custom operators: they need a native library registered at load time"
    found.setdefault(
        f"domain:{domain}", Finding(domain or "ai.onnx", "operator-domain", allowed, None, detail)
    )


def _graphs(graph: Any, functions: list[Any]) -> Iterator[Any]:
    """The main graph, every subgraph inside node attributes (If, Loop, Scan) and model functions."""
    pending = [graph, *functions]
    while pending:
        current = pending.pop()
        yield current
        for node in current.node:
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    pending.append(attribute.g)
                pending.extend(attribute.graphs)


def _tensors(graph: Any) -> Iterator[Any]:
    yield from getattr(graph, "initializer", [])
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors


def _external_location(tensor: Any) -> str | None:
    if tensor.data_location != 1:  # TensorProto.EXTERNAL
        return None
    entries = {entry.key: entry.value for entry in tensor.external_data}
    return entries.get("location", "")
