"""A model that hangs: a decision tree whose predictions wait first (for --timeout tests).

Pickled, it names ``tests.models.sleepy.SleepyTree``, which is not on the allow-list: loading it
needs --trust-model, as any model class of one's own does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier


class SleepyTree(DecisionTreeClassifier):
    """predict_proba sleeps ``sleep_seconds`` before answering, when a row's first column exceeds
    ``sleep_above`` (by default always)."""

    sleep_seconds: float = 0.0
    sleep_above: float = float("-inf")

    def predict_proba(self, X: Any, check_input: bool = True) -> Any:
        """Wait, then predict."""
        if np.asarray(X, dtype=float)[:, 0].max() > self.sleep_above:
            time.sleep(self.sleep_seconds)
        return super().predict_proba(X, check_input)


def save_sleepy_tree(
    data: Path, path: Path, sleep_seconds: float, label: str = "species", sleep_above: float = float("-inf")
) -> Path:
    """Fit a SleepyTree on ``data`` (the label column dropped) and save it with joblib."""
    frame = pd.read_csv(data)
    model = SleepyTree(max_depth=2, random_state=0).fit(frame.drop(columns=label), frame[label])
    model.sleep_seconds = sleep_seconds
    model.sleep_above = sleep_above
    joblib.dump(model, path)
    return path
