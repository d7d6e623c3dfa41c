"""No silent wrong numbers: each report's predictions are the model's own, and an algorithm called exact
(tree, linear, exact) is additive to 1e-6; a sampled one reports its error.

Real models, built here: XGBoost, LightGBM and HistGradientBoosting classifiers (binary and 3-class,
pickled sklearn wrappers), a random forest, a logistic regression, and skl2onnx conversions of the last
two with and without ZipMap. The command runs in a fresh process (run_xai): after XGBoost or LightGBM
have run their OpenMP threads in this one, the sandbox's forked child hangs in their thread pool.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from tests.conftest import run_xai

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

EXACT_ALGORITHMS = ("tree", "linear", "exact")
COLUMNS = 6
# 100 trees make TreeSHAP cheaper than enumeration, so the boosted models below reached the tree path
# in probability space before it was refused there (3-class LightGBM: additivity error 0.43).
BOOSTED: dict[str, Callable[[], object]] = {
    "lightgbm": lambda: lgb.LGBMClassifier(n_estimators=100, verbose=-1, random_state=0),
    "xgboost": lambda: xgb.XGBClassifier(n_estimators=100, max_depth=3, random_state=0),
    "hist-gradient-boosting": lambda: HistGradientBoostingClassifier(max_iter=100, random_state=0),
}
SKLEARN: dict[str, Callable[[], object]] = {
    "random-forest": lambda: RandomForestClassifier(60, random_state=0),
    "logistic-regression": lambda: LogisticRegression(max_iter=1000),
}


def table(columns: int = COLUMNS, classes: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """A small classification table with named columns."""
    features, labels = make_classification(
        300, columns, n_informative=4, n_redundant=0, n_classes=classes, random_state=0
    )
    return pd.DataFrame(features, columns=[f"c{i}" for i in range(columns)]), labels


def explain(model: Path, data: Path, *extra: object) -> dict:
    """The JSON report of ``xai explain`` on rows 0-4 (exit 0 asserted)."""
    result = run_xai(
        "explain",
        model,
        data,
        "--rows",
        "0:5",
        "--max-plots",
        "0",
        "--json",
        "--out",
        data.parent / "r",
        *extra,
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def assert_numbers_are_the_models(report: dict, own: np.ndarray, tolerance: float = 1e-9) -> None:
    """Each row's prediction is the model's own output for its target; exact algorithms are additive to
    1e-6, sampled ones report their relative standard error."""
    classes = report["model"]["classes"]
    for position, row in enumerate(report["rows"]):
        column = classes.index(row["target"]) if classes else 0
        assert row["prediction"] == pytest.approx(own[position, column], abs=tolerance), row
    if report["algorithm"] in EXACT_ALGORITHMS:
        assert report["max_additivity_error"] <= 1e-6, report["notes"]
    else:
        assert all(row["relative_standard_error"] >= 0 for row in report["rows"])


def pickled(tmp_path: Path, make: Callable[[], object], classes: int, columns: int = COLUMNS):
    """(model file, data file, fitted model, frame) of a fitted, joblib-pickled classifier."""
    frame, labels = table(columns, classes)
    model = make().fit(frame, labels)
    joblib.dump(model, tmp_path / "model.joblib")
    frame.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path / "model.joblib", tmp_path / "data.csv", model, frame


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("name", list(BOOSTED) + list(SKLEARN))
def test_probabilities_are_the_models_and_exact_means_exact(tmp_path: Path, name: str, classes: int) -> None:
    """The default output (probabilities) of every classifier: the model's own, and exact where claimed.
    A boosted model's probabilities are not TreeSHAP's: they are enumerated (6 columns)."""
    make = {**BOOSTED, **SKLEARN}[name]
    model_file, data_file, model, frame = pickled(tmp_path, make, classes)
    report = explain(model_file, data_file)
    assert report["output"] == "probability"
    assert_numbers_are_the_models(report, model.predict_proba(frame.head(5)))
    if name in BOOSTED:
        assert report["algorithm"] == "exact"


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("name", list(BOOSTED))
def test_margins_of_boosted_models_are_explained_exactly(tmp_path: Path, name: str, classes: int) -> None:
    """--output raw (the margin: log-odds, or per-class scores before the softmax), which XGBoost and
    LightGBM wrappers give through predict's own keyword: the predictions are the model's margins and
    TreeSHAP (or, where shap's float32 sum misses the model's by over 1e-6, enumeration) is exact."""
    model_file, data_file, model, frame = pickled(tmp_path, BOOSTED[name], classes)
    report = explain(model_file, data_file, "--output", "raw")
    head = frame.head(5)
    if name == "lightgbm":
        margin = model.predict(head, raw_score=True)
    elif name == "xgboost":
        margin = model.predict(head, output_margin=True)
    else:
        margin = model.decision_function(head)
    margin = np.asarray(margin, dtype=float).reshape(5, -1)
    if margin.shape[1] == 1:
        margin = np.hstack([-margin, margin])
    assert_numbers_are_the_models(report, margin)
    if name != "xgboost":
        assert report["algorithm"] == "tree"


def test_tree_is_refused_for_boosted_probabilities(tmp_path: Path) -> None:
    """Asking for TreeSHAP on a 3-class LightGBM model's probabilities: exit 2, one line naming the fix."""
    model_file, data_file, _, _ = pickled(tmp_path, BOOSTED["lightgbm"], 3)
    result = run_xai("explain", model_file, data_file, "--rows", "0:5", "--algorithm", "tree", "--json")
    assert result.exit_code == 2
    assert "--output raw --algorithm tree" in result.stderr and "Traceback" not in result.stderr


