"""Scanning .skops files: skops' own list of untrusted types, read from the schema without loading."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xai_cli.errors import InputError
from xai_cli.models.scanning.base import Finding, ScanResult

SKOPS_CHECKED = (
    "every type and function the skops schema names, against the types skops trusts by default "
    "(skops.io.get_untrusted_types) and the allow-list of model classes 'xai explain' uses for pickles"
)


def refused_skops_types(untrusted: list[str]) -> list[str]:
    """The types skops does not trust by default that are not on the model allow-list either.

    skops leaves some scikit-learn internals untrusted (``sklearn.tree._tree.Tree``, the
    HistGradientBoosting ``TreePredictor``), so every tree model would need --trust-model; the
    pickle allow-list admits exactly those classes, and skops builds them the way pickle does.
    """
    return [name for name in untrusted if not _on_allow_list(name)]


def _on_allow_list(full_name: str) -> bool:
    from xai_cli.models.safe_pickle import is_allowed

    module, _, name = full_name.rpartition(".")
    return bool(module) and is_allowed(module, name)


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
        untrusted = set(sio.get_untrusted_types(file=path))
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except Exception as exc:
        raise InputError(f"{path}: not a readable skops file ({type(exc).__name__}: {exc})") from exc
    try:
        names = list(dict.fromkeys(_type_names(schema)))
    except RecursionError as exc:
        raise InputError(f"{path}: the skops schema is nested too deeply to be a model") from exc
    names += sorted(untrusted - set(names))
    refused = set(refused_skops_types(sorted(untrusted)))
    findings = [Finding(name, "import", name not in refused, "schema.json") for name in names]
    return ScanResult(path, file_format, findings, SKOPS_CHECKED)


def _type_names(node: Any) -> Iterator[str]:
    """'module.name' of every node of the schema tree, in document order."""
    if isinstance(node, dict):
        if isinstance(node.get("__module__"), str) and isinstance(node.get("__class__"), str):
            content = node.get("content")
            if node.get("__loader__") == "FunctionNode" and isinstance(content, dict):
                yield f"{content.get('module_path')}.{content.get('function')}"
            else:
                yield f"{node['__module__']}.{node['__class__']}"
        for value in node.values():
            yield from _type_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _type_names(value)
