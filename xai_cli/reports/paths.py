"""Names of report files derived from inputs: always one plain file name inside the report folder.

A batch names each input's report after the input (``data/q1 sales.csv`` -> ``q1_sales-....``); an
input named ``../x.csv``, ``/etc/passwd`` or with control characters must not lead the report out
of ``--out`` or onto an odd name. ``safe_child(out_dir, name)`` is the one way to make such a path.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from xai_cli.errors import InputError

MAX_NAME_LENGTH = 120
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
)


def safe_name(name: str) -> str:
    """``name`` as a plain, portable file name: ASCII letters, digits, '.', '_' and '-' only.

    Path separators, control and other characters become '_'; leading dots and dashes go (no hidden
    files, no '..', nothing that reads as an option); Windows device names get a '_' prefix. Any
    name that had to change gets 8 hex digits of the SHA-256 of the original before its suffix, so
    two different inputs never share a report; a name that is already safe is kept as it is.
    """
    cleaned = _UNSAFE_RUN.sub("_", name).lstrip(".-").rstrip(". ")
    stem, dot, suffix = cleaned.rpartition(".")
    if not dot or not stem:
        stem, suffix = cleaned, ""
    if stem.split(".")[0].upper() in _WINDOWS_DEVICES:
        stem = "_" + stem
    if not stem:
        stem = "_"
    candidate = f"{stem}.{suffix}" if suffix else stem
    if candidate == name and len(name) <= MAX_NAME_LENGTH:
        return name
    tag = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    suffix = suffix[:16]
    stem = stem[: MAX_NAME_LENGTH - len(tag) - len(suffix) - 2]
    return f"{stem}-{tag}.{suffix}" if suffix else f"{stem}-{tag}"


def safe_child(out_dir: Path, name: str) -> Path:
    """The path ``out_dir / safe_name(name)``; refuses one that is a symbolic link (it could point
    anywhere). Use it for every report path derived from an input's name."""
    child = Path(out_dir) / safe_name(name)
    if os.path.islink(child):
        raise InputError(f"{child}: is a symbolic link; refusing to write a report through it")
    if child.parent.resolve() != Path(out_dir).resolve() or child.name in ("", ".", ".."):
        raise InputError(f"{out_dir}: refusing to write {name!r} outside the report folder")
    return child
