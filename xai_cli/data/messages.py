"""How values, names and places in a data file appear in one-line error messages."""

from __future__ import annotations

import contextlib
from pathlib import Path


def shown(value: object, limit: int = 80) -> str:
    """A value or column name as it appears in a one-line message: quoted, control characters
    escaped (a name from a hostile file cannot break the line or drive the terminal), cut short."""
    if not isinstance(value, str) and hasattr(value, "item"):
        with contextlib.suppress(ValueError, TypeError):
            value = value.item()  # np.float64(inf) -> inf
    text = value if isinstance(value, str) else repr(value)
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) > limit:
        text = text[:limit] + "..."
    return f"'{text}'"


def row_location(source: Path, row: int) -> str:
    """'row R (line L)' for a CSV (header on line 1), 'row R' for formats without lines."""
    if source.suffix.lower() in (".parquet", ".pq"):
        return f"row {row}"
    return f"row {row} (line {row + 2})"
