"""LIME attributions through lime's tabular explainer, seeded per row, categories kept as categories."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

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

    def predict_codes(matrix: np.ndarray) -> np.ndarray:
        result = model.predict(codec.decode(matrix), output)
        return result[:, 0] if regression else result

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
    encoded_rows = codec.encode(X)
    values = np.zeros((len(rows), len(feature_names)))
    base_values = np.zeros(len(rows))
    details = []
    for position, (row, target) in enumerate(zip(rows, targets, strict=True)):
        # Reseed per row so a row's explanation does not depend on which rows were explained before it.
        row_state = check_random_state(options.seed * 1_000_003 + row)
        explainer.random_state = row_state
        if explainer.discretizer is not None:
            explainer.discretizer.random_state = row_state
        label = 1 if regression else target
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            explanation = explainer.explain_instance(
                encoded_rows[position],
                predict_codes,
                labels=(label,),
                num_features=n_features,
                num_samples=options.num_samples,
            )
        conditions = dict(explanation.as_list(label=label))
        for feature_index, weight in explanation.local_exp[label]:
            values[position, feature_index] = weight
        base_values[position] = explanation.intercept[label]
        local_prediction = float(np.ravel(explanation.local_pred)[0])
        details.append(
            {
                "local_model_score": float(explanation.score),
                "local_prediction": local_prediction,
                "conditions": {
                    feature_names[i]: _condition_for(conditions, feature_names[i])
                    for i, _ in explanation.local_exp[label]
                },
            }
        )
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
        },
        row_details=details,
    )


def _condition_for(conditions: dict[str, float], feature: str) -> str:
    """lime's readable condition ('income <= 31600.00', 'region=north') for a feature."""
    for text in conditions:
        if text == feature or text.startswith(f"{feature}=") or f" {feature} " in f" {text} ":
            return text
    return feature
