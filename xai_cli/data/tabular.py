"""Reading CSV and Parquet files into a DataFrame, with one clear error per problem."""

from __future__ import annotations

import codecs
import contextlib
import csv
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
    try:
        return pd.read_parquet(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from exc


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
    _check_header(path, encoding, separator)
    try:
        try:
            frame = pd.read_csv(path, encoding=encoding, sep=separator, low_memory=False)
        except UnicodeDecodeError:
            frame = pd.read_csv(path, encoding="latin-1", sep=separator, low_memory=False)
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


def _check_header(path: Path, encoding: str, separator: str) -> None:
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        header = next(csv.reader(handle, delimiter=separator), [])
    seen: set[str] = set()
    for position, name in enumerate(header):
        if name in seen:
            raise InputError(
                f"{path}: column {shown(name)} appears twice in the header (position {position + 1}); "
                "rename one"
            )
        seen.add(name)
