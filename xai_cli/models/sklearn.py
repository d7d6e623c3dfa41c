"""scikit-learn estimators and Pipelines (and their XGBoost/LightGBM wrappers) as a ``Model``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xai_cli.errors import InputError, UsageError
from xai_cli.models.base import EncodedView, Model, OutputSpace, as_output_columns

# Transformers that map each input column to exactly one output column, on its own.
ONE_TO_ONE_TRANSFORMERS = frozenset(
    {
        "StandardScaler",
        "MinMaxScaler",
        "MaxAbsScaler",
        "RobustScaler",
        "PowerTransformer",
        "QuantileTransformer",
        "OrdinalEncoder",
        "Binarizer",
    }
)
CATEGORY_ENCODERS = frozenset({"OneHotEncoder", "OrdinalEncoder", "TargetEncoder"})
TREE_MODULE_PREFIXES = ("sklearn.tree", "sklearn.ensemble", "xgboost", "lightgbm")
TREE_CLASS_NAMES = frozenset(
    {
        "DecisionTreeClassifier",
        "DecisionTreeRegressor",
        "ExtraTreeClassifier",
        "ExtraTreeRegressor",
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
        "GradientBoostingClassifier",
        "GradientBoostingRegressor",
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
        "XGBClassifier",
        "XGBRegressor",
        "LGBMClassifier",
        "LGBMRegressor",
    }
)


def _unwrap_search(estimator: Any) -> Any:
    """A fitted GridSearchCV/RandomizedSearchCV stands for its best estimator."""
    best = getattr(estimator, "best_estimator_", None)
    return best if best is not None else estimator


def _booster_margin_option(final: Any) -> str | None:
    """The predict keyword that makes an XGBoost or LightGBM wrapper return its margin (the sum of its
    trees: log-odds, or per-class scores before the softmax); they have no decision_function."""
    module = type(final).__module__
    if module.startswith("xgboost"):
        return "output_margin"
    if module.startswith("lightgbm"):
        return "raw_score"
    return None


def _has_margin(estimator: Any, final: Any) -> bool:
    return hasattr(estimator, "decision_function") or _booster_margin_option(final) is not None


def _margin(estimator: Any, final: Any, data: Any) -> Any:
    """The classifier's margin: decision_function, or a booster wrapper's raw predict (a Pipeline passes
    the keyword to its final step)."""
    option = _booster_margin_option(final)
    if option is not None:
        return estimator.predict(data, **{option: True})
    return estimator.decision_function(data)


def _is_pipeline(estimator: Any) -> bool:
    return type(estimator).__name__ == "Pipeline" and hasattr(estimator, "steps")


def from_estimator(estimator: Any, *, path: Path, sha256: str, file_format: str) -> Model:
    """Wrap a fitted scikit-learn-compatible estimator; refuse objects that cannot predict."""
    from sklearn.base import is_classifier, is_regressor

    estimator = _unwrap_search(estimator)
    if not hasattr(estimator, "predict"):
        raise InputError(
            f"{path}: the file holds a {type(estimator).__name__}, not a model with a predict method; "
            "save the fitted estimator or Pipeline itself"
        )
    final = estimator.steps[-1][1] if _is_pipeline(estimator) else estimator
    if is_classifier(estimator) or (hasattr(final, "predict_proba") and hasattr(final, "classes_")):
        kind = "classifier"
    elif is_regressor(estimator) or hasattr(final, "predict"):
        kind = "regressor"
    if kind == "classifier" and not hasattr(estimator, "predict_proba"):
        raise InputError(
            f"{path}: {type(final).__name__} gives no probabilities (no predict_proba); "
            "refit it with probability estimates enabled (e.g. SVC(probability=True))"
        )
    classes = list(estimator.classes_) if kind == "classifier" else None
    names = getattr(estimator, "feature_names_in_", None)
    feature_names = [str(n) for n in names] if names is not None else None
    n_features = getattr(estimator, "n_features_in_", None)
    has_raw = _has_margin(estimator, final) if kind == "classifier" else True

    def predict(X: pd.DataFrame, output: OutputSpace) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = X if feature_names is not None else X.to_numpy()
            if output == "probability":
                return estimator.predict_proba(data)
            if output == "raw" and kind == "classifier":
                if not has_raw:
                    raise UsageError(
                        f"{type(final).__name__} has no margin output (decision_function); "
                        "use --output probability"
                    )
                return _margin(estimator, final, data)
            return estimator.predict(data)

    view = encoded_view(estimator, feature_names) if _is_pipeline(estimator) else None
    is_tree = type(final).__name__ in TREE_CLASS_NAMES and type(final).__module__.startswith(
        TREE_MODULE_PREFIXES
    )
    is_linear = type(final).__module__.startswith("sklearn.linear_model") and hasattr(final, "coef_")
    # A tree after column-wise steps that map each raw column to one column (scalers, ordinal encoders,
    # imputers) is explained exactly by TreeSHAP on the encoded columns: a column-wise bijection changes
    # no coalition's value. A one-hot block is not: its columns would be separate players to TreeSHAP.
    tree_view = (
        view
        if is_tree and view is not None and view.additive_final and all(len(g) == 1 for g in view.groups)
        else None
    )
    return Model(
        path=path,
        sha256=sha256,
        format=file_format,
        framework="sklearn",
        kind=kind,
        classes=classes,
        feature_names=feature_names,
        n_features=n_features,
        estimator=estimator,
        predict_fn=predict,
        categorical_columns=frozenset(categorical_columns(estimator, feature_names)),
        has_raw_output=has_raw,
        encoded_view=view,
        tree_estimator=final if is_tree and (not _is_pipeline(estimator) or tree_view is not None) else None,
        tree_input_view=tree_view,
        linear_in_inputs=is_linear
        and (not _is_pipeline(estimator) or (view is not None and view.additive_final)),
    )


def categorical_columns(estimator: Any, feature_names: list[str] | None) -> set[str]:
    """Raw columns that a Pipeline routes to a category encoder (OneHot, Ordinal, Target), or that a
    bare HistGradientBoosting model treats as categorical (``categorical_features``)."""
    if feature_names is None:
        return set()
    mask = getattr(estimator, "is_categorical_", None)
    if not _is_pipeline(estimator):
        return {feature_names[i] for i in np.flatnonzero(mask)} if mask is not None else set()
    first = estimator.steps[0][1]
    if type(first).__name__ != "ColumnTransformer":
        return set()
    return {column for column, _ in _encoder_inputs(first, feature_names)}


def text_category_columns(estimator: Any, feature_names: list[str] | None) -> set[str]:
    """Categorical columns whose encoder learned text categories: a file value read as a number
    (a category '5', an empty column) must reach it as text, as it did when the model was fitted."""
    if feature_names is None:
        return set()
    if _is_pipeline(estimator):
        encoder_owner = estimator.steps[0][1]
    else:
        encoder_owner = getattr(estimator, "_preprocessor", None)  # HistGradientBoosting's own encoder
    if type(encoder_owner).__name__ != "ColumnTransformer":
        return set()
    return {
        column
        for column, categories in _encoder_inputs(encoder_owner, feature_names)
        if categories is not None and any(isinstance(value, str) for value in categories)
    }


def _encoder_inputs(transformer: Any, feature_names: list[str]) -> list[tuple[str, Any]]:
    """(raw column, the categories its encoder learned, when known) for each column that a fitted
    ColumnTransformer routes to a category encoder."""
    found: list[tuple[str, Any]] = []
    for name, sub, _ in transformer.transformers_:
        steps = sub.steps if _is_pipeline(sub) else [(name, sub)]
        encoders = [step for _, step in steps if type(step).__name__ in CATEGORY_ENCODERS]
        if not encoders:
            continue
        indices = transformer._transformer_to_input_indices.get(name, [])
        learned = getattr(encoders[0], "categories_", None)
        for local, raw in enumerate(indices):
            categories = learned[local] if learned is not None and local < len(learned) else None
            found.append((feature_names[raw], categories))
    return found


def _column_map(transformer: Any, n_inputs: int) -> list[list[int]] | None:
    """For each input column of a fitted transformer, the output columns that depend on it alone.

    None when the transformer mixes columns (PCA, polynomial features, a custom function) or its
    layout cannot be read reliably.
    """
    name = type(transformer).__name__
    if isinstance(transformer, str):
        return (
            [[i] for i in range(n_inputs)] if transformer == "passthrough" else [[] for _ in range(n_inputs)]
        )
    if _is_pipeline(transformer):
        mapping = [[i] for i in range(n_inputs)]
        for _, step in transformer.steps:
            if step is None or step == "passthrough":
                continue
            step_map = _column_map(step, max((j + 1 for cols in mapping for j in cols), default=0))
            if step_map is None:
                return None
            mapping = [sorted(o for j in cols for o in step_map[j]) for cols in mapping]
        return mapping
    if name == "ColumnTransformer":
        mapping: list[list[int]] = [[] for _ in range(n_inputs)]
        for tname, sub, _ in transformer.transformers_:
            indices = transformer._transformer_to_input_indices.get(tname, [])
            if sub == "drop" or not indices:
                continue
            out = transformer.output_indices_[tname]
            sub_map = _column_map(sub, len(indices))
            if sub_map is None:
                return None
            width = out.stop - out.start
            if max((j + 1 for cols in sub_map for j in cols), default=0) > width:
                return None
            for local, raw in enumerate(indices):
                mapping[raw].extend(out.start + j for j in sub_map[local])
        return mapping
    if name == "OneHotEncoder":
        widths = getattr(transformer, "_n_features_outs", None)
        if widths is None or len(widths) != n_inputs:
            return None
        starts = np.concatenate([[0], np.cumsum(widths)])
        return [list(range(starts[i], starts[i + 1])) for i in range(n_inputs)]
    if name == "SimpleImputer":
        if getattr(transformer, "add_indicator", False):
            return None
        stats = np.asarray(transformer.statistics_, dtype=object)
        dropped = [
            not getattr(transformer, "keep_empty_features", False) and isinstance(s, float) and np.isnan(s)
            for s in stats
        ]
        if any(dropped):
            return None
        return [[i] for i in range(n_inputs)]
    if name in ONE_TO_ONE_TRANSFORMERS:
        return [[i] for i in range(n_inputs)]
    return None


def encoded_view(pipeline: Any, feature_names: list[str] | None) -> EncodedView | None:
    """Split a Pipeline after its longest column-separable prefix of steps, if there is one."""
    n_raw = len(feature_names) if feature_names is not None else getattr(pipeline, "n_features_in_", None)
    if n_raw is None:
        return None
    mapping = [[i] for i in range(n_raw)]
    consumed = 0
    for _, step in pipeline.steps[:-1]:
        if step is None or step == "passthrough":
            consumed += 1
            continue
        width = max((j + 1 for cols in mapping for j in cols), default=0)
        step_map = _column_map(step, width if consumed else n_raw)
        if step_map is None:
            break
        mapping = [sorted(o for j in cols for o in step_map[j]) for cols in mapping]
        consumed += 1
    if consumed == 0:
        return None
    encoder = pipeline[:consumed]
    rest = pipeline[consumed:]
    final = pipeline.steps[-1][1]
    additive_final = consumed == len(pipeline.steps) - 1

    def encode(X: pd.DataFrame) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            encoded = encoder.transform(X if feature_names is not None else X.to_numpy())
        if hasattr(encoded, "toarray"):
            encoded = encoded.toarray()
        return np.asarray(encoded, dtype=float)

    def predict(Z: np.ndarray, output: OutputSpace) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if output == "probability":
                result = rest.predict_proba(Z)
            elif output == "raw" and _has_margin(rest, final):
                result = _margin(rest, final, Z)
            else:
                result = rest.predict(Z)
        return as_output_columns(
            result, len(Z), output, "classifier" if hasattr(final, "classes_") else "regressor"
        )

    return EncodedView(
        encode=encode,
        groups=tuple(np.asarray(cols, dtype=int) for cols in mapping),
        predict=predict,
        final_estimator=final,
        additive_final=additive_final,
    )
