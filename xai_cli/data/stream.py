"""Reading a large CSV or Parquet file in chunks, so no more than one chunk is in memory at a time.

Parquet is read with pyarrow's ``ParquetFile.iter_batches`` (row count from the footer, free); CSV with
pandas' ``read_csv(chunksize=...)`` (counting rows costs one pass over the first column). The same
limits hold as for a whole-file read: CSV lines, fields and columns as they are read, Parquet columns and
row-group sizes from the footer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from xai_cli.data.tabular import TABULAR_SUFFIXES
from xai_cli.errors import InputError

PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})


def is_parquet(path: Path) -> bool:
    """Parquet by magic bytes or suffix, as ``read_table`` decides."""
    with path.open("rb") as handle:
        return handle.read(4) == b"PAR1" or path.suffix.lower() in PARQUET_SUFFIXES


def check_streamable(path: Path) -> None:
    """The checks ``read_table`` makes before reading, without reading the whole file."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty; expected a header line and at least one data row")
    if not is_parquet(path) and path.suffix.lower() not in TABULAR_SUFFIXES - PARQUET_SUFFIXES:
        with path.open("rb") as handle:
            if b"\x00" in handle.read(8192):
                raise InputError(
                    f"{path}: looks like a binary file, not CSV text; pass a CSV or Parquet file"
                )
    # A file whose first rows are malformed fails here with read_table's own message.
    read_table_head(path)


def read_table_head(path: Path, rows: int = 5) -> pd.DataFrame:
    """The first rows, validated like ``read_table`` (header, duplicate columns, encoding)."""
    for chunk in iter_table_chunks(path, rows):
        return chunk
    raise InputError(f"{path}: has a header but no data rows")


def count_rows(path: Path, chunk_size: int) -> int:
    """Data rows in the file (header excluded)."""
    if is_parquet(path):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    total = 0
    for chunk in _csv_chunks(path, chunk_size, usecols=[0]):
        total += len(chunk)
    return total


def iter_table_chunks(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    """Consecutive chunks of at most ``chunk_size`` rows, each with a fresh 0-based index."""
    if is_parquet(path):
        yield from _parquet_chunks(path, chunk_size)
    else:
        yield from _csv_chunks(path, chunk_size)


def _parquet_chunks(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    from xai_cli.data.tabular import check_parquet_sizes

    check_parquet_sizes(path, whole_file=False)
    try:
        # pre_buffer=False: with pyarrow's default read-ahead cache, iter_batches keeps what it read and
        # memory grows with the file (measured: +70 MB per million rows of 8 float columns); without it
        # memory stays flat.
        parquet = pq.ParquetFile(path, pre_buffer=False)
        batches = parquet.iter_batches(batch_size=chunk_size)
        for batch in batches:
            yield batch.to_pandas()
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from exc


def _csv_chunks(path: Path, chunk_size: int, usecols: list[int] | None = None) -> Iterator[pd.DataFrame]:
    with path.open("rb") as handle:
        head = handle.read(8192)
    from xai_cli.data.tabular import _check_header

    encoding = "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            encoding = "latin-1"
    separator = "\t" if path.suffix.lower() == ".tsv" else ","
    columns = len(_check_header(path, encoding, separator))
    from xai_cli.data.csv_limits import limited_csv

    try:
        with limited_csv(path, encoding, separator, columns) as handle:
            reader = pd.read_csv(
                handle, encoding=encoding, sep=separator, chunksize=chunk_size, usecols=usecols
            )
            with reader:
                for chunk in reader:
                    yield chunk.reset_index(drop=True)
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path}: the file is empty; expected a header line and data rows") from exc
    except pd.errors.ParserError as exc:
        raise InputError(
            f"{path}: not valid CSV ({exc}); check quoting and the number of fields per line"
        ) from exc
