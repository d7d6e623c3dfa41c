"""Line, field and column limits on CSV files, checked while the file is read.

pandas' C parser has no limit of its own: one 200 MB line takes gigabytes (a pointer and an offset per
field), and a header of ten million names makes ten million columns. Two checks stop that:

- ``read_header`` reads the header with a bounded read (at most the line limit), so its columns are
  counted before pandas sees the file;
- ``LimitedReader`` sits between the file and pandas and checks each block pandas asks for: a line
  (a logical row: a line break inside quotes does not end it) or a field longer than its limit stops
  the read with an InputError naming the file and the line, before pandas has tokenized more than the
  limit of it.

- the same reader counts each line's fields: more than the header names is refused at once (pandas
  would take the extra ones as row labels, at some 80 microseconds a field).

UTF-16 and UTF-32 files are checked in their code units (the limits stay in bytes).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from xai_cli.errors import InputError
from xai_cli.limits import (
    MAX_CSV_COLUMNS,
    MAX_CSV_FIELD_BYTES,
    MAX_CSV_LINE_BYTES,
    Limit,
    limit_value,
)

QUOTE, LF, CR = 0x22, 0x0A, 0x0D
READ_BLOCK = 1 << 18


def _too_long(path: Path, line: int, what: str, limit: Limit, value: int) -> InputError:
    where = "line 1 (the header)" if line == 1 else f"line {line}"
    return InputError(
        f"{path}: {where} {what} longer than the limit of {value:,} bytes; "
        f"{limit.how_to_raise}, or check the file's quoting"
    )


def read_header(path: Path, encoding: str, separator: str) -> list[str]:
    """The header's names, read with at most the line limit in memory; too many columns, a header
    line or a name over its limit raise InputError naming the file."""
    line_limit = limit_value(MAX_CSV_LINE_BYTES)
    with path.open("rb") as handle:
        prefix = handle.read(line_limit + 1)
    text = prefix.decode(encoding, errors="replace")
    max_columns = limit_value(MAX_CSV_COLUMNS)
    if '"' not in text:
        end = min((i for i in (text.find("\n"), text.find("\r")) if i >= 0), default=-1)
        header_text = text if end < 0 else text[:end]
        if header_text.count(separator) >= max_columns:
            raise _too_many_columns(path, max_columns)
        if end < 0 and len(prefix) > line_limit:
            raise _too_long(path, 1, "is", MAX_CSV_LINE_BYTES, line_limit)
        names = header_text.split(separator) if header_text else []
    else:
        names = _quoted_header(path, text, separator, len(prefix) > line_limit)
    if len(names) > max_columns:
        raise _too_many_columns(path, max_columns)
    field_limit = limit_value(MAX_CSV_FIELD_BYTES)
    if any(len(name) > field_limit for name in names):
        raise _too_long(path, 1, "has a name", MAX_CSV_FIELD_BYTES, field_limit)
    return names


def _quoted_header(path: Path, text: str, separator: str, cut: bool) -> list[str]:
    """The first row of ``text`` by the csv module (quoted names may hold separators and line breaks)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        source = io.StringIO(text, newline="")
        row = next(csv.reader(source, delimiter=separator), [])
        consumed = source.tell()
    except csv.Error as exc:
        raise InputError(f"{path}: not valid CSV in the header ({exc}); check its quoting") from None
    finally:
        csv.field_size_limit(limit)
    if cut and consumed >= len(text):
        raise _too_long(path, 1, "is", MAX_CSV_LINE_BYTES, limit_value(MAX_CSV_LINE_BYTES))
    return row


def _too_many_columns(path: Path, max_columns: int) -> InputError:
    return InputError(
        f"{path}: line 1 (the header) names more than the limit of {max_columns:,} columns; "
        f"{MAX_CSV_COLUMNS.how_to_raise}"
    )


def code_units(encoding: str, head: bytes) -> np.dtype:
    """How the file's characters are stored: bytes (8-bit encodings, UTF-8), or UTF-16/32 code units
    in their byte order; in each, the ASCII characters CSV cares about are one unit of their own."""
    name = encoding.lower().replace("_", "-")
    width = 2 if name.startswith("utf-16") else 4 if name.startswith("utf-32") else 1
    if width == 1:
        return np.dtype(np.uint8)
    little = name.endswith("-le") or (not name.endswith("-be") and head[:2] == b"\xff\xfe")
    return np.dtype(f"{'<' if little else '>'}u{width}")


class _Stretch:
    """The open stretch (a line, or a field) carried from block to block: its length so far (in code
    units) and the physical line it began on."""

    def __init__(self, limit: Limit, what: str, unit_bytes: int) -> None:
        self.limit = limit
        self.value = limit_value(limit)
        self.units = self.value // unit_bytes
        self.what = what
        self.length = 0
        self.first_line = 1

    def advance(self, path: Path, ends: np.ndarray, size: int, lines: _Lines) -> None:
        """Take one block of ``size`` units whose stretches end at the sorted positions ``ends``; raise
        if a stretch exceeds the limit."""
        if ends.size == 0:
            self.length += size
            if self.length > self.units:
                raise _too_long(path, self.first_line, self.what, self.limit, self.value)
            return
        gaps = np.diff(ends, prepend=-1 - self.length) - 1
        worst = int(np.argmax(gaps))
        if gaps[worst] > self.units:
            begun = self.first_line if worst == 0 else lines.at(int(ends[worst - 1]) + 1)
            raise _too_long(path, begun, self.what, self.limit, self.value)
        last = int(ends[-1])
        self.length = size - last - 1
        self.first_line = lines.at(last + 1)
        if self.length > self.units:
            raise _too_long(path, self.first_line, self.what, self.limit, self.value)


