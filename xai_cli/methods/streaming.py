"""Summaries of an explanation computed chunk by chunk, without keeping the attribution matrix.

Global importance is the mean |attribution| per column over every explained row: the accumulator keeps
one running sum of |attribution| per column and the row count, so the result is the same quantity as
``ExplainResult.global_importance`` over all rows at once (equal up to floating-point summation order).
For the plots it keeps a fixed-size uniform sample of rows (for the beeswarm) and the first rows (for
the per-row plots): memory is bounded by the chunk size plus these, whatever the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xai_cli.methods.results import ExplainResult

BEESWARM_SAMPLE_ROWS = 1000


@dataclass
class StreamedExplanation:
    """What survives of a streamed explanation: sums, counts, a sample and the first rows."""

    feature_names: list[str]
    total_rows: int
    sample_positions: np.ndarray
    first_rows: int
    abs_sum: np.ndarray = field(init=False)
    rows_done: int = 0
    max_additivity_error: float = 0.0
    target_labels: set[str] = field(default_factory=set)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    method: str = ""
    algorithm: str = ""
    output: str = ""
    _sample: list[ExplainResult] = field(default_factory=list)
    _first: list[ExplainResult] = field(default_factory=list)
    _empty: ExplainResult | None = None

    def __post_init__(self) -> None:
        self.abs_sum = np.zeros(len(self.feature_names))

    @classmethod
    def start(
        cls, feature_names: list[str], total_rows: int, first_rows: int, seed: int
    ) -> StreamedExplanation:
        """An empty summary for ``total_rows`` rows; the beeswarm sample is drawn now, with the seed."""
        if total_rows <= BEESWARM_SAMPLE_ROWS:
            positions = np.arange(total_rows)
        else:
            rng = np.random.default_rng(seed)
            positions = np.sort(rng.choice(total_rows, size=BEESWARM_SAMPLE_ROWS, replace=False))
        return cls(feature_names, total_rows, positions, first_rows)

    def add(self, result: ExplainResult) -> None:
        """Fold in one chunk's result (its rows follow the previous chunk's in the explained order)."""
        start = self.rows_done
        count = len(result.rows)
        self.abs_sum += np.abs(result.values).sum(axis=0)
        if count:
            self.max_additivity_error = max(self.max_additivity_error, float(result.additivity_errors.max()))
        self.target_labels.update(str(t) for t in result.targets)
        if self._empty is None:
            self.method, self.algorithm, self.output = result.method, result.algorithm, result.output
            self.settings = dict(result.settings)
            self._empty = _take(result, np.arange(0))
        self.notes += [note for note in result.notes if note not in self.notes]
        inside = self.sample_positions[
            (self.sample_positions >= start) & (self.sample_positions < start + count)
        ]
        if len(inside):
            self._sample.append(_take(result, inside - start))
        if start < self.first_rows:
            self._first.append(_take(result, np.arange(min(count, self.first_rows - start))))
        self.rows_done += count

    def global_importance(self) -> dict[str, float]:
        """Mean |attribution| per column over all rows added, strongest first (stable order on ties)."""
        means = self.abs_sum / max(self.rows_done, 1)
        order = np.argsort(-means, kind="stable")
        return {self.feature_names[i]: float(means[i]) for i in order}

    def sample(self) -> ExplainResult:
        """The sampled rows, as one result (for the beeswarm)."""
        return self._joined(self._sample)

    def first(self) -> ExplainResult:
        """The first ``first_rows`` rows, as one result (for the per-row plots)."""
        return self._joined(self._first)

    def _joined(self, parts: list[ExplainResult]) -> ExplainResult:
        if self._empty is None:
            raise ValueError("no rows were added")
        return _concat([self._empty, *parts])


def _take(result: ExplainResult, positions: np.ndarray) -> ExplainResult:
    return ExplainResult(
        method=result.method,
        algorithm=result.algorithm,
        output=result.output,
        feature_names=result.feature_names,
        rows=[result.rows[i] for i in positions],
        targets=[result.targets[i] for i in positions],
        target_indices=[result.target_indices[i] for i in positions],
        values=result.values[positions].copy(),
        base_values=result.base_values[positions].copy(),
        predictions=result.predictions[positions].copy(),
        feature_values=result.feature_values.iloc[positions].reset_index(drop=True),
        settings=result.settings,
        row_details=[result.row_details[i] for i in positions] if result.row_details else [],
    )


def _concat(parts: list[ExplainResult]) -> ExplainResult:
    first = parts[0]
    return ExplainResult(
        method=first.method,
        algorithm=first.algorithm,
        output=first.output,
        feature_names=first.feature_names,
        rows=[row for part in parts for row in part.rows],
        targets=[t for part in parts for t in part.targets],
        target_indices=[t for part in parts for t in part.target_indices],
        values=np.concatenate([part.values for part in parts]),
        base_values=np.concatenate([part.base_values for part in parts]),
        predictions=np.concatenate([part.predictions for part in parts]),
        feature_values=pd.concat([part.feature_values for part in parts], ignore_index=True),
        settings=first.settings,
        row_details=[d for part in parts for d in part.row_details],
    )