def test_many_columns_of_boosted_probabilities_are_sampled_with_their_error(tmp_path: Path) -> None:
    """12 columns (too many to enumerate) of a 3-class LightGBM model's probabilities: permutation SHAP,
    additive, with each row's sampling error in the report."""
    model_file, data_file, model, frame = pickled(tmp_path, BOOSTED["lightgbm"], 3, columns=12)
    report = explain(model_file, data_file, "--background", "20", "--permutations", "64")
    assert report["algorithm"] == "permutation"
    assert_numbers_are_the_models(report, model.predict_proba(frame.head(5)))
    assert report["max_additivity_error"] <= 1e-9


def test_xgboost_per_class_intercepts_reach_the_base_values() -> None:
    """XGBoost 3 keeps one intercept per class, shap one: the shift makes TreeSHAP's sums the margins."""
    from xai_cli.methods.treeshap import tree_shap

    frame, labels = table(COLUMNS, 3)
    model = BOOSTED["xgboost"]().fit(frame, labels)
    stacked = frame.to_numpy(dtype=float)
    values, base, _ = tree_shap(model, stacked[:105].copy(), 5, "raw")
    margin = model.predict(frame.head(5), output_margin=True)
    assert np.abs(values.sum(axis=1) + base - margin).max() < 1e-5


@pytest.mark.parametrize("zipmap", [True, False])
@pytest.mark.parametrize("name", list(SKLEARN))
def test_skl2onnx_probabilities_are_not_soft_maxed(tmp_path: Path, name: str, zipmap: bool) -> None:
    """skl2onnx's probability output (a tensor, or a ZipMap of dicts) is taken as probabilities: a forest
    whose float32 rows sum to 1.0000004 was soft-maxed into 0.576 before."""
    ort = pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    frame, labels = table(COLUMNS, 3)
    model = SKLEARN[name]().fit(frame.to_numpy(np.float32), labels)
    onx = skl2onnx.to_onnx(
        model, frame.to_numpy(np.float32)[:1], options={id(model): {"zipmap": zipmap}}, target_opset=15
    )
    (tmp_path / "model.onnx").write_bytes(onx.SerializeToString())
    frame.to_csv(tmp_path / "data.csv", index=False)
    report = explain(tmp_path / "model.onnx", tmp_path / "data.csv")
    assert report["model"]["outputs"] == "probabilities"
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    probabilities = session.run(None, {session.get_inputs()[0].name: frame.head(5).to_numpy(np.float32)})[1]
    if zipmap:
        probabilities = [[row[k] for k in sorted(row)] for row in probabilities]
    assert_numbers_are_the_models(report, np.asarray(probabilities, dtype=float))
    assert_numbers_are_the_models(report, model.predict_proba(frame.head(5).to_numpy(np.float32)), 1e-6)
