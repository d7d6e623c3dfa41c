"""Scanning ONNX files: operator domains and external data locations, read with the onnx package.

An ONNX file holds a graph of operators, no Python code. What a hostile one can do is name operators
from a custom domain (they need a native library registered at load time) or point its tensors at
"external data" files anywhere on disk (read at load time).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from xai_cli.errors import InputError
from xai_cli.models.scanning.base import Finding, ScanResult

ONNX_CHECKED = "every operator domain, and every external data location (must stay beside the model)"
# The standard operator sets, and onnxruntime's built-in contrib ops.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "com.microsoft"})


def scan_onnx(path: Path, file_format: str) -> ScanResult:
    """Judge the operator domains and external data of an ONNX model (needs the onnx package)."""
    try:
        import onnx
    except ImportError:
        return ScanResult(
            path, file_format, [], "nothing", "the onnx package is not installed, so the graph cannot be read"
        )
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise InputError(f"{path}: not a readable ONNX file ({type(exc).__name__}: {exc})") from exc
    found: dict[str, Finding] = {}
    for opset in model.opset_import:
        _add_domain(found, opset.domain)
    for graph in _graphs(model.graph, list(model.functions)):
        for node in graph.node if hasattr(graph, "node") else []:
            _add_domain(found, node.domain)
        for tensor in _tensors(graph):
            location = _external_location(tensor)
            if location is not None:
                safe = _stays_beside(location)
                found.setdefault(
                    f"external:{location}",
                    Finding(
                        location,
                        "external-data",
                        safe,
                        None,
                        None if safe else "points outside the model's folder",
                    ),
                )
    return ScanResult(path, file_format, list(found.values()), ONNX_CHECKED)


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


def _stays_beside(location: str) -> bool:
    for pure in (PurePosixPath(location), PureWindowsPath(location)):
        if pure.is_absolute() or pure.drive or ".." in pure.parts:
            return False
    return bool(location)
