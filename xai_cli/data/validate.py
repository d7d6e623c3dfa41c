"""Matching a table to a model: column names, order, types and missing values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from xai_cli.errors import InputError
from xai_cli.models.base import Model


@dataclass
class AlignedTable:
    """The model's input columns, in the model's order, and what was set aside on the way."""

    frame: pd.DataFrame
    ignored_columns: list[str] = field(default_factory=list)


def align_to_model(
    frame: pd.DataFrame, model: Model, source: Path, label_column: str | None = None, first_row: int = 0
) -> AlignedTable:
    """Select and order the model's columns; coerce numeric columns; errors name file, row and column.

    ``first_row``: the file's data row that ``frame`` starts at (a chunk of a streamed file).
    """
    if label_column is not None:
        if label_column not in frame.columns:
            raise InputError(f"{source}: --label-column '{label_column}' is not a column of the file")
        frame = frame.drop(columns=label_column)
    frame.columns = [str(c) for c in frame.columns]
    if model.feature_names is not None:
        missing = [name for name in model.feature_names if name not in frame.columns]
        if missing:
            raise InputError(
                f"{source}: missing column(s) {', '.join(repr(m) for m in missing)} that the model needs; "
                f"the file has {', '.join(repr(c) for c in frame.columns)}"
            )
        ignored = [c for c in frame.columns if c not in model.feature_names]
        aligned = frame[model.feature_names].copy()
    else:
        expected = model.n_features
        if expected is not None and frame.shape[1] != expected:
            raise InputError(
                f"{source}: the model takes {expected} columns (it has no column names, so they are taken "
                f"in file order) but the file has {frame.shape[1]}; drop extra columns or use --label-column"
            )
        ignored = []
        aligned = frame.copy()
    for column in aligned.columns:
        if column not in model.categorical_columns:
            aligned[column] = _numeric_column(aligned[column], column, source, first_row)
    aligned.index = pd.RangeIndex(len(aligned))
    return AlignedTable(frame=aligned, ignored_columns=ignored)


def _numeric_column(values: pd.Series, column: str, source: Path, first_row: int = 0) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    if pd.api.types.is_numeric_dtype(values):
        return values
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        row = first_row + position
        raise InputError(
            f"{source}: row {row} (line {row + 2}), column '{column}': {values.iloc[position]!r} is not a "
            "number; the model expects numbers in this column"
        )
    return converted


def first_missing_cell(frame: pd.DataFrame) -> tuple[int, str] | None:
    """(row, column) of the first NaN/empty cell, scanning row by row, or None."""
    mask = frame.isna().to_numpy()
    if not mask.any():
        return None
    row, col = np.argwhere(mask)[0]
    return int(row), str(frame.columns[col])


def check_model_accepts(
    model: Model, frame: pd.DataFrame, source: Path, row_numbers: Sequence[int] | None = None
) -> None:
    """Run the model once on the rows; turn a refusal into a line naming the row and column at fault.

    ``row_numbers[i]``: the file's data row of ``frame``'s row ``i`` (default: ``i``).
    """
    try:
        model.predict(frame, model.default_output())
        return
    except Exception as exc:
        failure = exc
    missing = first_missing_cell(frame)
    if missing is not None:
        position, column = missing
        row = row_numbers[position] if row_numbers is not None else position
        try:
            model.predict(frame.iloc[[position]], model.default_output())
        except Exception:
            raise InputError(
                f"{source}: row {row} (line {row + 2}), column '{column}' is empty (missing value) and this "
                "model cannot take missing values; fill it in or drop the row"
            ) from failure
    for position in range(len(frame)):
        row = row_numbers[position] if row_numbers is not None else position
        try:
            model.predict(frame.iloc[[position]], model.default_output())
        except Exception as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(
                f"{source}: row {row} (line {row + 2}): the model cannot predict it: {message}"
            ) from exc
    message = str(failure).splitlines()[0] if str(failure) else type(failure).__name__
    raise InputError(f"{source}: the model cannot predict these rows: {message}") from failure
