"""TreeSHAP through shap with rank-coded thresholds: exact, where shap alone is not, on scikit-learn trees."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import (
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)

from tests.conftest import run_in_process
from xai_cli.methods.shapley import exact_shapley
from xai_cli.methods.treeshap import rank_code_splits, tree_shap

COLUMNS = 7


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    features, labels = load_breast_cancer(return_X_y=True)
    return features[:, :COLUMNS], labels


def exact(function, rows: np.ndarray, background: np.ndarray) -> np.ndarray:
    groups = [np.array([i]) for i in range(rows.shape[1])]
    return exact_shapley(lambda Z: function(Z).reshape(len(Z), 1), rows, background, groups).values[:, :, 0]


@pytest.mark.parametrize(
    ("name", "make", "output"),
    [
        (
            "hist-gradient-boosting margins",
            lambda: HistGradientBoostingClassifier(max_iter=60, random_state=0),
            "raw",
        ),
        ("random forest probabilities", lambda: RandomForestClassifier(30, random_state=0), "raw"),
        ("gradient boosting", lambda: GradientBoostingRegressor(n_estimators=40, random_state=0), "raw"),
    ],
)
def test_tree_shap_equals_exact_enumeration(name: str, make, output: str, data) -> None:
    features, labels = data
    model = make().fit(features, labels)
    rows, background = features[100:108], features[:20]
    function = {
        "HistGradientBoostingClassifier": lambda Z: model.decision_function(Z),
        "RandomForestClassifier": lambda Z: model.predict_proba(Z)[:, 1],
        "GradientBoostingRegressor": lambda Z: model.predict(Z),
    }[type(model).__name__]
    values, base, coded = tree_shap(model, np.concatenate([rows, background]), len(rows), output)
    values = values[:, :, 1] if values.ndim == 3 else values
    assert coded
    np.testing.assert_allclose(values, exact(function, rows, background), atol=2e-6)
    np.testing.assert_allclose(values.sum(axis=1) + base[-1], function(rows), atol=2e-6)


def test_missing_values_follow_the_default_branch(data) -> None:
    features, labels = data
    features = features.copy()
    features[::5, 2] = np.nan
    model = HistGradientBoostingRegressor(max_iter=40, random_state=0).fit(features, labels)
    rows, background = features[100:110], features[:25]
    values, _, _ = tree_shap(model, np.concatenate([rows, background]), len(rows), "raw")
    np.testing.assert_allclose(values, exact(model.predict, rows, background), atol=1e-6)


def test_rank_coding_keeps_every_comparison() -> None:
    rng = np.random.default_rng(0)
    thresholds = np.array([[0.5, 0.1 + 0.2, -1.0, 0.0], [0.3, 7.0, 0.0, 0.0]])
    features = np.array([[0, 0, 1, -1], [0, 1, 1, -1]])
    is_split = features >= 0
    values = np.concatenate([rng.normal(size=50), [0.5, 0.1 + 0.2, 0.3, np.nan]])
    columns = [values.copy(), np.concatenate([rng.normal(size=53) * 10, [7.0]])]
    coded_columns = [c.copy() for c in columns]
    coded = rank_code_splits(thresholds, features, is_split, coded_columns)
    for tree, node in zip(*np.nonzero(is_split), strict=True):
        column = features[tree, node]
        original = columns[column] <= thresholds[tree, node]
        recoded = coded_columns[column].astype(np.float32) <= np.float32(coded[tree, node])
        np.testing.assert_array_equal(original, recoded)
    assert np.isnan(coded_columns[0][-1])


def test_explain_tree_matches_exact_on_a_boosted_model(tmp_path: Path, data) -> None:
    """The command on a HistGradientBoosting model (margins): --algorithm tree equals exact enumeration."""
    features, labels = data
    frame = pd.DataFrame(features, columns=[f"c{i}" for i in range(COLUMNS)])
    model = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(frame, labels)
    joblib.dump(model, tmp_path / "hgb.joblib")
    frame.to_csv(tmp_path / "data.csv", index=False)
    common = [
        "explain",
        tmp_path / "hgb.joblib",
        tmp_path / "data.csv",
        "--rows",
        "0:6",
        "--background",
        "30",
    ]
    common += ["--output", "raw", "--json", "--out", tmp_path / "r"]
    tree = json.loads(run_in_process(*common, "--algorithm", "tree").stdout)
    enumerated = json.loads(run_in_process(*common, "--algorithm", "exact").stdout)
    assert tree["algorithm"] == "tree" and enumerated["algorithm"] == "exact"
    for a, b in zip(tree["rows"], enumerated["rows"], strict=True):
        assert a["additivity_error"] < 1e-5
        for column, value in a["attributions"].items():
            assert value == pytest.approx(b["attributions"][column], abs=2e-6)


def test_a_tree_after_column_wise_steps_is_explained_exactly_by_tree_shap(tmp_path: Path, data) -> None:
    """A Pipeline of a ColumnTransformer (scaled numbers, an ordinal-encoded category, columns reordered)
    and a gradient-boosted model: TreeSHAP on the encoded columns (what auto picks, once enumeration is
    dearer), keyed by the file's columns, equals exact enumeration through the whole Pipeline."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder, StandardScaler

    from xai_cli.methods.shap import choose_algorithm
    from xai_cli.models.loader import load_model

    features, labels = data
    frame = pd.DataFrame(features[:, :5], columns=["a", "b", "c", "d", "e"])
    frame["grade"] = np.where(features[:, 5] > np.median(features[:, 5]), "high", "low")
    steps = ColumnTransformer(
        [("cat", OrdinalEncoder(), ["grade"]), ("num", StandardScaler(), ["e", "a", "b", "c", "d"])]
    )
    model = Pipeline([("prep", steps), ("fit", GradientBoostingRegressor(n_estimators=30, random_state=0))])
    model.fit(frame, labels)
    joblib.dump(model, tmp_path / "pipeline.joblib")
    frame.to_csv(tmp_path / "data.csv", index=False)
    common = ["explain", tmp_path / "pipeline.joblib", tmp_path / "data.csv", "--rows", "0:8"]
    common += ["--background", "25", "--json", "--out", tmp_path / "r"]
    assert choose_algorithm(load_model(tmp_path / "pipeline.joblib"), "value", 6, "auto", 1000, 100) == "tree"
    tree = json.loads(run_in_process(*common, "--algorithm", "tree").stdout)
    enumerated = json.loads(run_in_process(*common, "--algorithm", "exact").stdout)
    assert tree["algorithm"] == "tree" and enumerated["algorithm"] == "exact"
    assert tree["feature_names"] == ["a", "b", "c", "d", "e", "grade"]
    for a, b in zip(tree["rows"], enumerated["rows"], strict=True):
        assert a["additivity_error"] < 1e-6  # shap keeps leaf values in float32
        for column, value in a["attributions"].items():
            assert value == pytest.approx(b["attributions"][column], abs=2e-6)


