"""SHAP attributions: picks the exact algorithm the model allows, keyed by the user's raw columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xai_cli.data.codes import CategoryCodec
from xai_cli.errors import UsageError
from xai_cli.methods.results import ExplainResult
from xai_cli.methods.shapley import (
    ShapleyValues,
    additive_shapley,
    exact_shapley,
    pairs_per_background_row,
    permutation_shapley,
)
from xai_cli.methods.targets import resolve_targets, target_label
from xai_cli.models.base import Model, OutputSpace

ALGORITHMS = ("auto", "tree", "linear", "exact", "permutation")
# Orders sampled per explained row by the permutation algorithm, at most: (M - 1) model rows each, so
# 1024 orders of 30 columns cost 29,696 model rows per row, under a third of shap.KernelExplainer's
# default budget with a 50-row background (benchmarks/README.md).
DEFAULT_PERMUTATIONS = 1024
# A row stops sampling once its relative standard error (mean standard error over mean |attribution|)
# is at most this; a model with at most pairwise interactions stops after the first round, exact.
DEFAULT_TOLERANCE = 0.01
# A fixed-budget run (tolerance 0) whose relative standard error exceeds this says so in the notes.
NOTED_RELATIVE_ERROR = 0.05
# 2^10 coalitions x 100 background rows = 102,400 model rows per explained row: still seconds for 100 rows.
EXACT_MAX_FEATURES = 10
# Enumerating every coalition of a tree model within this many tree traversals (about 0.1 s) is exact and
# cheaper than TreeSHAP, whose import of shap alone takes 0.4-0.6 s (measured, benchmarks/README.md).
SMALL_TREE_TRAVERSALS = 2_000_000
# TreeSHAP's values must sum to the model's own prediction within this, or another algorithm is used:
# shap sums float32 leaves in float64, a few ulps of float32 on margins of order 10.
TREE_ADDITIVITY = 1e-6
# Tree ensembles whose stored leaf values are already class probabilities (shap's "raw" output).
PROBABILITY_LEAF_TREES = frozenset(
    {
        "DecisionTreeClassifier",
        "ExtraTreeClassifier",
        "RandomForestClassifier",
        "ExtraTreesClassifier",
    }
)


@dataclass(frozen=True)
class ShapOptions:
    """Settings of a SHAP run."""

    algorithm: str = "auto"
    output: OutputSpace | None = None
    target: str | None = None
    n_permutations: int = DEFAULT_PERMUTATIONS
    tolerance: float = DEFAULT_TOLERANCE
    seed: int = 0


@dataclass(frozen=True)
class TabularFunction:
    """The model as a function of an encoded matrix, with each raw column's encoded columns."""

    encode: Callable[[pd.DataFrame], np.ndarray]
    groups: tuple[np.ndarray, ...]
    evaluate: Callable[[np.ndarray], np.ndarray]
    encoding: str


def tabular_function(model: Model, output: OutputSpace, frames: Sequence[pd.DataFrame]) -> TabularFunction:
    """Prefer the model's column-separable encoded view (checked on a few rows); else category codes."""
    view = model.encoded_view
    if view is not None:
        sample = frames[0].head(8)
        try:
            matches = np.allclose(view.predict(view.encode(sample), output), model.predict(sample, output))
        except Exception:
            matches = False
        if matches:
            return TabularFunction(
                view.encode, view.groups, lambda Z: view.predict(Z, output), "pipeline-encoder"
            )
    codec = CategoryCodec(frames, model.categorical_columns)
    groups = tuple(np.array([i]) for i in range(len(codec.columns)))
    return TabularFunction(
        codec.encode, groups, lambda Z: model.predict(codec.decode(Z), output), "raw-columns"
    )


