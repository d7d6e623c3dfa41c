"""Reading CSV and Parquet files into a DataFrame, with one clear error per problem.

Sizes are held to the limits of ``xai_cli.limits``: a CSV's columns, line and field lengths while it is
read (``data/csv_limits.py``), a Parquet file's columns and decoded row-group sizes from its footer
before anything is decoded.
"""

from __future__ import annotations

import codecs
import contextlib
from pathlib import Path

import pandas as pd

from xai_cli.data.messages import shown
from xai_cli.errors import InputError

TABULAR_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".parquet", ".pq"})


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; empty, binary or malformed files raise InputError naming the file."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a CSV or Parquet file")
    with path.open("rb") as handle:
        head = handle.read(8192)
    if not head.strip():
        raise InputError(f"{path}: the file is empty; expected a header line and at least one data row")
    frame = _read_parquet(path) if _is_parquet(path, head) else _read_csv(path, head)
    if frame.shape[1] == 0:
        raise InputError(f"{path}: no columns found; expected a header line naming the columns")
    if len(frame) == 0:
        if _is_parquet(path, head):
            raise InputError(f"{path}: has columns but no rows")
        raise InputError(f"{path}: has a header but no data rows")
    return frame


def _is_parquet(path: Path, head: bytes) -> bool:
    return head.startswith(b"PAR1") or path.suffix.lower() in (".parquet", ".pq")


def _read_parquet(path: Path) -> pd.DataFrame:
    check_parquet_sizes(path, whole_file=True)
    try:
        return pd.read_parquet(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from exc


# Bytes per value of Parquet's fixed-width physical types.
_PARQUET_WIDTHS = {"BOOLEAN": 1, "INT32": 4, "FLOAT": 4, "INT64": 8, "DOUBLE": 8, "INT96": 12}


def check_parquet_sizes(path: Path, *, whole_file: bool) -> None:
    """From the footer alone: the column count, each row group's decoded size and (``whole_file``)
    the whole file's decoded size against the limits; InputError naming the file otherwise."""
    import pyarrow.parquet as pq

    from xai_cli.limits import (
        MAX_CSV_COLUMNS,
        MAX_PARQUET_EXPANSION,
        MAX_ROW_GROUP_BYTES,
        GiB,
        limit_value,
        size_text,
    )

    try:
        metadata = pq.read_metadata(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from exc
    max_columns = limit_value(MAX_CSV_COLUMNS)
    if metadata.num_columns > max_columns:
        raise InputError(
            f"{path}: {metadata.num_columns:,} columns, above the limit of {max_columns:,}; "
            f"{MAX_CSV_COLUMNS.how_to_raise}"
        )
    max_group, total = limit_value(MAX_ROW_GROUP_BYTES), 0
    for index in range(metadata.num_row_groups):
        decoded = _row_group_bytes(metadata, index)
        total += decoded
        if decoded > max_group:
            raise InputError(
                f"{path}: row group {index} would decode to {size_text(decoded)}, above the limit of "
                f"{size_text(max_group)}; {MAX_ROW_GROUP_BYTES.how_to_raise}"
            )
    expansion = limit_value(MAX_PARQUET_EXPANSION)
    size = path.stat().st_size
    if whole_file and total > GiB and total > expansion * size:
        raise InputError(
            f"{path}: would decode to {size_text(total)}, more than {expansion:,} times its size "
            f"({size_text(size)}); {MAX_PARQUET_EXPANSION.how_to_raise}, or read it with --chunk-size"
        )


def _row_group_bytes(metadata: object, index: int) -> int:
    """A row group's decoded size: what it declares, or rows x fixed widths, whichever is larger."""
    group = metadata.row_group(index)  # type: ignore[attr-defined]
    width = 0
    for column in range(group.num_columns):
        physical = group.column(column).physical_type
        width += _PARQUET_WIDTHS.get(physical, 0)
    return max(int(group.total_byte_size), int(group.num_rows) * width)


# Byte-order marks, longest first (the UTF-32 LE mark starts with the UTF-16 LE one).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def text_encoding(head: bytes) -> str | None:
    """The encoding of a text file from its first bytes, or None if they are not text.

    A byte-order mark decides (UTF-8, UTF-16, UTF-32); UTF-16 without one is recognised by its
    zero bytes; otherwise UTF-8 if the bytes decode as UTF-8, else Windows-1252, else Latin-1
    (which decodes anything). Zero bytes in what remains mean a binary file.
    """
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    if b"\x00" in head:
        even = head[: len(head) // 2 * 2]
        for encoding, zeros in (("utf-16-le", even[1::2]), ("utf-16-be", even[0::2])):
            if zeros and zeros.count(0) >= 0.9 * len(zeros):
                with contextlib.suppress(UnicodeDecodeError):
                    if "\x00" not in even.decode(encoding):
                        return encoding
        return None
    for encoding in ("utf-8", "cp1252"):
        try:
            head.decode(encoding)
            return "utf-8-sig" if encoding == "utf-8" else encoding
        except UnicodeDecodeError as exc:
            if encoding == "utf-8" and exc.start >= len(head) - 4:
                return "utf-8-sig"  # a character cut at the end of the first block
    return "latin-1"


def _read_csv(path: Path, head: bytes) -> pd.DataFrame:
    encoding = text_encoding(head)
    if encoding is None:
        raise InputError(f"{path}: looks like a binary file, not CSV text; pass a CSV or Parquet file")
    separator = "\t" if path.suffix.lower() == ".tsv" else ","
    columns = len(_check_header(path, encoding, separator))
    try:
        try:
            frame = _limited_read_csv(path, encoding, separator, columns)
        except UnicodeDecodeError:
            frame = _limited_read_csv(path, "latin-1", separator, columns)
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path}: the file is empty; expected a header line and data rows") from exc
    except (pd.errors.ParserError, ValueError, UnicodeError) as exc:
        reason = shown(str(exc).strip(), 200)[1:-1]
        raise InputError(
            f"{path}: not valid CSV ({reason}); check quoting and the number of fields per line"
        ) from exc
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas takes the first field(s) as row labels when data lines have more fields than the
        # header: every column would silently shift by one.
        raise InputError(
            f"{path}: line 2 has more fields than the header names ({len(frame.columns)}); "
            f"name every column, or quote values that contain '{separator}'"
        )
    return frame


def _limited_read_csv(path: Path, encoding: str, separator: str, columns: int) -> pd.DataFrame:
    """pandas' C parser, fed through the line and field limits (``xai_cli.data.csv_limits``)."""
    from xai_cli.data.csv_limits import limited_csv

    with limited_csv(path, encoding, separator, columns) as handle:
        return pd.read_csv(handle, encoding=encoding, sep=separator, low_memory=False)


def _check_header(path: Path, encoding: str, separator: str) -> list[str]:
    """The header's names, within the column, line and field limits, and none twice (a bounded read)."""
    from xai_cli.data.csv_limits import read_header

    header = read_header(path, encoding, separator)
    seen: set[str] = set()
    for position, name in enumerate(header):
        if name in seen:
            raise InputError(
                f"{path}: column {shown(name)} appears twice in the header (position {position + 1}); "
                "rename one"
            )
        seen.add(name)
    return header
