"""Readable rules for a model: a decision tree's own rules, or those of a surrogate tree distilled from it.

Every rule is a conjunction of conditions on the user's raw columns; the leaves partition the data, and
each rule's coverage and precision are counted on the data by re-applying its conditions, so anyone who
re-applies them gets the same figures.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xai_cli.errors import InputError
from xai_cli.methods.conditions import Condition, rule_mask
from xai_cli.methods.tree_rules import NotMonotone, SplitFeature, TreeNode, tree_paths
from xai_cli.models.base import Model, to_json_scalar

SINGLE_TREES = frozenset(
    {"DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor"}
)
MIN_SURROGATE_ROWS = 10
SWAP_PROBABILITY = 0.5


@dataclass(frozen=True)
class RulesOptions:
    """Settings of ``xai rules``: the surrogate's size, augmentation and held-out share, the seed."""

    max_depth: int = 4
    min_samples_leaf: int = 5
    augment: int = 0
    holdout: float = 0.25
    seed: int = 0


@dataclass
class Rule:
    """One leaf: its conditions, what it predicts, and how it fares on the data.

    Classifiers: ``precision`` is the share of covered rows where the model predicts ``prediction``.
    Regressors: ``output_mean`` and ``output_std`` describe the model's output on the covered rows.
    Figures over no covered row are None.
    """

    conditions: list[Condition]
    prediction: Any
    support: int
    coverage: float
    precision: float | None = None
    output_mean: float | None = None
    output_std: float | None = None


@dataclass
class RulesResult:
    """Rules and where they came from (``source``: ``tree`` exactly, or ``surrogate``), with fidelity.

    ``held_out_rows``: the data rows a surrogate never saw, on which ``fidelity['held_out']`` is measured.
    """

    source: str
    reason: str
    kind: str
    feature_names: list[str]
    rules: list[Rule]
    nodes: list[TreeNode]
    depth: int
    fidelity: dict[str, Any]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    held_out_rows: list[int] = field(default_factory=list)


def extract_rules(model: Model, frame: pd.DataFrame, options: RulesOptions) -> RulesResult:
    """The model's own tree read as rules when it is one (alone or after column-wise steps), otherwise a
    surrogate tree fitted to the model's predictions on ``frame`` (plus ``options.augment`` perturbed rows).
    """
    output = model.default_output()
    outputs = model.predict(frame, output)
    found = exact_tree(model, frame)
    notes: list[str] = []
    if isinstance(found, tuple):
        tree, features = found
        try:
            paths = tree_paths(tree, features, frame)
        except NotMonotone as exc:
            found = f"a step before the tree is not monotone ({exc})"
        else:
            rules = _rule_stats(model, frame, outputs, paths.conditions, paths.leaf_values)
            fidelity = _exact_fidelity(model, frame, outputs, rules)
            settings = {
                "source": "tree",
                "max_depth": None,
                "min_samples_leaf": None,
                "augment": 0,
                "holdout": None,
                "draw_depth": options.max_depth,
            }
            if paths.depth > options.max_depth:
                notes.append(
                    f"the model's tree has depth {paths.depth}; all {len(rules)} of its leaves are reported "
                    f"(exact rules) and the drawing stops at depth {options.max_depth} (--max-depth)"
                )
            return RulesResult(
                "tree",
                "the model is a decision tree: these are its own rules, exactly",
                model.kind,
                list(frame.columns),
                rules,
                paths.nodes,
                paths.depth,
                fidelity,
                settings,
                notes,
            )
    return _surrogate_rules(model, frame, outputs, options, str(found))


