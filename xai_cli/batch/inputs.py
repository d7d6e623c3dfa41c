"""Which files a batch reads, and the report folder each one gets under ``--out``."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from xai_cli.errors import InputError

# Characters kept in a report folder name; anything else becomes "_". \w is Unicode-aware, so names in
# other scripts survive; slashes, colons, quotes, spaces and control characters do not.
_UNSAFE_CHARACTERS = re.compile(r"[^\w.\-]+")
MAX_NAME_LENGTH = 120
# Names a report folder may not take: the batch's own files beside the folders.
RESERVED_NAMES = frozenset({"index.json", "index.html"})


@dataclass(frozen=True)
class BatchInput:
    """One input file of a batch and the name of its report folder under ``--out``."""

    path: Path
    relative: str
    folder: str


def report_folder_name(relative: str) -> str:
    """A folder name for an input, safe to join to ``--out``: never absolute, hidden, or outside it.

    ``../x.csv`` gives ``x.csv``, ``/abs/path/x.csv`` gives ``abs__path__x.csv``, ``sub/dir/x.csv`` gives
    ``sub__dir__x.csv``; characters other than letters, digits, ``.``, ``-`` and ``_`` become ``_``;
    leading dots are dropped (dot-names are the batch's staging folders), and very long names are cut
    and suffixed with a hash of the original so they stay distinct.
    """
    parts = [part for part in re.split(r"[\\/]+", relative) if part not in ("", ".", "..")]
    cleaned = [_UNSAFE_CHARACTERS.sub("_", part).lstrip(".") for part in parts]
    name = "__".join(part for part in cleaned if part) or "input"
    if name in RESERVED_NAMES:
        name = f"{name}_"
    if len(name) > MAX_NAME_LENGTH:
        name = f"{name[: MAX_NAME_LENGTH - 11]}-{_short_hash(relative)}"
    return name


def discover_inputs(
    data: Path, suffixes: frozenset[str], pattern: str | None, out_root: Path, kinds: str
) -> list[BatchInput]:
    """The inputs under directory ``data``, sorted by relative path, each with a distinct folder name.

    Without ``pattern`` every file directly in ``data`` whose suffix is in ``suffixes`` is taken; with
    it, the files ``Path.glob(pattern)`` matches (``**/*.csv`` recurses). Hidden files and anything
    inside ``out_root`` (when the reports are written inside the input folder) are left out.
    """
    if not data.is_dir():
        raise InputError(f"{data}: not a directory")
    out_resolved = out_root.resolve()
    candidates = data.glob(pattern) if pattern else data.iterdir()
    found: list[tuple[str, Path]] = []
    for path in candidates:
        relative = path.relative_to(data).as_posix() if _is_under(path, data) else path.name
        if not path.is_file() or any(part.startswith(".") for part in Path(relative).parts):
            continue
        if _is_under(path.resolve(), out_resolved):
            continue
        if pattern is None and path.suffix.lower() not in suffixes:
            continue
        found.append((relative, path))
    if not found:
        wanted = f"files matching {pattern!r}" if pattern else f"{kinds} ({', '.join(sorted(suffixes))})"
        raise InputError(f"{data}: no {wanted} in this directory; pass --glob PATTERN to choose the inputs")
    found.sort(key=lambda item: item[0])
    return _with_distinct_folders(found)


def _with_distinct_folders(found: list[tuple[str, Path]]) -> list[BatchInput]:
    """Folder names, distinct: an input whose name is already safe keeps it; a sanitised name that
    collides with a taken one gets a hash of the original path appended."""
    names = [report_folder_name(relative) for relative, _ in found]
    taken = {name for (relative, _), name in zip(found, names, strict=True) if name == relative}
    inputs = []
    for (relative, path), name in zip(found, names, strict=True):
        folder = name
        if name != relative and name in taken:
            folder = f"{name}-{_short_hash(relative)}"
        taken.add(folder)
        inputs.append(BatchInput(path=path, relative=relative, folder=folder))
    return inputs


def _is_under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:10]