class _Lines:
    """Physical line numbers inside one block: LF, CR LF or a lone CR end a line, quoted or not."""

    def __init__(self, first: int, ends: np.ndarray) -> None:
        self.first = first
        self.ends = ends

    def at(self, position: int) -> int:
        """The line number of the unit at ``position``."""
        return self.first + int(np.searchsorted(self.ends, position))


# Per code unit: 0 plain, 1 line break, 2 separator (set per reader), 3 quote.
_BREAK, _SEPARATOR, _QUOTE = 1, 2, 3


class LimitedReader(io.RawIOBase):
    """A binary file that raises InputError as soon as a line or a field exceeds its limit, or a line
    holds more fields than the header names (pandas would make the extra ones row labels, slowly)."""

    def __init__(self, raw: BinaryIO, path: Path, encoding: str, separator: str, columns: int) -> None:
        self.raw = raw
        self.path = path
        self.dtype = code_units(encoding, raw.read(4))
        raw.seek(0)
        self.kinds = np.zeros(256, dtype=np.uint8)
        self.kinds[[LF, CR]] = _BREAK
        self.kinds[ord(separator)] = _SEPARATOR
        self.kinds[QUOTE] = _QUOTE
        self.separator = separator
        self.columns = max(columns, 1)
        self.line = 1  # physical line number of the next unit (the header is line 1)
        self.in_quotes = 0
        self.pending = b""  # the bytes of a code unit cut by the end of a block
        self.lines = _Stretch(MAX_CSV_LINE_BYTES, "is", self.dtype.itemsize)
        self.fields = _Stretch(MAX_CSV_FIELD_BYTES, "has a field", self.dtype.itemsize)
        self.separators_carried = 0

    def readable(self) -> bool:
        """Always: this wraps a file opened for reading."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Read the next block into ``buffer`` and check it before pandas sees it."""
        view = memoryview(buffer).cast("B")
        count = self.raw.readinto(view[:READ_BLOCK]) or 0
        if count:
            block = self.pending + bytes(view[:count])
            whole = len(block) - len(block) % self.dtype.itemsize
            self.pending = block[whole:]
            if whole:
                self._check(np.frombuffer(block[:whole], dtype=self.dtype))
        return count

    def close(self) -> None:
        """Close the file too."""
        self.raw.close()
        super().close()

    def _check(self, units: np.ndarray) -> None:
        codes = self.kinds[units if units.dtype == np.uint8 else np.minimum(units, 255)]
        positions = np.flatnonzero(codes)
        kinds = codes[positions]
        quotes = positions[kinds == _QUOTE]
        outside = kinds != _QUOTE
        if quotes.size or self.in_quotes:
            outside &= (np.searchsorted(quotes, positions) + self.in_quotes) % 2 == 0
            self.in_quotes = (self.in_quotes + quotes.size) % 2
        physical = positions[kinds == _BREAK]
        lone = (units[physical] == LF) | (units[np.minimum(physical + 1, len(units) - 1)] != LF)
        lines = _Lines(self.line, physical[lone | (physical == len(units) - 1)])
        breaks = positions[outside & (kinds == _BREAK)]
        carried_from = self.lines.first_line
        self.lines.advance(self.path, breaks, len(units), lines)
        self.fields.advance(self.path, positions[outside & (kinds != _QUOTE)], len(units), lines)
        self._count_fields(breaks, positions[outside & (kinds == _SEPARATOR)], lines, carried_from)
        self.line = lines.at(len(units))

    def _count_fields(
        self, breaks: np.ndarray, separators: np.ndarray, lines: _Lines, carried_from: int
    ) -> None:
        per_line = np.bincount(np.searchsorted(breaks, separators), minlength=breaks.size + 1)
        per_line[0] += self.separators_carried
        worst = int(np.argmax(per_line))
        if per_line[worst] + 1 > self.columns:
            begun = carried_from if worst == 0 else lines.at(int(breaks[worst - 1]) + 1)
            where = "line 1 (the header)" if begun == 1 else f"line {begun}"
            raise InputError(
                f"{self.path}: {where} has more fields than the header names ({self.columns}); "
                f"name every column, or quote values that contain '{self.separator}'"
            )
        self.separators_carried = int(per_line[-1])


def limited_csv(path: Path, encoding: str, separator: str, columns: int) -> io.BufferedReader:
    """``path`` opened for pandas, with the line, field and per-line field-count limits checked as it
    is read; ``columns``: how many the header names."""
    reader = LimitedReader(path.open("rb"), path, encoding, separator, columns)
    return io.BufferedReader(reader, READ_BLOCK)
