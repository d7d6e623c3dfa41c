"""Parsing ``--rows``: ``A:B``, ``A,B,C``, ``all``."""

from __future__ import annotations

from xai_cli.errors import InputError, UsageError

DEFAULT_ROWS = "0:100"


def parse_rows(spec: str | None, n_rows: int, *, source: str) -> list[int]:
    """The 0-based data rows a spec selects, in order; a row past the end of ``source`` is an error.

    ``A:B`` is end-exclusive and clipped to the file (so the default ``0:100`` works on short files);
    explicit indices must exist.
    """
    text = (spec or DEFAULT_ROWS).strip().lower()
    if text == "all":
        return list(range(n_rows))
    try:
        if ":" in text:
            start_text, _, stop_text = text.partition(":")
            start = int(start_text) if start_text else 0
            stop = int(stop_text) if stop_text else n_rows
            if start < 0 or stop < start:
                raise UsageError(f"--rows {spec}: expected A:B with 0 <= A <= B")
            if start >= n_rows:
                raise InputError(
                    f"{source}: --rows {spec} starts at row {start}, but the file has {n_rows} data rows"
                )
            return list(range(start, min(stop, n_rows)))
        rows = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise UsageError(f"--rows {spec}: expected 'A:B', 'A,B,C' or 'all' with 0-based row numbers") from exc
    if not rows:
        raise UsageError(f"--rows {spec}: no rows selected")
    for row in rows:
        if row < 0 or row >= n_rows:
            raise InputError(
                f"{source}: --rows names row {row}, but the file has {n_rows} data rows (0..{n_rows - 1})"
            )
    return rows