def choose_algorithm(
    model: Model, output: OutputSpace, n_features: int, requested: str, n_rows: int = 1, n_background: int = 1
) -> str:
    """The algorithm to run: the one requested, or the exact one the model allows (the cheapest, for a
    tiny tree model, whose coalitions all cost less to enumerate than loading shap)."""
    if requested not in ALGORITHMS:
        raise UsageError(f"--algorithm {requested}: expected one of {', '.join(ALGORITHMS)}")
    tree_ok = (
        model.tree_estimator is not None
        # Category columns reach the tree as numbers only through a Pipeline's one-to-one encoder.
        and (not model.categorical_columns or model.tree_input_view is not None)
        # shap reads HistGradientBoosting's category bitsets as numeric thresholds.
        and not np.any(getattr(model.tree_estimator, "is_categorical_", None))
    )
    linear_ok = model.linear_in_inputs and output in ("raw", "value")
    if requested == "tree" and not tree_ok:
        raise UsageError(
            "--algorithm tree needs a tree ensemble over numeric columns, bare or after column-wise steps "
            "(scalers, ordinal encoders, imputers); use exact or permutation"
        )
    if requested == "tree" and not tree_exact_in(model, output) and len(model.classes or ()) > 2:
        raise UsageError(
            f"--algorithm tree: TreeSHAP is exact only in a boosted model's margin, not in its "
            f"probabilities (a softmax of the margin); use --output raw --algorithm tree "
            f"(per-class scores), or --algorithm exact (up to {EXACT_MAX_FEATURES} columns) or permutation"
        )
    if requested == "linear" and not linear_ok:
        raise UsageError(
            "--algorithm linear needs a linear model explained in its own units "
            "(--output raw for classifiers)"
        )
    if requested != "auto":
        return requested
    if (
        tree_ok
        and tree_exact_in(model, output)
        and not _small_tree(model.tree_estimator, n_features, n_rows, n_background)
    ):
        return "tree"
    if linear_ok:
        return "linear"
    return "exact" if n_features <= EXACT_MAX_FEATURES else "permutation"


def tree_exact_in(model: Model, output: OutputSpace) -> bool:
    """Whether TreeSHAP's values in ``output`` are exact Shapley values: the sum of the trees' leaves is
    the margin, so they are for raw outputs and values, and for probabilities only when the leaves are
    probabilities (forests). A boosted model's probability is a sigmoid or softmax of the margin, whose
    Shapley values no tree algorithm gives: shap rescales the margin's values (additive for a sigmoid,
    not exact) or, for a softmax, misses additivity (by 0.43 on a 3-class LightGBM model)."""
    return output != "probability" or type(model.tree_estimator).__name__ in PROBABILITY_LEAF_TREES


def _small_tree(estimator: object, n_features: int, n_rows: int, n_background: int) -> bool:
    """True when enumerating all 2^M coalitions costs under SMALL_TREE_TRAVERSALS tree traversals."""
    trees = getattr(estimator, "n_estimators", None) or getattr(estimator, "n_iter_", None) or 1
    return 2**n_features * n_background * n_rows * int(trees) <= SMALL_TREE_TRAVERSALS


