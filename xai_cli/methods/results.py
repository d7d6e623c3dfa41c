"""The result of ``explain``: attributions per row, keyed by the user's columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class ExplainResult:
    """Attributions for the explained rows (``values[r, i]`` for feature i of row r, its own target).

    ``row_details`` holds per-row extras a method adds (LIME's local-model score, a sampling error).
    """

    method: str
    algorithm: str
    output: str
    feature_names: list[str]
    rows: list[int]
    targets: list[Any]
    target_indices: list[int]
    values: np.ndarray
    base_values: np.ndarray
    predictions: np.ndarray
    feature_values: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    row_details: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def additivity_errors(self) -> np.ndarray:
        """|base + sum(attributions) - prediction| per row."""
        return np.abs(self.base_values + self.values.sum(axis=1) - self.predictions)

    def global_importance(self) -> dict[str, float]:
        """Mean |attribution| per column over the explained rows, strongest first."""
        means = np.abs(self.values).mean(axis=0)
        order = np.argsort(-means, kind="stable")
        return {self.feature_names[i]: float(means[i]) for i in order}
