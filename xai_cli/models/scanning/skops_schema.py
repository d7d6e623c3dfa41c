"""Scanning .skops files: skops' own list of untrusted types, read from the schema without loading."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xai_cli.errors import InputError, UnsafeModelError
from xai_cli.models.scanning.base import Finding, ScanResult

SKOPS_CHECKED = (
    "every type and function the skops schema names, against the types skops trusts by default "
    "(skops.io.get_untrusted_types) and the allow-list of model classes 'xai explain' uses for pickles"
)


def refused_skops_types(untrusted: list[str]) -> list[str]:
    """The types skops does not trust by default that are not on the model allow-list either."""
    return [name for name in untrusted if not _on_allow_list(name)]


def _on_allow_list(full_name: str) -> bool:
    from xai_cli.models.allowlist import is_allowed

    module, _, name = full_name.rpartition(".")
    return bool(module) and is_allowed(module, name)


# skops nodes that call the type they name with arguments from the file; a guarded name there is refused.
_CALLING_LOADERS = frozenset({"ReduceNode", "ConstructorFromReduceNode"})


def _node_problem(node: dict[str, Any], name: str, key: str | None) -> str | None:
    """Why the skops node ``node`` (type ``name``, under attribute ``key``) is refused, or None."""
    from xai_cli.models import allowlist
    from xai_cli.models.allowlist import guards, names

    loader = node.get("__loader__")
    module, _, qualname = name.rpartition(".")
    if loader == "MethodNode":
        content = node.get("content") if isinstance(node.get("content"), dict) else {}
        return (
            None if (name, content.get("func")) in names.GETATTR_ALLOWED else "a bound method no model stores"
        )
    if not module or not _on_allow_list(name):
        return "not on the allow-list of model classes"
    if loader in _CALLING_LOADERS and (guards.is_guarded(name) or name in names.CHECKED_ONLY):
        return "a guarded helper called with arguments from the file"
    if loader == "PartialNode":
        func = node.get("content", {}).get("func") if isinstance(node.get("content"), dict) else None
        target = (
            f"{func.get('content', {}).get('module_path')}.{func.get('content', {}).get('function')}"
            if (isinstance(func, dict) and isinstance(func.get("content"), dict))
            else None
        )
        return (
            None if target in guards.PARTIAL_TARGETS else "a partial around something other than check_array"
        )
    if loader == "ObjectNode":
        problem = _state_keys_problem(node, module, qualname)
        if problem:
            return problem
    if name in allowlist.POSITIONAL and key not in allowlist.POSITIONAL[name]:
        return "a type a model holds only as " + " or ".join(sorted(allowlist.POSITIONAL[name]))
    return None


def _state_keys_problem(node: dict[str, Any], module: str, qualname: str) -> str | None:
    """The attribute names an ObjectNode sets, checked against its class as the pickle loader does."""
    from xai_cli.models import allowlist

    content = node.get("content")
    attributes = content.get("content") if isinstance(content, dict) else None
    if not isinstance(attributes, dict):
        return None
    try:
        admitted = allowlist.admit(module, qualname)
    except allowlist.Unresolvable:
        return None
    if admitted is None or not isinstance(admitted.obj, type):
        return None
    problem = allowlist.state_problem(admitted.obj, dict.fromkeys(attributes))
    return f"a state that {problem}" if problem else None


def judge_schema(schema: Any) -> list[Finding]:
    """Every type the skops schema names, judged as the loader judges it: the pickle allow-list, the
    guarded helpers, bound methods, partials, scorers' places, and a top object that is an estimator."""
    from xai_cli.models import allowlist

    findings: dict[str, Finding] = {}
    for node, name, key in _nodes(schema, None):
        problem = _node_problem(node, name, key)
        if name not in findings or problem:
            findings[name] = Finding(name, "import", problem is None, "schema.json", problem)
    root = f"{schema.get('__module__')}.{schema.get('__class__')}" if isinstance(schema, dict) else "?"
    if not allowlist.is_estimator_name(root):
        detail = "the file's top object, which must be a fitted estimator or Pipeline"
        findings[root] = Finding(root, "import", False, "schema.json", detail)
    return list(findings.values())


def _nodes(node: Any, key: str | None) -> Iterator[tuple[dict[str, Any], str, str | None]]:
    """(node, 'module.name', attribute it sits under) for every typed node of the schema."""
    stack: list[tuple[Any, str | None]] = [(node, key)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("__module__"), str) and isinstance(item.get("__class__"), str):
                content = item.get("content")
                if item.get("__loader__") == "FunctionNode" and isinstance(content, dict):
                    yield item, f"{content.get('module_path')}.{content.get('function')}", where
                else:
                    yield item, f"{item['__module__']}.{item['__class__']}", where
            for child_key, value in item.items():
                stack.append(
                    (value, child_key if isinstance(child_key, str) and child_key != "content" else where)
                )
        elif isinstance(item, list):
            stack.extend((value, where) for value in item)


def read_schema(path: Path) -> Any:
    """The parsed schema.json of a .skops file; InputError when it cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("schema.json"))
    except RecursionError as exc:
        raise InputError(f"{path}: the skops schema is nested too deeply to be a model") from exc
    except Exception as exc:
        raise InputError(f"{path}: not a readable skops file ({type(exc).__name__}: {exc})") from exc


def load_checked_skops(path: Path) -> object:
    """Load a .skops file after judging every node as ``scan_skops`` does; skops is told to trust only
    the names judged allowed. Raises UnsafeModelError naming the first refused type."""
    import skops.io as sio

    from xai_cli.models.allowlist.names import printable

    findings = judge_schema(read_schema(path))
    refused = [finding for finding in findings if not finding.allowed]
    if refused:
        first = refused[0]
        raise UnsafeModelError(
            f"{path}: refused to load: the file asks for '{printable(first.name)}' ({first.detail}); "
            f"if you trust this file, pass --trust-model (or set XAI_TRUST_MODEL=1)"
        )
    try:
        untrusted = set(sio.get_untrusted_types(file=path))
        trusted = sorted(untrusted & {finding.name for finding in findings})
        return sio.load(path, trusted=trusted)
    except Exception as exc:
        raise InputError(
            f"{path}: not a readable skops file ({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc


def scan_skops(path: Path, file_format: str) -> ScanResult:
    """Judge every type a .skops file names; without skops installed, say that nothing was checked."""
    try:
        import skops.io as sio
    except ImportError:
        return ScanResult(
            path,
            file_format,
            [],
            "nothing",
            "the skops package is not installed, so the types in this file cannot be judged; "
            "pip install 'xai-cli[skops]'",
        )
    try:
        sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable skops file ({type(exc).__name__}: {exc})") from exc
    return ScanResult(path, file_format, judge_schema(read_schema(path)), SKOPS_CHECKED)
