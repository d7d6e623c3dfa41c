"""LIME attributions: lime's tabular algorithm, seeded per row, categories kept as categories.

Two engines give the same explanations for the same seed: ``fast`` (default) runs lime's algorithm
batched over rows (lime_batched.py), ``lime`` calls lime's ``explain_instance`` row by row.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xai_cli.data.codes import CategoryCodec
from xai_cli.methods.results import ExplainResult
from xai_cli.methods.targets import resolve_targets, target_label
from xai_cli.models.base import Model


@dataclass(frozen=True)
class LimeOptions:
    """Settings of a LIME run; ``num_features`` None means every column."""

    target: str | None = None
    num_samples: int = 5000
    num_features: int | None = None
    seed: int = 0
    engine: str = "fast"


ENGINES = ("fast", "lime")


@dataclass
class _LimeJob:
    """What both engines need: lime's fitted explainer, the encoded rows and how to call the model."""

    explainer: Any
    rows: np.ndarray  # encoded (category codes)
    feature_names: list[str]
    labels: list[int]  # the output column fitted for each row (lime's label)
    states: list[Any]  # one numpy RandomState per row
    predict: Callable[[np.ndarray], np.ndarray]  # encoded rows -> (n, outputs)
    num_samples: int
    num_features: int
    regression: bool


def explain_lime(
    model: Model, X: pd.DataFrame, background: pd.DataFrame, rows: Sequence[int], options: LimeOptions
) -> ExplainResult:
    """A weighted local linear model around each row, fitted on ``num_samples`` perturbations.

    ``base_values`` is the local model's intercept and ``values`` its weights, so ``additivity_error``
    is how far the local model misses the real prediction at the row itself.
    """
    from lime.lime_tabular import LimeTabularExplainer
    from sklearn.utils import check_random_state

    codec = CategoryCodec([background, X], model.categorical_columns)
    feature_names = list(X.columns)
    n_features = (
        len(feature_names) if options.num_features is None else min(options.num_features, len(feature_names))
    )
    output = model.default_output()
    predictions = model.predict(X, output)
    targets = resolve_targets(model, options.target, predictions)
    regression = model.kind == "regressor"
    explainer = LimeTabularExplainer(
        codec.encode(background),
        mode="regression" if regression else "classification",
        feature_names=feature_names,
        categorical_features=codec.categorical_indices,
        categorical_names={
            i: [str(c) for c in codec.categories[feature_names[i]]] for i in codec.categorical_indices
        },
        class_names=None if regression else [str(c) for c in model.classes or []],
        discretize_continuous=True,
        random_state=options.seed,
    )
    job = _LimeJob(
        explainer=explainer,
        rows=codec.encode(X),
        feature_names=feature_names,
        labels=[0] * len(targets) if regression else list(targets),
        # Reseed per row so a row's explanation does not depend on which rows were explained before it.
        states=[check_random_state(options.seed * 1_000_003 + row) for row in rows],
        predict=lambda matrix: model.predict(codec.decode(matrix), output),
        num_samples=options.num_samples,
        num_features=n_features,
        regression=regression,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if options.engine == "fast":
            values, base_values, details = _explain_batched(job)
        else:
            values, base_values, details = _explain_row_by_row(job)
    index = np.arange(len(rows))
    return ExplainResult(
        method="lime",
        algorithm="lime-tabular",
        output=output,
        feature_names=feature_names,
        rows=list(rows),
        targets=[target_label(model, t) for t in targets],
        target_indices=targets,
        values=values,
        base_values=base_values,
        predictions=predictions[index, np.asarray(targets)],
        feature_values=X,
        settings={
            "num_samples": options.num_samples,
            "num_features": n_features,
            "background_rows": len(background),
            "discretize_continuous": True,
            "engine": options.engine,
        },
        row_details=details,
    )


Explained = tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]


def _explain_batched(job: _LimeJob) -> Explained:
    """Every row through lime_batched: the model called on many rows' samples at once."""
    from xai_cli.methods.lime_batched import explain_rows

    local_models = explain_rows(
        job.explainer, job.rows, job.predict, job.labels, job.states, job.num_samples, job.num_features
    )
    details = []
    for row, local in zip(job.rows, local_models, strict=True):
        names = _condition_names(job.explainer, row, job.feature_names)
        details.append(
            {
                "local_model_score": local.score,
                "local_prediction": local.local_prediction,
                "conditions": {job.feature_names[i]: names[i] for i in local.used},
            }
        )
    values = np.stack([m.weights for m in local_models])
    return values, np.array([m.intercept for m in local_models]), details


def _condition_names(explainer: Any, row: np.ndarray, feature_names: list[str]) -> list[str]:
    """lime's readable condition per feature: its quartile bin ('income <= 31600.00') or 'region=north'."""
    discretizer = explainer.discretizer
    names = []
    for i, name in enumerate(feature_names):
        if i in discretizer.lambdas:
            names.append(discretizer.names[i][int(discretizer.lambdas[i](row[i]))])
        else:
            category = int(row[i])
            label = explainer.categorical_names[i][category] if i in explainer.categorical_names else category
            names.append(f"{name}={label}")
    return names


def _explain_row_by_row(job: _LimeJob) -> Explained:
    """lime's own ``explain_instance`` for each row (``--lime-engine lime``)."""
    n_rows, n_columns = job.rows.shape
    values = np.zeros((n_rows, n_columns))
    base_values = np.zeros(n_rows)
    details = []

    def predict_for_lime(matrix: np.ndarray) -> np.ndarray:
        result = job.predict(matrix)
        return result[:, 0] if job.regression else result

    for position, state in enumerate(job.states):
        job.explainer.random_state = state
        job.explainer.discretizer.random_state = state
        # lime stores a regressor's explanation under label 1 (a copy of label 0).
        label = 1 if job.regression else job.labels[position]
        explanation = job.explainer.explain_instance(
            job.rows[position],
            predict_for_lime,
            labels=(label,),
            num_features=job.num_features,
            num_samples=job.num_samples,
        )
        conditions = dict(explanation.as_list(label=label))
        for feature_index, weight in explanation.local_exp[label]:
            values[position, feature_index] = weight
        base_values[position] = explanation.intercept[label]
        details.append(
            {
                "local_model_score": float(explanation.score),
                "local_prediction": float(np.ravel(explanation.local_pred)[0]),
                "conditions": {
                    job.feature_names[i]: _condition_for(conditions, job.feature_names[i])
                    for i, _ in explanation.local_exp[label]
                },
            }
        )
    return values, base_values, details


def _condition_for(conditions: dict[str, float], feature: str) -> str:
    """lime's readable condition ('income <= 31600.00', 'region=north') for a feature."""
    for text in conditions:
        if text == feature or text.startswith(f"{feature}=") or f" {feature} " in f" {text} ":
            return text
    return feature
