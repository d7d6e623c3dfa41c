"""Model outputs for many candidate rows at once, each described as changes to an original row.

A candidate is a ``State``: ``((column index, new value), ...)`` applied to one original row. All the
candidates of many rows go to the model in one call, because a call's fixed cost (a Pipeline's
``ColumnTransformer`` on a DataFrame, input validation) is far larger than the cost of one more row.

Fast path: when the model has a column-wise encoder (``Model.encoded_view``), each distinct value of a
column is encoded once and cached; a candidate's encoded row is the original's with that column's block
replaced, and only the rest of the model runs on it. The encoder is column-separable, so this equals
running the whole model on the raw candidate, and every reported counterfactual is re-predicted from its
raw values through ``model.predict`` anyway.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from xai_cli.methods.constraints import ColumnSpace
from xai_cli.models.base import Model

Change = tuple[int, Any]
State = tuple[Change, ...]
PREDICT_CHUNK = 65_536
PRECACHE_VALUES = 5_000


class CandidateEvaluator:
    """Turns states of original rows into model outputs (probabilities, or a regressor's value)."""

    def __init__(self, model: Model, frame: pd.DataFrame, spaces: list[ColumnSpace]) -> None:
        self.model = model
        self.output = model.default_output()
        self.columns = list(frame.columns)
        self.dtypes = frame.dtypes.to_dict()
        self.spaces = spaces
        self.template = frame.iloc[[0]].reset_index(drop=True)
        view = model.encoded_view
        self.view = view if view is not None and len(view.groups) == len(self.columns) else None
        self.value_rows: list[dict[Any, int]] = [{} for _ in self.columns]
        self.value_tables: list[np.ndarray] = [np.zeros((0, 0)) for _ in self.columns]

    @property
    def fast(self) -> bool:
        """Whether candidates go through the cached encoder (True) or the whole model on raw rows."""
        return self.view is not None

    def prepare(self, originals: pd.DataFrame) -> list[np.ndarray | None]:
        """The encoded original rows (None each on the raw path), encoded in the same call as every
        observed value of every column (so later steps rarely need the encoder again)."""
        if self.view is None:
            return [None] * len(originals)
        observed = {
            (j, value)
            for j, space in enumerate(self.spaces)
            if len(space.observed) <= PRECACHE_VALUES
            for value in space.observed.tolist()
        }
        try:
            encoded = self._cache_values(observed, originals)
        except Exception:
            self.view = None
            return [None] * len(originals)
        return list(encoded)

    def outputs(self, requests: list[tuple[list[Any], np.ndarray | None, list[State]]]) -> list[np.ndarray]:
        """One output array per request ``(original values, encoded original, states)``, in one model call
        (per ``PREDICT_CHUNK`` rows)."""
        if self.view is not None:
            self._cache_values({change for _, _, states in requests for state in states for change in state})
            matrix = np.vstack([self._encoded(base_z, states) for _, base_z, states in requests])
            results = self._chunked(matrix, lambda part: self.view.predict(part, self.output))  # type: ignore[union-attr]
        else:
            frames = [self.frame_of(base, states) for base, _, states in requests]
            table = pd.concat(frames, ignore_index=True)
            results = self._chunked(table, lambda part: self.model.predict(part, self.output))
        sizes = np.cumsum([len(states) for _, _, states in requests])[:-1]
        return np.split(results, sizes)

    def _chunked(self, rows: Any, predict: Any) -> np.ndarray:
        parts = [predict(rows[start : start + PREDICT_CHUNK]) for start in range(0, len(rows), PREDICT_CHUNK)]
        return np.vstack(parts)

    def frame_of(self, base: list[Any], states: list[State]) -> pd.DataFrame:
        """Raw rows: the original values with each state's changes applied, in the data's dtypes."""
        count = len(states)
        data: dict[str, np.ndarray] = {}
        for j, column in enumerate(self.columns):
            space = self.spaces[j]
            dtype = object if space.categorical else (np.int64 if space.integer else float)
            data[column] = np.full(count, base[j], dtype=dtype)
        for i, state in enumerate(states):
            for j, value in state:
                data[self.columns[j]][i] = value
        frame = pd.DataFrame(data, columns=self.columns)
        differ = {c: t for c, t in self.dtypes.items() if frame[c].dtype != t}
        return frame.astype(differ) if differ else frame

    def _encoded(self, base_z: np.ndarray | None, states: list[State]) -> np.ndarray:
        """Encoded rows: the encoded original with each changed column's block swapped for the cached
        encoding of its new value."""
        assert self.view is not None and base_z is not None
        matrix = np.repeat(base_z[None, :], len(states), axis=0)
        by_column: dict[int, tuple[list[int], list[int]]] = {}
        for i, state in enumerate(states):
            for j, value in state:
                rows, blocks = by_column.setdefault(j, ([], []))
                rows.append(i)
                blocks.append(self.value_rows[j][value])
        for j, (rows, blocks) in by_column.items():
            group = self.view.groups[j]
            if len(group):
                matrix[np.asarray(rows)[:, None], group[None, :]] = self.value_tables[j][np.asarray(blocks)]
        return matrix

    def _cache_values(self, changes: set[Change], rows: pd.DataFrame | None = None) -> np.ndarray:
        """Encode, in one call, every (column, value) not encoded before, and ``rows`` if given (returns
        their encodings)."""
        assert self.view is not None
        missing: dict[int, list[Any]] = {}
        for j, value in sorted(changes, key=lambda change: (change[0], str(change[1]))):
            if value not in self.value_rows[j]:
                missing.setdefault(j, []).append(value)
        if not missing and rows is None:
            return np.zeros((0, 0))
        length = max((len(values) for values in missing.values()), default=0)
        block = self.template.loc[np.zeros(length, dtype=int)].reset_index(drop=True)
        for j, values in missing.items():
            column = self.columns[j]
            padded = [*values, *([values[0]] * (length - len(values)))]
            block[column] = pd.Series(padded, dtype=object).astype(self.dtypes[column])
        if rows is not None:
            block = pd.concat([block, rows.astype(self.dtypes)], ignore_index=True)
        encoded = self.view.encode(block)
        for j, values in missing.items():
            known = len(self.value_rows[j])
            for k, value in enumerate(values):
                self.value_rows[j][value] = known + k
            new_blocks = encoded[: len(values)][:, self.view.groups[j]]
            table = self.value_tables[j]
            self.value_tables[j] = new_blocks if known == 0 else np.vstack([table, new_blocks])
        return encoded[length:]
