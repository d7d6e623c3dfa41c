"""Scanning ``torch.export`` programs (``.pt2``, ``torch.export.save``) without loading them.

``torch.export.load`` rebuilds each program from ``models/<name>.json``: every graph node's ``target``
(and every operator passed as an argument, e.g. to ``auto_functionalized``) is looked up by name with
``getattr`` on the ``torch``, ``operator`` or ``math`` module, so a target such as ``torch.save`` is a
Python function the program would call. It unpickles weights, constants and sample inputs stored as
``torch.save`` payloads (with ``weights_only=False`` for pickled weights and constants, and as a
fall-back for sample inputs), unpickles ``opaque_obj*`` constants with plain ``pickle`` and
``custom_obj*`` ones with TorchScript's, and loads AOTInductor shared libraries from
``data/aotinductor/``.

So the scan holds every target against the operator allow-list (``torch.ops.NS.NAME.OVERLOAD`` with
``NS::NAME`` allowed; the graph's own ``getitem`` and symbolic-shape arithmetic; the higher-order ops
that only run subgraphs stored beside them, which are scanned too); lists each pickled payload's
pickle against what ``torch.load(weights_only=True)`` admits; and refuses opaque and custom objects and
native libraries outright.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xai_cli.errors import InputError
from xai_cli.models.scanning.base import Finding, ScanResult
from xai_cli.models.scanning.torch_operators import judge_operator
from xai_cli.models.scanning.zip_limits import ScanBudget, open_archive, open_nested, read_member

EXPORT_CHECKED = (
    "every operator the program's graphs call (node targets and operator arguments) against the "
    "operator allow-list, and the pickles of its weights, constants and sample inputs against what "
    "torch.load(weights_only=True) admits"
)

# Non-operator targets torch.export writes itself: the multi-output getter and the symbolic-shape
# arithmetic of torch/_export/serde/serialize.py _SYM_OPS (they compute sizes, nothing else).
GRAPH_BUILTINS = frozenset(
    {
        "_operator.getitem",
        *(f"_operator.{name}" for name in (
            "eq", "ne", "le", "ge", "lt", "gt", "neg", "pos", "mul", "add", "sub", "floordiv", "mod",
            "pow", "truediv", "and_", "or_", "lshift", "rshift",
        )),
        "math.trunc",
        *(f"torch.{name}" for name in ("sym_not", "sym_int", "sym_float", "sym_ite", "sym_max", "sym_min",
                                       "sym_sqrt")),
    }
)  # fmt: skip


def target_operator(target: str) -> tuple[str, bool, str | None]:
    """(the name to report, allowed, why not) for one serialized node target."""
    if target in GRAPH_BUILTINS:
        return target, True, None
    parts = target.split(".")
    if parts[:2] == ["torch", "ops"] and len(parts) in (4, 5):
        qualified = f"{parts[2]}::{parts[3]}"
        allowed, detail = judge_operator(qualified)
        return qualified, allowed, detail
    return target, False, "a Python function or extension op, not a torch operator"


def graph_targets(program: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(target, JSON path) of every node target and operator argument, subgraphs included."""
    stack: list[tuple[Any, str]] = [(program, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("target", "as_operator") and isinstance(value, str):
                    yield value, path
                elif isinstance(value, dict | list):
                    stack.append((value, f"{path}/{key}"))
        elif isinstance(node, list):
            stack.extend((value, path) for value in node)


def _members(archive: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(member, its path below the archive's root folder)."""
    out = []
    for name in archive.namelist():
        out.append((name, name.split("/", 1)[1] if "/" in name else name))
    return out


def _raw_tensors(path: Path, archive: zipfile.ZipFile, budget: ScanBudget) -> set[str]:
    """Members the payload configs declare as raw tensor bytes (torch reads them itself, not pickled)."""
    raw: set[str] = set()
    for name, relative in _members(archive):
        if relative.startswith("data/") and name.endswith("_config.json"):
            folder = name.rsplit("/", 1)[0]
            config = _json(path, archive, name, budget).get("config", {})
            for entry in config.values() if isinstance(config, dict) else ():
                if isinstance(entry, dict) and not entry.get("use_pickle", True):
                    raw.add(f"{folder}/{entry.get('path_name')}")
    return raw


def _json(path: Path, archive: zipfile.ZipFile, member: str, budget: ScanBudget) -> Any:
    try:
        return json.loads(read_member(path, archive, member, budget=budget))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path}: member {member} is not valid JSON ({exc}); save the program again"
        ) from exc


def _payload_findings(path: Path, archive: zipfile.ZipFile, member: str, budget: ScanBudget) -> list[Finding]:
    """The pickle inside one torch.save payload, judged as torch.load(weights_only=True) would."""
    from xai_cli.models.scanning.torch_zip import pickle_findings, weights_only_name

    findings: list[Finding] = []
    with open_nested(path, archive, member) as inner:
        pickles = [n for n in inner.namelist() if n.lower().endswith(".pkl")]
        if not pickles:
            raise InputError(f"{path}: member {member} is a torch.save payload without a data.pkl")
        for name in pickles:
            data = read_member(f"{path} (member {member})", inner, name, budget=budget)
            findings += pickle_findings(path, f"{member}:{name}", data, weights_only_name)
    return findings


def scan_torch_export(path: Path, file_format: str) -> ScanResult:
    """Judge a ``.pt2`` archive: its graphs' operators and its pickled payloads, loading nothing."""
    findings: list[Finding] = []
    budget = ScanBudget()
    with open_archive(path, "torch.export archive") as archive:
        raw = _raw_tensors(path, archive, budget)
        programs = 0
        for name, relative in _members(archive):
            leaf = relative.rsplit("/", 1)[-1]
            if relative.startswith("models/") and name.endswith(".json"):
                programs += 1
                findings += _graph_findings(path, relative, _json(path, archive, name, budget))
            elif relative.startswith("data/aotinductor/"):
                findings.append(
                    Finding(relative, "custom-object", False, relative, "AOTInductor native code")
                )
            elif relative.startswith("data/") and leaf.startswith(("custom_obj", "opaque_obj")):
                findings.append(
                    Finding(relative, "custom-object", False, relative, "a pickled Python object")
                )
            elif relative.startswith("data/") and not name.endswith(".json") and name not in raw:
                findings += _payload_findings(path, archive, name, budget)
        if programs == 0:
            raise InputError(f"{path}: a torch.export archive without a program (models/*.json)")
    return ScanResult(path, file_format, findings, EXPORT_CHECKED)


def _graph_findings(path: Path, member: str, program: Any) -> list[Finding]:
    seen: dict[str, Finding] = {}
    counts: dict[str, int] = {}
    for target, _ in graph_targets(program):
        name, allowed, detail = target_operator(target)
        counts[name] = counts.get(name, 0) + 1
        seen.setdefault(name, Finding(name, "operator", allowed, member, detail))
    return [
        Finding(f.name, f.kind, f.allowed, f.where, f.detail or f"{counts[f.name]} node(s)")
        for f in seen.values()
    ]


def payload_members(path: Path, archive: zipfile.ZipFile) -> list[str]:
    """The members of a checked ``.pt2`` that torch.load unpickles (weights, constants, sample inputs)."""
    raw = _raw_tensors(path, archive, ScanBudget())
    return [
        name
        for name, relative in _members(archive)
        if relative.startswith("data/")
        and not name.endswith(".json")
        and name not in raw
        and not relative.startswith("data/aotinductor/")
    ]
