"""Bad input: one clear line on stderr, exit code 3, no traceback, no report left behind."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.conftest import SAMPLES, run_in_process, run_xai


def assert_clean_failure(result, code: int, *expected: str) -> None:
    """Exit code, one 'error:' line naming what is wrong, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.fixture
def credit_frame() -> pd.DataFrame:
    return pd.read_csv(SAMPLES["credit"][1])


def explain(model: Path, data: Path, out: Path, *extra: object):
    return run_in_process("explain", model, data, "--out", out, "--background", "10", "--rows", "0:5", *extra)


def test_empty_data_file(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    result = explain(SAMPLES["credit"][0], tmp_path / "empty.csv", tmp_path / "out")
    assert_clean_failure(result, 3, "empty.csv", "empty")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_header_only(tmp_path: Path, credit_frame: pd.DataFrame) -> None:
    credit_frame.head(0).to_csv(tmp_path / "header.csv", index=False)
    assert_clean_failure(
        explain(SAMPLES["credit"][0], tmp_path / "header.csv", tmp_path / "out"), 3, "no data rows"
    )


def test_binary_junk(tmp_path: Path) -> None:
    (tmp_path / "junk.csv").write_bytes(np.random.default_rng(0).bytes(4000) + b"\x00")
    assert_clean_failure(
        explain(SAMPLES["credit"][0], tmp_path / "junk.csv", tmp_path / "out"), 3, "junk.csv", "binary"
    )


def test_text_in_numeric_column_names_row_and_column(tmp_path: Path, credit_frame: pd.DataFrame) -> None:
    frame = credit_frame.astype({"income": object})
    frame.loc[3, "income"] = "lots"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    result = explain(SAMPLES["credit"][0], tmp_path / "bad.csv", tmp_path / "out")
    assert_clean_failure(result, 3, "bad.csv", "row 3", "'income'", "'lots'", "not a number")


def test_missing_value_the_model_cannot_take(tmp_path: Path) -> None:
    model, data = SAMPLES["wine"]
    frame = pd.read_csv(data)
    frame.loc[2, "alcohol"] = np.nan
    frame.to_csv(tmp_path / "nan.csv", index=False)
    result = explain(model, tmp_path / "nan.csv", tmp_path / "out")
    assert_clean_failure(result, 3, "nan.csv", "row 2", "'alcohol'", "missing")


def test_missing_value_a_model_can_take_is_fine(tmp_path: Path, credit_frame: pd.DataFrame) -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0] * 10, "b": np.arange(40.0)})
    joblib.dump(HistGradientBoostingRegressor(max_iter=5).fit(frame, frame.b * 2), tmp_path / "hgb.joblib")
    frame.to_csv(tmp_path / "nan.csv", index=False)
    result = explain(tmp_path / "hgb.joblib", tmp_path / "nan.csv", tmp_path / "out")
    assert result.exit_code == 0, result.stderr


def test_missing_column_is_named(tmp_path: Path, credit_frame: pd.DataFrame) -> None:
    credit_frame.drop(columns="region").to_csv(tmp_path / "no_region.csv", index=False)
    result = explain(SAMPLES["credit"][0], tmp_path / "no_region.csv", tmp_path / "out")
    assert_clean_failure(result, 3, "no_region.csv", "'region'")


def test_column_count_must_match_for_a_model_without_names(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    X = np.random.default_rng(0).normal(size=(30, 3))
    joblib.dump(LinearRegression().fit(X, X.sum(axis=1)), tmp_path / "unnamed.joblib")
    pd.DataFrame(np.hstack([X, X[:, :1]]), columns=list("abcd")).to_csv(tmp_path / "four.csv", index=False)
    result = explain(tmp_path / "unnamed.joblib", tmp_path / "four.csv", tmp_path / "out")
    assert_clean_failure(result, 3, "takes 3 columns", "has 4")
    dropped = explain(
        tmp_path / "unnamed.joblib", tmp_path / "four.csv", tmp_path / "out2", "--label-column", "d"
    )
    assert dropped.exit_code == 0, dropped.stderr


def test_unknown_category_is_reported(tmp_path: Path) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"colour": ["red", "blue"] * 10, "size": np.arange(20.0)})
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["colour"]), remainder="passthrough"), LogisticRegression()
    )
    joblib.dump(pipe.fit(frame, [0, 1] * 10), tmp_path / "strict.joblib")
    frame.loc[4, "colour"] = "green"
    frame.to_csv(tmp_path / "green.csv", index=False)
    result = explain(tmp_path / "strict.joblib", tmp_path / "green.csv", tmp_path / "out", "--rows", "0:10")
    assert_clean_failure(result, 3, "green.csv", "row 4", "cannot predict")


@pytest.mark.parametrize("spec", ["999", "5:3", "x:y", "1,2,500"])
def test_bad_rows(spec: str, tmp_path: Path) -> None:
    model, data = SAMPLES["iris"]
    result = run_in_process("explain", model, data, "--rows", spec, "--out", tmp_path)
    assert result.exit_code in (2, 3)
    assert "--rows" in result.stderr and "Traceback" not in result.stderr


def test_unknown_target_lists_the_classes(tmp_path: Path) -> None:
    model, data = SAMPLES["iris"]
    result = run_in_process("explain", model, data, "--target", "daisy", "--out", tmp_path, "--rows", "0:2")
    assert_clean_failure(result, 2, "daisy", "setosa, versicolor, virginica")


def test_missing_files(tmp_path: Path) -> None:
    model, data = SAMPLES["iris"]
    assert_clean_failure(
        explain(tmp_path / "nope.joblib", data, tmp_path / "o"), 3, "nope.joblib", "no such file"
    )
    assert_clean_failure(explain(model, tmp_path / "nope.csv", tmp_path / "o"), 3, "nope.csv", "no such file")


def test_not_a_model_file(tmp_path: Path) -> None:
    data = SAMPLES["iris"][1]
    assert_clean_failure(explain(data, data, tmp_path / "o"), 3, "iris.csv", "not a model file")
    (tmp_path / "text.pkl").write_text("hello, I am not a pickle\n")
    assert_clean_failure(explain(tmp_path / "text.pkl", data, tmp_path / "o"), 3, "text.pkl")


def test_truncated_model_file(tmp_path: Path) -> None:
    model, data = SAMPLES["credit"]
    blob = model.read_bytes()
    (tmp_path / "cut.joblib").write_bytes(blob[: len(blob) // 2])
    assert_clean_failure(explain(tmp_path / "cut.joblib", data, tmp_path / "o"), 3, "cut.joblib")


def test_a_pickled_non_model_is_refused_clearly(tmp_path: Path) -> None:
    joblib.dump({"weights": [1, 2, 3]}, tmp_path / "dict.joblib")
    result = explain(tmp_path / "dict.joblib", SAMPLES["iris"][1], tmp_path / "o")
    assert_clean_failure(result, 3, "dict.joblib", "not a model")


def test_no_traceback_in_a_real_subprocess_and_debug_shows_one(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    model = SAMPLES["iris"][0]
    plain = run_xai("explain", model, tmp_path / "empty.csv", "--out", tmp_path / "o")
    assert plain.exit_code == 3 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().count("\n") == 0
    debug = run_xai("--debug", "explain", model, tmp_path / "empty.csv", "--out", tmp_path / "o")
    assert debug.exit_code != 0 and "Traceback" in debug.stderr


def test_existing_out_folder_keeps_its_other_files(tmp_path: Path) -> None:
    model, data = SAMPLES["iris"]
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = run_in_process("explain", model, data, "--out", out, "--rows", "0:2")
    assert result.exit_code == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
