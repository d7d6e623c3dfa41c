"""Native XGBoost and LightGBM Boosters (their own model files, or a pickled raw Booster) as a ``Model``.

A raw Booster has no scikit-learn face (no ``classes_``, no ``predict_proba``): ``BoosterAdapter`` gives
it one from the objective the file stores, and the Booster itself goes to TreeSHAP, which reads it.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xai_cli.errors import InputError, UsageError
from xai_cli.models.base import Model, ModelKind, OutputSpace

# LightGBM names the columns of a model trained on an array Column_0, Column_1, ...: no real names.
_LIGHTGBM_DEFAULT_NAME = re.compile(r"Column_\d+")


@dataclass
class BoosterAdapter:
    """A raw Booster behind the methods the tool calls: ``predict_proba``, ``decision_function``,
    ``predict``. ``library`` is 'xgboost' or 'lightgbm'; ``kind`` comes from the objective."""

    booster: Any
    library: str
    objective: str
    kind: ModelKind
    n_classes: int
    feature_names: list[str] | None
    n_features: int

    def _run(self, X: Any, *, margin: bool) -> np.ndarray:
        data = np.asarray(X, dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.library == "xgboost":
                import xgboost as xgb

                matrix = xgb.DMatrix(data, feature_names=self.booster.feature_names)
                result = self.booster.predict(matrix, output_margin=margin)
            else:
                result = self.booster.predict(data, raw_score=margin)
        return np.asarray(result, dtype=float)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class (a binary model's P(1) becomes ``1-p, p``)."""
        if self.kind != "classifier":
            raise UsageError(
                f"{self.library} {self.objective} is a regression model: it has no probabilities"
            )
        if self.objective == "multi:softmax":  # its predict gives labels; the probabilities are the softmax
            margin = self._run(X, margin=True).reshape(len(X), -1)
            exp = np.exp(margin - margin.max(axis=1, keepdims=True))
            return exp / exp.sum(axis=1, keepdims=True)
        values = self._run(X, margin=False).reshape(len(X), -1)
        return np.hstack([1.0 - values, values]) if values.shape[1] == 1 else values

    def decision_function(self, X: Any) -> np.ndarray:
        """The margin (log-odds for binary, per-class scores for multi-class) before the link."""
        return self._run(X, margin=True)

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (0..k-1) for a classifier, the Booster's own output for any other objective."""
        if self.kind == "classifier":
            return np.argmax(self.predict_proba(X), axis=1)
        return self._run(X, margin=False)


def xgboost_from_file(path: Path, *, sha256: str, file_format: str) -> Model:
    """Load an XGBoost ``.json`` / ``.ubj`` model file (Booster or XGBClassifier/XGBRegressor.save_model)."""
    import xgboost as xgb

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            booster = xgb.Booster(model_file=str(path))
    except xgb.core.XGBoostError as exc:
        raise InputError(f"{path}: not a readable XGBoost model file ({_first_line(exc)})") from exc
    return from_booster(booster, path=path, sha256=sha256, file_format=file_format)


def lightgbm_from_file(path: Path, *, sha256: str, file_format: str) -> Model:
    """Load a LightGBM text model file (``Booster.save_model`` / ``model_to_string``)."""
    import lightgbm as lgb

    try:
        booster = lgb.Booster(model_file=str(path))
    except lgb.basic.LightGBMError as exc:
        raise InputError(f"{path}: not a readable LightGBM model file ({_first_line(exc)})") from exc
    return from_booster(booster, path=path, sha256=sha256, file_format=file_format)


def is_raw_booster(obj: object) -> bool:
    """True for an ``xgboost.core.Booster`` or a ``lightgbm.basic.Booster``."""
    return (type(obj).__module__, type(obj).__name__) in {
        ("xgboost.core", "Booster"),
        ("lightgbm.basic", "Booster"),
    }


def from_booster(booster: Any, *, path: Path, sha256: str, file_format: str) -> Model:
    """Wrap a raw XGBoost or LightGBM Booster; TreeSHAP gets the Booster itself."""
    adapter = _xgboost_adapter(booster) if type(booster).__module__.startswith("xgboost") else None
    adapter = adapter or _lightgbm_adapter(booster, path)
    classes = list(range(adapter.n_classes)) if adapter.kind == "classifier" else None
    details: dict[str, Any] = {"objective": adapter.objective}
    # shap 0.51 reads one intercept for all classes of an XGBoost >= 3.1 multi-class Booster, and only one
    # output of a LightGBM multi-class Booster: its TreeSHAP values would not add up, so exact or sampled
    # Shapley values (with their error reported) are computed instead.
    multi_class = adapter.kind == "classifier" and adapter.n_classes > 2
    if multi_class:
        details["tree_shap"] = (
            "not used for a multi-class Booster (shap misreads it); exact or sampled instead"
        )

    def predict(X: pd.DataFrame, output: OutputSpace) -> np.ndarray:
        if output == "probability":
            return adapter.predict_proba(X)
        if output == "raw":
            return adapter.decision_function(X)
        return adapter.predict(X)

    return Model(
        path=path,
        sha256=sha256,
        format=file_format,
        framework=adapter.library,
        kind=adapter.kind,
        classes=classes,
        feature_names=adapter.feature_names,
        n_features=adapter.n_features,
        estimator=adapter,
        predict_fn=predict,
        has_raw_output=True,
        tree_estimator=None if multi_class else booster,
        architecture=f"{adapter.library} Booster",
        details=details,
    )


def _xgboost_adapter(booster: Any) -> BoosterAdapter:
    config = json.loads(booster.save_config())["learner"]
    objective = str(config["objective"]["name"])
    n_classes = int(config["learner_model_param"].get("num_class", "0") or 0)
    kind: ModelKind = "regressor"
    if objective == "binary:logistic":
        kind, n_classes = "classifier", 2
    elif objective.startswith("multi:") and n_classes >= 2:
        kind = "classifier"
    attributes = booster.attributes().get("scikit_learn")
    if attributes and json.loads(attributes).get("_estimator_type") == "regressor":
        kind = "regressor"
    names = booster.feature_names
    return BoosterAdapter(
        booster=booster,
        library="xgboost",
        objective=objective,
        kind=kind,
        n_classes=n_classes if kind == "classifier" else 0,
        feature_names=[str(n) for n in names] if names else None,
        n_features=int(booster.num_features()),
    )


def _lightgbm_adapter(booster: Any, path: Path) -> BoosterAdapter:
    dump = booster.dump_model(num_iteration=0)
    objective = str(dump.get("objective", "")).split(" ")[0]
    n_classes = int(dump.get("num_class", 1))
    kind: ModelKind = "regressor"
    if objective == "binary":
        kind, n_classes = "classifier", 2
    elif objective in ("multiclass", "multiclassova") and n_classes >= 2:
        kind = "classifier"
    if dump.get("pandas_categorical"):
        raise InputError(
            f"{path}: the LightGBM model has pandas category columns, which this version does not "
            "explain yet; retrain it on numeric columns"
        )
    names = [str(n) for n in booster.feature_name()]
    real_names = names if not all(_LIGHTGBM_DEFAULT_NAME.fullmatch(n) for n in names) else None
    return BoosterAdapter(
        booster=booster,
        library="lightgbm",
        objective=objective,
        kind=kind,
        n_classes=n_classes if kind == "classifier" else 0,
        feature_names=real_names,
        n_features=int(booster.num_feature()),
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
