"""Matching a table to a model: column names, order, types and missing values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from xai_cli.data.messages import row_location, shown
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
            raise InputError(f"{source}: --label-column {shown(label_column)} is not a column of the file")
        frame = frame.drop(columns=label_column)
    frame.columns = [str(c) for c in frame.columns]
    if model.feature_names is not None:
        missing = [name for name in model.feature_names if name not in frame.columns]
        if missing:
            raise InputError(
                f"{source}: missing column(s) {_listed(missing)} that the model needs; "
                f"the file has {_listed(list(frame.columns)) or 'no columns'}"
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
    text_columns = _text_category_columns(model)
    for column in aligned.columns:
        if column not in model.categorical_columns:
            aligned[column] = _numeric_column(aligned[column], column, source, first_row)
        elif column in text_columns and not _is_text(aligned[column]):
            aligned[column] = _as_text(aligned[column])
    aligned.index = pd.RangeIndex(len(aligned))
    return AlignedTable(frame=aligned, ignored_columns=ignored)


def _text_category_columns(model: Model) -> set[str]:
    if model.framework != "sklearn":
        return set()
    from xai_cli.models.sklearn import text_category_columns

    return text_category_columns(model.estimator, model.feature_names)


def _is_text(values: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)


def _as_text(values: pd.Series) -> pd.Series:
    """A column of categories that the file's reader took for numbers or booleans, back as text
    (missing values stay missing)."""
    text = values.astype(object)
    present = values.notna().to_numpy()
    text[present] = [str(value) for value in values[present]]
    return text.where(present, np.nan)


def _numeric_column(values: pd.Series, column: str, source: Path, first_row: int = 0) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_timedelta64_dtype(values):
        raise InputError(
            f"{source}: column {shown(column)} holds dates or times ({values.dtype}), but the model expects "
            "numbers in this column; convert them to the numbers the model was trained on"
        )
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_extension_array_dtype(values):
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            # Nullable Int64/boolean/Float64: plain float64, pd.NA -> NaN.
            return pd.Series(
                values.astype("Float64").to_numpy(dtype=float, na_value=np.nan), index=values.index
            )
    elif pd.api.types.is_numeric_dtype(values):
        return values
    converted = pd.to_numeric(values.astype(object), errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        where = f"{row_location(source, first_row + position)}, column {shown(column)}"
        raise InputError(
            f"{source}: {where}: {shown(values.iloc[position])} is not a number; "
            "the model expects numbers in this column"
        )
    return converted.astype(float)


def _listed(names: list[str], limit: int = 12) -> str:
    shown_names = ", ".join(shown(str(name), 40) for name in names[:limit])
    return shown_names + (f" and {len(names) - limit} more" if len(names) > limit else "")


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

    def file_row(position: int) -> int:
        return row_numbers[position] if row_numbers is not None else position

    try:
        model.predict(frame, model.default_output())
        return
    except Exception as exc:
        failure = exc
    missing = first_missing_cell(frame)
    if missing is not None:
        position, column = missing
        if not _predicts(model, frame.iloc[[position]]):
            raise InputError(
                f"{source}: {row_location(source, file_row(position))}, column {shown(column)} is empty "
                "(missing value) and this model cannot take missing values; fill it in or drop the row"
            ) from failure
    for position in range(len(frame)):
        try:
            model.predict(frame.iloc[[position]], model.default_output())
        except Exception as exc:
            message = _first_line(exc)
            column = _column_at_fault(model, frame, position)
            where = row_location(source, file_row(position))
            if column is not None:
                value = shown(frame.iloc[position][column])
                raise InputError(
                    f"{source}: {where}, column {shown(column)}: the model cannot predict it with {value} "
                    f"in this column: {message}"
                ) from exc
            raise InputError(f"{source}: {where}: the model cannot predict it: {message}") from exc
    raise InputError(f"{source}: the model cannot predict these rows: {_first_line(failure)}") from failure


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return shown(text.splitlines()[0], 200)[1:-1] if text else type(exc).__name__


def _predicts(model: Model, rows: pd.DataFrame) -> bool:
    try:
        model.predict(rows, model.default_output())
    except Exception:
        return False
    return True


def _column_at_fault(model: Model, frame: pd.DataFrame, row: int) -> str | None:
    """The one column whose value, taken from a row the model accepts, makes ``row`` predictable."""
    good = next((r for r in range(len(frame)) if r != row and _predicts(model, frame.iloc[[r]])), None)
    if good is None:
        return None
    for column in frame.columns:
        mixed = frame.iloc[[row]].copy()
        mixed[column] = frame[column].iloc[[good]].to_numpy()
        if _predicts(model, mixed):
            return str(column)
    return None
