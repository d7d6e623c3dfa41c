"""Reading CSV and Parquet files into a DataFrame, with one clear error per problem."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

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
    if head.startswith(b"PAR1") or path.suffix.lower() in (".parquet", ".pq"):
        frame = _read_parquet(path)
    else:
        frame = _read_csv(path, head)
    if frame.shape[1] == 0:
        raise InputError(f"{path}: no columns found; expected a header line naming the columns")
    if len(frame) == 0:
        raise InputError(f"{path}: has a header but no data rows")
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from exc


def _read_csv(path: Path, head: bytes) -> pd.DataFrame:
    if b"\x00" in head:
        raise InputError(f"{path}: looks like a binary file, not CSV text; pass a CSV or Parquet file")
    encoding = "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            encoding = "latin-1"
    separator = "\t" if path.suffix.lower() == ".tsv" else ","
    _check_header(path, encoding, separator)
    try:
        return pd.read_csv(path, encoding=encoding, sep=separator, low_memory=False)
    except UnicodeDecodeError:
        return pd.read_csv(path, encoding="latin-1", sep=separator, low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path}: the file is empty; expected a header line and data rows") from exc
    except pd.errors.ParserError as exc:
        raise InputError(
            f"{path}: not valid CSV ({exc}); check quoting and the number of fields per line"
        ) from exc


def _check_header(path: Path, encoding: str, separator: str) -> None:
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        header = next(csv.reader(handle, delimiter=separator), [])
    seen: set[str] = set()
    for position, name in enumerate(header):
        if name in seen:
            raise InputError(
                f"{path}: column '{name}' appears twice in the header (position {position + 1}); rename one"
            )
        seen.add(name)