def explain_shap(
    model: Model, X: pd.DataFrame, background: pd.DataFrame, rows: Sequence[int], options: ShapOptions
) -> ExplainResult:
    """Interventional SHAP values of ``X``'s rows against ``background``, one target per row."""
    output = options.output or model.default_output()
    if output == "raw" and model.kind == "classifier" and not model.has_raw_output:
        raise UsageError(f"{type(model.estimator).__name__} has no margin output; use --output probability")
    feature_names = list(X.columns)
    algorithm = choose_algorithm(
        model, output, len(feature_names), options.algorithm, len(X), len(background)
    )
    default_space = "probability" if model.kind == "classifier" else "value"
    probabilities = model.predict(X, default_space)
    # The tree path reuses this prediction when it is already in the output space explained.
    known_prediction = probabilities if output == default_space else None
    targets = resolve_targets(model, options.target, probabilities)
    settings: dict[str, object] = {"background_rows": len(background)}
    notes: list[str] = []
    shapley: ShapleyValues | None = None
    if algorithm == "tree":
        shapley = _checked_tree_shap(model, X, background, output, known_prediction, options, notes, settings)
        if shapley is None:
            algorithm = "exact" if len(feature_names) <= EXACT_MAX_FEATURES else "permutation"
            notes[-1] += f"; used {algorithm} instead"
    if shapley is None:
        function = tabular_function(model, output, [X, background])
        encoded_rows, encoded_background = function.encode(X), function.encode(background)
        settings["encoding"] = function.encoding
        if algorithm == "linear":
            shapley = additive_shapley(function.evaluate, encoded_rows, encoded_background, function.groups)
        elif algorithm == "exact":
            settings["coalitions"] = 2 ** len(feature_names)
            shapley = exact_shapley(function.evaluate, encoded_rows, encoded_background, function.groups)
        else:
            pairs = pairs_per_background_row(options.n_permutations, len(background))
            settings["permutations"] = 2 * pairs * len(background)
            settings["orders_per_background_row"] = 2 * pairs
            settings["tolerance"] = options.tolerance
            seeds = [options.seed * 1_000_003 + row for row in rows]
            shapley = permutation_shapley(
                function.evaluate,
                encoded_rows,
                encoded_background,
                function.groups,
                options.n_permutations,
                seeds,
                tolerance=options.tolerance,
                targets=targets,
            )
    index = np.arange(len(rows))
    target_array = np.asarray(targets)
    details = []
    if shapley.standard_error is not None:
        details, sampling_notes = _sampling_report(shapley, index, target_array, options, settings)
        notes.extend(sampling_notes)
    return ExplainResult(
        method="shap",
        algorithm=algorithm,
        output=output,
        feature_names=feature_names,
        rows=list(rows),
        targets=[target_label(model, t) for t in targets],
        target_indices=targets,
        values=shapley.values[index, :, target_array],
        base_values=np.broadcast_to(shapley.base, (len(rows), shapley.base.shape[-1]))[index, target_array],
        predictions=shapley.prediction[index, target_array],
        feature_values=X,
        settings=settings,
        row_details=details,
        notes=notes,
    )


def _sampling_report(
    shapley: ShapleyValues,
    index: np.ndarray,
    targets: np.ndarray,
    options: ShapOptions,
    settings: dict[str, object],
) -> tuple[list[dict[str, object]], list[str]]:
    """Per-row sampling figures (orders used, standard errors) of the permutation algorithm, the run's
    summary in ``settings``, and a note when the sampling error is larger than asked (or, at a fixed
    budget, large)."""
    assert shapley.standard_error is not None
    assert shapley.permutations is not None and shapley.relative_error is not None
    errors = shapley.standard_error[index, :, targets]
    values = np.abs(shapley.values[index, :, targets])
    used = shapley.permutations
    details: list[dict[str, object]] = [
        {"max_standard_error": float(e.max()), "relative_standard_error": float(r), "permutations": int(n)}
        for e, r, n in zip(errors, shapley.relative_error, used, strict=True)
    ]
    scale = float(values.mean())
    # Estimated mean |error| / mean |value| (the mean absolute error of a normal estimate is ~0.8 SE).
    relative = float(errors.mean() / scale) if scale > 0 else 0.0
    settings["relative_standard_error"] = relative
    settings["mean_permutations_used"] = float(np.mean(used)) if len(used) else 0.0
    notes: list[str] = []
    wanted = options.tolerance if options.tolerance > 0 else NOTED_RELATIVE_ERROR
    if relative > wanted:
        asked = f"{options.tolerance:g} asked" if options.tolerance > 0 else "a fixed budget"
        notes.append(
            f"sampling error: the attributions' standard error is {relative:.1%} of their mean size "
            f"({asked}) after at most {settings['permutations']} orders per row; "
            f"--permutations {4 * options.n_permutations} would about halve it"
        )
    return details, notes


