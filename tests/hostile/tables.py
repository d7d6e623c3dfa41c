"""Hypothesis strategies for hostile tables: CSV bytes in odd encodings, quoting and line endings,
with odd values (huge, tiny, inf, NaN, text in number columns) and odd headers (duplicated,
unnamed, missing, extra), and DataFrames of odd dtypes for Parquet."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import strategies as st

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "latin-1", "cp1252")
LINE_ENDINGS = ("\n", "\r\n", "\r")
QUOTING = (csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC)

ODD_NUMBERS = [
    "1e308", "-1e308", "1.7976931348623157e308", "1e309", "5e-324", "1e-320", "-0.0", "0", "+3",
    "123456789012345678901234567890", "-9223372036854775809", "0x1F", "1_000", "1,000", " 5 ", "1e5",
    ".5", "5.", "1.5e-10", "3.4028235e38", "3.5e38",
]  # fmt: skip
MISSING_OR_SPECIAL = [
    "", "nan", "NaN", "NA", "N/A", "null", "None", "inf", "-inf", "Infinity", "-Infinity", "INF", "True",
    "false", "#N/A", "-",
]  # fmt: skip
ODD_TEXT = ["red", "a,b", 'say "hi"', "two\nlines", "tab\there", "ünïcödé", "€uro", "\u200b", "😀", "=1+1"]


def cell_values() -> st.SearchStrategy[str]:
    """One cell as text: a plain or odd number, a missing/special token, or text."""
    return st.one_of(
        st.integers(-(10**6), 10**6).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.floats(width=32).map(lambda v: f"{v:.9g}"),
        st.sampled_from(ODD_NUMBERS),
        st.sampled_from(MISSING_OR_SPECIAL),
        st.sampled_from(ODD_TEXT),
        st.text(max_size=6),
    )


@dataclass(frozen=True)
class CsvCase:
    """A generated CSV: its bytes and how they were made (shown when a case fails)."""

    data: bytes
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    encoding: str
    line_ending: str
    quoting: int


@st.composite
def csv_cases(draw: st.DrawFn, model_columns: list[str], category_values: dict[str, list[str]]) -> CsvCase:
    """A CSV that mostly has the model's columns (so some cases work), with odd headers, values,
    encodings, quoting and line endings, and 0 to 6 rows."""
    columns = draw(st.permutations(model_columns))
    dropped = draw(st.integers(0, 1)) if draw(st.booleans()) else 0
    columns = list(columns[dropped:])
    extras = draw(
        st.just([])
        | st.lists(
            st.sampled_from(["", "Unnamed: 0", "label", "ünï", "a,b", 'q"t', "x\ny", *model_columns[:2]]),
            max_size=2,
        )
    )
    for extra in extras:
        columns.insert(draw(st.integers(0, len(columns))), extra)
    n_rows = draw(st.sampled_from([0, 1, 1, 2, 3, 6]))
    rows = []
    for _ in range(n_rows):
        row = []
        for column in columns:
            if column in category_values and draw(st.integers(0, 3)) > 0:
                row.append(draw(st.sampled_from(category_values[column])))
            elif draw(st.integers(0, 2)) > 0:
                row.append(
                    draw(st.one_of(st.integers(0, 100).map(str), st.floats(0, 1e5).map(lambda v: f"{v:.6g}")))
                )
            else:
                row.append(draw(cell_values()))
        if draw(st.integers(0, 9)) == 0:  # a ragged row
            row = (
                row[: draw(st.integers(0, len(row)))] if draw(st.booleans()) else [*row, draw(cell_values())]
            )
        rows.append(tuple(row))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", *ENCODINGS]))
    line_ending = draw(st.sampled_from(LINE_ENDINGS))
    quoting = draw(st.sampled_from(QUOTING))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_ending, quoting=quoting)
    writer.writerow(columns)
    writer.writerows(rows)
    text = buffer.getvalue()
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]  # cut short
    data = text.encode(encoding, errors="replace")
    return CsvCase(data, tuple(columns), tuple(rows), encoding, line_ending, quoting)


ODD_COLUMNS = {
    "float": lambda n, rng: rng.normal(size=n),
    "int": lambda n, rng: rng.integers(-5, 5, size=n),
    "uint8": lambda n, rng: rng.integers(0, 255, size=n).astype("uint8"),
    "bool": lambda n, rng: rng.integers(0, 2, size=n).astype(bool),
    "nullable-int": lambda n, rng: pd.array([None if i % 2 else i for i in range(n)], dtype="Int64"),
    "nullable-bool": lambda n, rng: pd.array([(None, True, False)[i % 3] for i in range(n)], dtype="boolean"),
    "string": lambda n, rng: pd.array([f"s{i}" for i in range(n)], dtype="string"),
    "category": lambda n, rng: pd.Categorical([("a", "b")[i % 2] for i in range(n)]),
    "datetime": lambda n, rng: pd.date_range("2020-01-01", periods=n, freq="D"),
    "datetime-tz": lambda n, rng: pd.date_range("2020-01-01", periods=n, freq="h", tz="UTC"),
    "timedelta": lambda n, rng: pd.to_timedelta(np.arange(n), unit="s"),
    "bytes": lambda n, rng: [str(i).encode() for i in range(n)],
    "list": lambda n, rng: [[i, i + 1] for i in range(n)],
    "dict": lambda n, rng: [{"k": i} for i in range(n)],
    "decimal": lambda n, rng: [__import__("decimal").Decimal(i) / 3 for i in range(n)],
    "all-null": lambda n, rng: [None] * n,
    "inf": lambda n, rng: np.where(np.arange(n) % 2, np.inf, -np.inf),
    "float16": lambda n, rng: rng.normal(size=n).astype("float16"),
}  # fmt: skip


@st.composite
def parquet_frames(draw: st.DrawFn, model_columns: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """A DataFrame whose model columns each get an odd dtype (or stay plain), 0 to 5 rows."""
    n_rows = draw(st.sampled_from([0, 1, 3, 5]))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    kinds = {column: draw(st.sampled_from(["plain", "plain", *ODD_COLUMNS])) for column in model_columns}
    data = {}
    for column, kind in kinds.items():
        data[column] = rng.normal(size=n_rows) + 5 if kind == "plain" else ODD_COLUMNS[kind](n_rows, rng)
    return pd.DataFrame(data), kinds