def exact_tree(model: Model, frame: pd.DataFrame) -> tuple[Any, list[SplitFeature]] | str:
    """The model's decision tree and how each of its inputs comes from a raw column, or why there is none."""
    estimator = model.estimator
    name = type(estimator).__name__
    is_pipeline = name == "Pipeline" and hasattr(estimator, "steps")
    final = estimator.steps[-1][1] if is_pipeline else estimator
    final_name = type(final).__name__
    if model.framework != "sklearn" or final_name not in SINGLE_TREES:
        where = f" (in a {name})" if is_pipeline else ""
        return f"the model is a {final_name}{where}, not a single decision tree"
    if getattr(final, "n_outputs_", 1) != 1:
        return "the tree predicts several outputs at once"
    columns = list(frame.columns)
    if not is_pipeline:
        if final.n_features_in_ != len(columns):
            return "the tree's inputs do not match the data's columns"
        identity = [SplitFeature(c, False, _identity) for c in columns]
        return final, identity
    view = model.encoded_view
    if view is None or not view.additive_final:
        return "the Pipeline's steps before the tree cannot be mapped back to the raw columns"
    width = int(final.n_features_in_)
    owner = [-1] * width
    for raw_index, encoded in enumerate(view.groups):
        for j in encoded:
            if 0 <= j < width:
                owner[int(j)] = raw_index
    if min(owner, default=0) < 0:
        return "some of the tree's inputs do not come from a single raw column"
    template = frame.iloc[[0]].reset_index(drop=True)
    features = []
    for j, raw_index in enumerate(owner):
        column = columns[raw_index]
        categorical = (
            column in model.categorical_columns
            or not pd.api.types.is_numeric_dtype(frame[column])
            or len(view.groups[raw_index]) > 1
        )
        features.append(SplitFeature(column, categorical, _encoded_input(view.encode, template, column, j)))
    return final, features


