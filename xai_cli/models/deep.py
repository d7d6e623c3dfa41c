"""A deep-learning ``Network`` as the one ``Model`` shape: tabular black boxes and image models.

A tabular network (an MLP over table rows) is calibrated at load on noise rows and then predicts over
DataFrames like any scikit-learn model, so ``explain`` (and every other tabular command) uses it as a
black box. An image network is calibrated on the first batch of images by ``finish_image_model``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xai_cli.errors import InputError, UsageError
from xai_cli.models.base import Model, OutputSpace
from xai_cli.models.network import Network, to_probabilities

CALIBRATION_ROWS = 16


def model_from_network(network: Network, *, path: Path, sha256: str, file_format: str) -> Model:
    """Wrap a loaded network; tabular networks are calibrated here, image networks on their first batch."""
    spec = network.input_spec
    model = Model(
        path=path,
        sha256=sha256,
        format=file_format,
        framework=network.framework,
        kind="classifier",
        classes=None,
        feature_names=getattr(network, "feature_names", None),
        n_features=spec.n_features,
        estimator=network,
        predict_fn=_image_predict_refused,
        input="image" if spec.is_image else "tabular",
        network=network,
        architecture=network.architecture,
        details={"input": spec.describe(), "device": network.device},
    )
    if not spec.is_image:
        assert spec.n_features is not None
        rng = np.random.default_rng(0)
        network.calibrate(rng.normal(size=(CALIBRATION_ROWS, spec.n_features)).astype(np.float32))
        _settle_outputs(model, network, None)
        model.predict_fn = _tabular_predict(network)
        model.has_raw_output = network.output_kind in ("logits", "values")
    return model


def finish_image_model(model: Model, first_batch: np.ndarray, classes: list[str] | None) -> None:
    """Calibrate an image network on the first batch and settle its kind and class names."""
    network: Network = model.network
    network.calibrate(first_batch)
    _settle_outputs(model, network, classes)


def _settle_outputs(model: Model, network: Network, classes: list[str] | None) -> None:
    kind = network.kind_of_output()
    model.details["outputs"] = kind
    n_classes = 2 if kind == "sigmoid" else int(network.n_outputs or 1)
    if kind == "values":
        model.kind = "regressor"
        model.classes = None
        if classes is not None:
            raise UsageError("--classes: the model has a single unbounded output (a value), not classes")
        return
    model.kind = "classifier"
    names = classes if classes is not None else network.declared_classes
    source = "--classes" if classes is not None else "the model's class names"
    if names is not None and len(names) != n_classes:
        raise InputError(f"{source} list {len(names)} classes, but the model has {n_classes} outputs")
    model.classes = list(names) if names is not None else list(range(n_classes))


def _tabular_predict(network: Network) -> Any:
    def predict(X: pd.DataFrame, output: OutputSpace) -> np.ndarray:
        try:
            values = X.to_numpy(dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InputError(f"the network takes numbers only: {exc}") from exc
        raw = network.run(values)
        kind = network.kind_of_output()
        if output == "raw" and kind in ("logits", "values"):
            return raw
        return to_probabilities(raw, kind)

    return predict


def _image_predict_refused(X: pd.DataFrame, output: OutputSpace) -> np.ndarray:
    raise UsageError("an image model does not take table rows; use 'xai attention MODEL IMAGES'")
