"""XGBoost ``.json``/``.ubj`` and LightGBM ``.txt`` model files, and pickled raw Boosters: they load
without --trust-model, scan safe, and are explained with the Booster's own predictions."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_in_process

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

COLUMNS = ["age", "income", "debt", "score"]
TASKS = ("binary", "multiclass", "regression")
XGB_PARAMS = {
    "binary": {"objective": "binary:logistic"},
    "multiclass": {"objective": "multi:softprob", "num_class": 3},
    "regression": {"objective": "reg:squarederror"},
}
LGB_PARAMS = {
    "binary": {"objective": "binary"},
    "multiclass": {"objective": "multiclass", "num_class": 3},
    "regression": {"objective": "regression"},
}


def _table() -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.normal(size=(80, 4)), columns=COLUMNS)
    signal = X["age"].to_numpy() + 0.5 * X["debt"].to_numpy()
    labels = {
        "binary": (signal > 0).astype(int),
        "multiclass": np.digitize(signal, [-0.5, 0.5]),
        "regression": 2 * signal + X["income"].to_numpy(),
    }
    return X, labels


def _xgb_booster(task: str) -> object:
    X, labels = _table()
    return xgb.train({**XGB_PARAMS[task], "max_depth": 3}, xgb.DMatrix(X, label=labels[task]), 6)


def _lgb_booster(task: str) -> object:
    X, labels = _table()
    params = {**LGB_PARAMS[task], "verbose": -1, "min_data_in_leaf": 3}
    return lgb.train(params, lgb.Dataset(X, label=labels[task]), num_boost_round=6)


def _xgb_predict(booster: object, X: pd.DataFrame) -> np.ndarray:
    return booster.predict(xgb.DMatrix(X.to_numpy(), feature_names=booster.feature_names))


def _save_xgb_json(task: str, folder: Path) -> tuple[Path, object]:
    booster = _xgb_booster(task)
    booster.save_model(folder / "model.json")
    return folder / "model.json", booster


def _save_xgb_ubj(task: str, folder: Path) -> tuple[Path, object]:
    booster = _xgb_booster(task)
    booster.save_model(folder / "model.ubj")
    return folder / "model.ubj", booster


def _save_xgb_wrapper(task: str, folder: Path) -> tuple[Path, object]:
    X, labels = _table()
    cls = xgb.XGBRegressor if task == "regression" else xgb.XGBClassifier
    estimator = cls(n_estimators=5, max_depth=3).fit(X, labels[task])
    estimator.save_model(folder / "wrapper.json")
    return folder / "wrapper.json", estimator.get_booster()


def _save_raw_joblib(task: str, folder: Path) -> tuple[Path, object]:
    booster = _xgb_booster(task)
    joblib.dump(booster, folder / "booster.joblib")
    return folder / "booster.joblib", booster


def _save_lgb_txt(task: str, folder: Path) -> tuple[Path, object]:
    booster = _lgb_booster(task)
    booster.save_model(folder / "model.txt")
    return folder / "model.txt", booster


SAVERS: dict[str, Callable[[str, Path], tuple[Path, object]]] = {
    "xgb-json": _save_xgb_json,
    "xgb-ubj": _save_xgb_ubj,
    "xgb-wrapper-json": _save_xgb_wrapper,
    "xgb-raw-joblib": _save_raw_joblib,
    "lgb-txt": _save_lgb_txt,
}


def _booster_output(fmt: str, booster: object, X: pd.DataFrame, task: str) -> np.ndarray:
    """The library's own prediction: class probabilities (n, k) or values (n, 1)."""
    raw = booster.predict(X.to_numpy()) if fmt == "lgb-txt" else _xgb_predict(booster, X)
    values = np.asarray(raw, dtype=float).reshape(len(X), -1)
    if task == "binary":
        values = np.hstack([1 - values, values])
    return values


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("fmt", sorted(SAVERS))
def test_booster_file_scans_safe_and_explains(fmt: str, task: str, tmp_path: Path) -> None:
    model_path, booster = SAVERS[fmt](task, tmp_path)
    X, _ = _table()
    data = tmp_path / "rows.csv"
    X.to_csv(data, index=False)
    scan = run_in_process("scan", model_path)
    assert scan.exit_code == 0, scan.stdout + scan.stderr
    assert "safe to load" in scan.stdout
    # Binary and regression Boosters go to TreeSHAP; shap misreads multi-class Boosters, so auto picks
    # exact Shapley values for those (4 columns).
    algorithm = "auto" if task == "multiclass" else "tree"
    result = run_in_process(
        "explain", model_path, data, "--rows", "0:5", "--max-plots", "0", "--algorithm", algorithm,
        "--out", tmp_path / "report", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["algorithm"] == ("exact" if task == "multiclass" else "tree")
    expected = _booster_output(fmt, booster, X.iloc[:5], task)
    classes = report["model"]["classes"]
    assert classes == (None if task == "regression" else list(range(expected.shape[1])))
    for row in report["rows"]:
        column = 0 if classes is None else classes.index(row["target"])
        assert row["prediction"] == pytest.approx(expected[row["row"], column], abs=1e-6)
        assert row["additivity_error"] <= 1e-6
    assert report["feature_names"] == COLUMNS


@pytest.mark.parametrize("dump", [pickle.dump, joblib.dump], ids=["pickle", "joblib"])
def test_pickled_lightgbm_booster_loads_by_default(dump: Callable, tmp_path: Path) -> None:
    booster = _lgb_booster("binary")
    model_path = tmp_path / "booster.pkl"
    with model_path.open("wb") as handle:
        dump(booster, handle)
    X, _ = _table()
    X.to_csv(tmp_path / "rows.csv", index=False)
    assert run_in_process("scan", model_path).exit_code == 0
    result = run_in_process(
        "explain", model_path, tmp_path / "rows.csv", "--rows", "0:3", "--max-plots", "0",
        "--algorithm", "tree", "--out", tmp_path / "r", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    expected = booster.predict(X.iloc[:3].to_numpy())
    for row in rows:
        assert row["prediction"] == pytest.approx(
            expected[row["row"]] if row["target"] == 1 else 1 - expected[row["row"]], abs=1e-9
        )


def _fakes(folder: Path) -> dict[str, Path]:
    json_path, _ = _save_xgb_json("binary", folder)
    ubj_path, _ = _save_xgb_ubj("binary", folder)
    txt_path, _ = _save_lgb_txt("binary", folder)
    ubj, text = ubj_path.read_bytes(), txt_path.read_text()
    files = {
        "truncated.json": json_path.read_bytes()[:300],
        "pretend.json": b'{"learner": {}, "version": [3, 2, 0]}',
        "other.json": b'{"name": "not a model"}',
        "truncated.ubj": ubj[: len(ubj) // 2],
        "trailing.ubj": ubj + b"xx",
        "pretend.ubj": b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner{}}",
        "truncated.txt": text[: text.index("end of trees") // 2].encode(),
        "pretend.txt": b"tree\nversion=v4\nnum_class=1\n",
    }
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return {name: folder / name for name in files}


def test_truncated_and_fake_files_are_unreadable(tmp_path: Path) -> None:
    X, _ = _table()
    X.to_csv(tmp_path / "rows.csv", index=False)
    for name, path in _fakes(tmp_path).items():
        scan = run_in_process("scan", path)
        assert scan.exit_code == 3, (name, scan.stdout, scan.stderr)
        result = run_in_process("explain", path, tmp_path / "rows.csv", "--out", tmp_path / "r")
        assert result.exit_code == 3, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in result.stderr, name


def test_rules_on_a_lightgbm_text_model(tmp_path: Path) -> None:
    model_path, _ = _save_lgb_txt("binary", tmp_path)
    X, _ = _table()
    X.to_csv(tmp_path / "rows.csv", index=False)
    result = run_in_process("rules", model_path, tmp_path / "rows.csv", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "r").exists()


@pytest.mark.parametrize("fmt", ["xgb-json", "lgb-txt"])
def test_a_model_file_above_the_size_limit_is_not_read(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit is checked on the file's size before a byte is read (XAI_MAX_BOOSTER_FILE_BYTES)."""
    path, _ = SAVERS[fmt]("binary", tmp_path)
    _table()[0].to_csv(tmp_path / "data.csv", index=False)
    monkeypatch.setenv("XAI_MAX_BOOSTER_FILE_BYTES", str(path.stat().st_size - 1))
    for command in (("scan", path), ("explain", path, tmp_path / "data.csv", "--out", tmp_path / "r")):
        result = run_in_process(*command)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.exit_code == 3 and len(errors) == 1, result.stderr
        assert "above the limit" in errors[0] and "XAI_MAX_BOOSTER_FILE_BYTES" in errors[0]