def _identity(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _encoded_input(encode: Any, template: pd.DataFrame, column: str, index: int) -> Any:
    """raw values of ``column`` -> the encoder's output column ``index`` (other columns held at row 0)."""

    def forward(values: np.ndarray) -> np.ndarray:
        block = template.loc[np.zeros(len(values), dtype=int)].reset_index(drop=True)
        block[column] = pd.Series(values, dtype=object if values.dtype == object else None)
        return encode(block)[:, index]

    return forward


def _rule_stats(
    model: Model,
    frame: pd.DataFrame,
    outputs: np.ndarray,
    conditions: list[list[Condition]],
    leaf_values: list[np.ndarray],
    label_classes: np.ndarray | None = None,
) -> list[Rule]:
    """Coverage, support and precision (or output mean/spread) of each rule, re-applied to ``frame``."""
    n_rows = len(frame)
    assigned = np.zeros(n_rows, dtype=int)
    predicted = np.argmax(outputs, axis=1) if model.kind == "classifier" else None
    rules = []
    for rule_conditions, leaf in zip(conditions, leaf_values, strict=True):
        mask = rule_mask(rule_conditions, frame)
        assigned += mask
        support = int(mask.sum())
        if model.kind == "classifier":
            assert model.classes is not None and predicted is not None
            tree_classes = label_classes if label_classes is not None else np.arange(len(model.classes))
            class_position = int(tree_classes[int(np.argmax(leaf))])
            rules.append(
                Rule(
                    rule_conditions,
                    to_json_scalar(model.classes[class_position]),
                    support,
                    support / n_rows,
                    precision=float(np.mean(predicted[mask] == class_position)) if support else None,
                )
            )
        else:
            values = outputs[mask, 0]
            rules.append(
                Rule(
                    rule_conditions,
                    float(leaf[0]),
                    support,
                    support / n_rows,
                    output_mean=float(values.mean()) if support else None,
                    output_std=float(values.std()) if support else None,
                )
            )
    if not np.all(assigned == 1):
        row = int(np.flatnonzero(assigned != 1)[0])
        raise RuntimeError(f"internal error: data row {row} matches {assigned[row]} rules instead of one")
    return rules


def rule_predictions(rules: list[Rule], frame: pd.DataFrame) -> list[Any]:
    """Each row's prediction by the one rule that covers it."""
    result: list[Any] = [None] * len(frame)
    for rule in rules:
        for row in np.flatnonzero(rule_mask(rule.conditions, frame)):
            result[int(row)] = rule.prediction
    return result


def _exact_fidelity(
    model: Model, frame: pd.DataFrame, outputs: np.ndarray, rules: list[Rule]
) -> dict[str, Any]:
    """Agreement of the rules with the model on every data row (1.0 when they are the model's own)."""
    predicted_by_rules = rule_predictions(rules, frame)
    if model.kind == "classifier":
        assert model.classes is not None
        labels = [to_json_scalar(model.classes[i]) for i in np.argmax(outputs, axis=1)]
        agreement = float(np.mean([a == b for a, b in zip(labels, predicted_by_rules, strict=True)]))
        metric = "accuracy"
    else:
        agreement = _r2(outputs[:, 0], np.asarray(predicted_by_rules, dtype=float))
        metric = "r2"
    return {
        "metric": metric,
        "exact": True,
        "held_out": None,
        "in_sample": None,
        "on_data": agreement,
        "held_out_rows": 0,
        "in_sample_rows": 0,
        "description": "the rules are the model's own tree; on_data is their agreement with the model on "
        "every data row",
    }


def _r2(truth: np.ndarray, guess: np.ndarray) -> float | None:
    """R² of ``guess`` against ``truth``; None when ``truth`` does not vary."""
    spread = float(np.sum((truth - truth.mean()) ** 2))
    if spread == 0.0:
        return None
    return 1.0 - float(np.sum((truth - guess) ** 2)) / spread


def _surrogate_rules(
    model: Model, frame: pd.DataFrame, outputs: np.ndarray, options: RulesOptions, reason: str
) -> RulesResult:
    """Fit a surrogate tree on a seeded training split (plus perturbed rows), score it on the rest."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    n_rows = len(frame)
    if n_rows < MIN_SURROGATE_ROWS:
        raise InputError(
            f"the data has {n_rows} rows; a surrogate tree needs at least {MIN_SURROGATE_ROWS} "
            "(some are held out to measure its fidelity)"
        )
    rng = np.random.default_rng(options.seed)
    order = rng.permutation(n_rows)
    n_held_out = min(n_rows - 1, max(1, round(n_rows * options.holdout)))
    held_out = np.sort(order[:n_held_out])
    training = np.sort(order[n_held_out:])
    train_frame = frame.iloc[training].reset_index(drop=True)
    train_outputs = outputs[training]
    if options.augment > 0:
        extra = perturbed_rows(train_frame, options.augment, rng)
        train_frame = pd.concat([train_frame, extra], ignore_index=True)
        train_outputs = np.vstack([train_outputs, model.predict(extra, model.default_output())])
    score = _ordering_score(model, train_outputs)
    encoding = SurrogateEncoding(frame, model.categorical_columns, train_frame, score)
    fit_matrix = encoding.encode(train_frame)
    held_matrix = encoding.encode(frame.iloc[held_out].reset_index(drop=True))
    if model.kind == "classifier":
        train_labels = np.argmax(train_outputs, axis=1)
        held_labels = np.argmax(outputs[held_out], axis=1)
        surrogate: Any = DecisionTreeClassifier(
            max_depth=options.max_depth, min_samples_leaf=options.min_samples_leaf, random_state=options.seed
        )
        surrogate.fit(fit_matrix, train_labels)
        held_score: float | None = float(np.mean(surrogate.predict(held_matrix) == held_labels))
        in_sample: float | None = float(np.mean(surrogate.predict(fit_matrix) == train_labels))
        metric = "accuracy"
    else:
        surrogate = DecisionTreeRegressor(
            max_depth=options.max_depth, min_samples_leaf=options.min_samples_leaf, random_state=options.seed
        )
        surrogate.fit(fit_matrix, train_outputs[:, 0])
        held_score = _r2(outputs[held_out, 0], surrogate.predict(held_matrix))
        in_sample = _r2(train_outputs[:, 0], surrogate.predict(fit_matrix))
        metric = "r2"
    paths = tree_paths(surrogate, encoding.features, frame)
    label_classes = getattr(surrogate, "classes_", None)
    rules = _rule_stats(model, frame, outputs, paths.conditions, paths.leaf_values, label_classes)
    on_data = _surrogate_on_data(model, frame, outputs, rules)
    notes = [f"{reason}: the rules come from a surrogate decision tree distilled from its predictions"]
    if held_score is None:
        notes.append("the model's output does not vary on the held-out rows, so held-out R² is undefined")
    fidelity = {
        "metric": metric,
        "exact": False,
        "held_out": held_score,
        "in_sample": in_sample,
        "on_data": on_data,
        "held_out_rows": int(n_held_out),
        "in_sample_rows": len(train_frame),
        "description": f"held_out: {metric} of the surrogate against the model on {n_held_out} data rows "
        f"it never saw (drawn with seed {options.seed}); in_sample: on the {len(train_frame)} rows it was "
        f"fitted on ({len(training)} data rows + {options.augment} perturbed rows); on_data: on all data "
        "rows",
    }
    settings = {
        "source": "surrogate",
        "max_depth": options.max_depth,
        "min_samples_leaf": options.min_samples_leaf,
        "augment": options.augment,
        "holdout": options.holdout,
        "draw_depth": options.max_depth,
        "category_order": encoding.order_description,
    }
    return RulesResult(
        "surrogate",
        reason,
        model.kind,
        list(frame.columns),
        rules,
        paths.nodes,
        paths.depth,
        fidelity,
        settings,
        notes,
        [int(r) for r in held_out],
    )


def _surrogate_on_data(
    model: Model, frame: pd.DataFrame, outputs: np.ndarray, rules: list[Rule]
) -> float | None:
    predicted_by_rules = rule_predictions(rules, frame)
    if model.kind == "classifier":
        assert model.classes is not None
        labels = [to_json_scalar(model.classes[i]) for i in np.argmax(outputs, axis=1)]
        return float(np.mean([a == b for a, b in zip(labels, predicted_by_rules, strict=True)]))
    return _r2(outputs[:, 0], np.asarray(predicted_by_rules, dtype=float))


def _ordering_score(model: Model, outputs: np.ndarray) -> np.ndarray:
    """A number per row by which categories are ordered for the surrogate.

    Binary classifiers: P(second class); regressors: the value; multi-class: the probability of the class
    predicted most often. Ordering categories by their mean score lets one split group several of them,
    which is the optimal split for binary and regression targets (Breiman et al., CART, 1984).
    """
    if model.kind == "regressor":
        return outputs[:, 0]
    if outputs.shape[1] == 2:
        return outputs[:, 1]
    most_often = int(np.argmax(np.bincount(np.argmax(outputs, axis=1), minlength=outputs.shape[1])))
    return outputs[:, most_often]


class SurrogateEncoding:
    """Raw columns as surrogate inputs: numbers as they are, categories as ranks by mean model output."""

    def __init__(
        self, frame: pd.DataFrame, categorical: frozenset[str], fit_frame: pd.DataFrame, score: np.ndarray
    ) -> None:
        self.columns = list(frame.columns)
        self.codes: dict[str, dict[Any, int]] = {}
        self.order_description: dict[str, list[Any]] = {}
        for column in self.columns:
            if column not in categorical and pd.api.types.is_numeric_dtype(frame[column]):
                continue
            known = sorted(
                {to_json_scalar(v) for v in pd.concat([frame[column], fit_frame[column]]).dropna().unique()},
                key=str,
            )
            values = fit_frame[column].map(to_json_scalar)
            means = pd.Series(score).groupby(values.to_numpy()).mean()
            ranked = sorted(known, key=lambda c: (means.get(c, np.inf), str(c)))
            self.codes[column] = {c: k for k, c in enumerate(ranked)}
            self.order_description[column] = ranked
        self.features = [SplitFeature(c, c in self.codes, self._forward(c)) for c in self.columns]

    def _forward(self, column: str) -> Any:
        codes = self.codes.get(column)
        if codes is None:
            return _identity
        unseen = len(codes)

        def forward(values: np.ndarray) -> np.ndarray:
            return np.array([codes.get(to_json_scalar(v), unseen) for v in values], dtype=float)

        return forward

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The surrogate's input matrix for raw rows."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.column_stack(
                [
                    f.forward(frame[f.column].to_numpy(dtype=object if f.categorical else float))
                    for f in self.features
                ]
            )


def perturbed_rows(frame: pd.DataFrame, count: int, rng: np.random.Generator) -> pd.DataFrame:
    """``count`` rows made from random data rows, each cell swapped with probability 1/2 for the same
    column's value in another random row: realistic values, new combinations."""
    n_rows = len(frame)
    base = rng.integers(0, n_rows, count)
    donors = rng.integers(0, n_rows, (count, frame.shape[1]))
    swap = rng.random((count, frame.shape[1])) < SWAP_PROBABILITY
    columns = {}
    for j, column in enumerate(frame.columns):
        values = frame[column].to_numpy()
        columns[column] = np.where(swap[:, j], values[donors[:, j]], values[base])
    return pd.DataFrame(columns, columns=frame.columns).astype(frame.dtypes.to_dict())