def test_a_tree_after_one_hot_encoding_is_not_given_to_tree_shap(tmp_path: Path, data) -> None:
    """One-hot columns would be separate players to TreeSHAP, but the file's column is one player: such
    a Pipeline is explained by enumeration (or sampling), and --algorithm tree says why it refuses."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    features, labels = data
    frame = pd.DataFrame(features[:, :3], columns=["a", "b", "c"])
    frame["grade"] = np.where(features[:, 5] > np.median(features[:, 5]), "high", "low")
    steps = ColumnTransformer([("cat", OneHotEncoder(), ["grade"])], remainder="passthrough")
    model = Pipeline([("prep", steps), ("fit", GradientBoostingRegressor(n_estimators=10, random_state=0))])
    joblib.dump(model.fit(frame, labels), tmp_path / "onehot.joblib")
    frame.to_csv(tmp_path / "data.csv", index=False)
    common = [
        "explain",
        tmp_path / "onehot.joblib",
        tmp_path / "data.csv",
        "--rows",
        "0:3",
        "--out",
        tmp_path,
    ]
    assert json.loads(run_in_process(*common, "--json").stdout)["algorithm"] == "exact"
    refused = run_in_process(*common, "--algorithm", "tree")
    assert refused.exit_code == 2 and "column-wise steps" in refused.stderr