def _checked_tree_shap(
    model: Model,
    X: pd.DataFrame,
    background: pd.DataFrame,
    output: OutputSpace,
    prediction: np.ndarray | None,
    options: ShapOptions,
    notes: list[str],
    settings: dict[str, object],
) -> ShapleyValues | None:
    """TreeSHAP's values, or None (with a note) when shap cannot read the model or its values miss
    additivity by more than TREE_ADDITIVITY (a regressor whose output is a link of the margin, such as
    a Poisson objective): an algorithm called exact is exact. ``--algorithm tree`` raises instead."""
    try:
        shapley, tree_output, tree_notes = _tree_shap(model, X, background, output, prediction)
    except Exception as exc:
        if options.algorithm == "tree":
            raise UsageError(f"shap's TreeExplainer cannot read this model: {exc}") from exc
        notes.append(f"TreeExplainer could not read the model ({exc})")
        return None
    error = float(np.max(np.abs(shapley.values.sum(axis=1) + shapley.base - shapley.prediction), initial=0))
    if error > TREE_ADDITIVITY:
        reason = (
            f"TreeSHAP's values miss the model's own {output} output by up to {error:.3g} (shap's reading "
            "of the trees, or an output that transforms their sum, differs from the model's arithmetic)"
        )
        if options.algorithm == "tree":
            raise UsageError(f"--algorithm tree: {reason}; use --algorithm exact or permutation")
        notes.append(reason)
        return None
    notes.extend(tree_notes)
    settings["tree_model_output"] = tree_output
    return shapley


def _tree_shap(
    model: Model,
    X: pd.DataFrame,
    background: pd.DataFrame,
    output: OutputSpace,
    prediction: np.ndarray | None = None,
) -> tuple[ShapleyValues, str, list[str]]:
    """shap's interventional TreeExplainer on the sum of the trees' leaves (raw output), which is the
    requested output wherever ``tree_exact_in`` holds; also shap's output name used."""
    from xai_cli.methods.treeshap import tree_shap

    estimator = model.tree_estimator
    notes = []
    tree_output = "raw"
    if not tree_exact_in(model, output):
        # Only when asked for by name, on a binary model (choose_algorithm refuses a softmax).
        tree_output = "probability"
        notes.append(
            "shap's TreeExplainer turns this model's log-odds attributions into probabilities by "
            "rescaling them per background row: additive, but not exactly the Shapley values of the "
            "probability; --algorithm exact or permutation gives those, --output raw exact log-odds"
        )
    view = model.tree_input_view
    if view is None:
        # The one float64 copy of the explained and background rows, recoded in place (see treeshap.py).
        stacked = np.empty((len(X) + len(background), X.shape[1]))
        for position, column in enumerate(X.columns):
            stacked[: len(X), position] = X[column].to_numpy(dtype=float)
            stacked[len(X) :, position] = background[column].to_numpy(dtype=float)
    else:
        stacked = np.concatenate([view.encode(X), view.encode(background)])
    values, base, coded = tree_shap(estimator, stacked, len(X), tree_output)
    if not coded:
        notes.append("split thresholds passed to shap as they are (float32 in shap's interventional code)")
    if values.ndim == 2:
        values = values[:, :, None]
    if view is not None:
        # Each raw column's one encoded column; a column the Pipeline drops gets nothing.
        raw = np.zeros((values.shape[0], len(view.groups), values.shape[2]))
        for column, encoded in enumerate(view.groups):
            if len(encoded):
                raw[:, column] = values[:, encoded[0]]
        values = raw
    n_outputs = len(model.output_names(output))
    if values.shape[2] == 1 and n_outputs == 2:
        complement = 1.0 - base if output == "probability" else -base
        values = np.concatenate([-values, values], axis=2)
        base = np.concatenate([complement, base])
    if prediction is None:
        prediction = model.predict(X, output)
    return ShapleyValues(values, base, prediction), tree_output, notes
