"""The one model shape every method sees, whatever framework the file came from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

ModelKind = Literal["classifier", "regressor"]
OutputSpace = Literal["probability", "raw", "value"]


@dataclass(frozen=True)
class EncodedView:
    """A model split into a column-separable encoder and the function that follows it.

    ``encode`` maps raw rows to a float matrix whose column ``j`` depends on one raw column only;
    ``groups[i]`` holds the encoded columns of raw column ``i``; ``predict(Z, output)`` runs the rest
    of the model on encoded rows. Mixing rows column-block by column-block in the encoded space is then
    the same as mixing the raw columns, without re-running the encoder on every mixed row.
    """

    encode: Callable[[pd.DataFrame], np.ndarray]
    groups: tuple[np.ndarray, ...]
    predict: Callable[[np.ndarray, OutputSpace], np.ndarray]
    final_estimator: Any
    additive_final: bool


@dataclass
class Model:
    """A loaded model: what it predicts, over which columns, and how to call it.

    ``predict(X, output)`` always returns a 2-D array: one column per class for probabilities and for
    raw margins (a binary margin ``m`` becomes the columns ``-m, m``), one column for a regressor's value.
    Deep-learning models (Keras, PyTorch, ONNX) also carry their ``network`` (see models/network.py),
    which runs image or tabular arrays and, for the torch-based ones, gives gradients.
    """

    path: Path
    sha256: str
    format: str
    framework: str
    kind: ModelKind
    classes: list[Any] | None
    feature_names: list[str] | None
    n_features: int | None
    estimator: Any
    predict_fn: Callable[[pd.DataFrame, OutputSpace], np.ndarray]
    categorical_columns: frozenset[str] = field(default_factory=frozenset)
    input: Literal["tabular", "image"] = "tabular"
    has_raw_output: bool = False
    encoded_view: EncodedView | None = None
    tree_estimator: Any = None
    tree_input_view: EncodedView | None = None  # set when the tree reads a Pipeline's encoded columns
    linear_in_inputs: bool = False
    network: Any = None
    architecture: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def predict(self, X: pd.DataFrame, output: OutputSpace) -> np.ndarray:
        """Predict on raw rows in the given output space; always 2-D."""
        return as_output_columns(self.predict_fn(X, output), len(X), output, self.kind)

    def default_output(self) -> OutputSpace:
        """Probabilities for classifiers, values for regressors."""
        return "probability" if self.kind == "classifier" else "value"

    def output_names(self, output: OutputSpace) -> list[Any]:
        """The label of each column that ``predict`` returns in this output space."""
        if self.kind == "regressor":
            return ["value"]
        assert self.classes is not None
        return list(self.classes)

    def describe(self) -> dict[str, Any]:
        """The ``model`` block of every report."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "format": self.format,
            "framework": self.framework,
            "kind": self.kind,
            "estimator": self.architecture or type(self.estimator).__name__,
            "classes": None if self.classes is None else [to_json_scalar(c) for c in self.classes],
            **self.details,
        }


def to_json_scalar(value: Any) -> Any:
    """A numpy scalar or plain value as a JSON-ready Python scalar."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def as_output_columns(result: Any, n_rows: int, output: OutputSpace, kind: ModelKind) -> np.ndarray:
    """Shape a prediction as (rows, outputs); a binary margin ``m`` becomes the two columns ``-m, m``."""
    values = np.asarray(result, dtype=float).reshape(n_rows, -1)
    if output == "raw" and kind == "classifier" and values.shape[1] == 1:
        values = np.hstack([-values, values])
    return values
