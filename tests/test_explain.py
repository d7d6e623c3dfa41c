"""`xai explain` on the bundled samples: what a user runs and what the report must say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SAMPLES, run_in_process, run_xai

EXPECTED_ALGORITHM = {"iris": "exact", "breast_cancer": "tree", "wine": "permutation", "credit": "exact"}


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_additivity_on_every_sample(sample: str, tmp_path: Path) -> None:
    model, data = SAMPLES[sample]
    result = run_in_process(
        "explain", model, data, "--out", tmp_path / "r", "--rows", "0:25", "--background", "40", "--json"
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["algorithm"] == EXPECTED_ALGORITHM[sample]
    for row in report["rows"]:
        total = row["base_value"] + sum(row["attributions"].values())
        assert abs(total - row["prediction"]) == pytest.approx(row["additivity_error"], abs=1e-12)
        assert row["additivity_error"] < 1e-6
    assert (tmp_path / "r" / "explain.json").exists()


def test_default_run_writes_report_and_plots(credit: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = credit
    out = tmp_path / "reports" / "credit"
    result = run_xai("explain", model, data, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "ignoring column(s) the model does not use: decision" in result.stderr
    assert "strongest columns per row" in result.stdout
    names = sorted(p.name for p in out.iterdir())
    assert "explain.json" in names and "global_importance.png" in names and "beeswarm.png" in names
    assert sum(name.startswith("waterfall_row_") for name in names) == 10
    assert not [n for n in names if n.startswith(".")], "no staging or temp files left behind"
    report = json.loads((out / "explain.json").read_text())
    assert report["schema_version"] == "1.0" and report["command"] == "explain"
    assert report["model"]["format"] == "joblib" and len(report["model"]["sha256"]) == 64
    assert report["model"]["classes"] == ["approved", "declined"]
    assert len(report["rows"]) == 100 and report["rows"][0]["row"] == 0
    assert (out / "global_importance.png").read_bytes().startswith(b"\x89PNG")


def test_pipeline_is_explained_in_raw_columns(credit: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = credit
    result = run_in_process(
        "explain", model, data, "--rows", "0:5", "--background", "30", "--out", tmp_path, "--json"
    )
    report = json.loads(result.stdout)
    raw_columns = [c for c in pd.read_csv(data).columns if c != "decision"]
    assert report["feature_names"] == raw_columns
    for row in report["rows"]:
        assert list(row["attributions"]) == raw_columns
        assert row["feature_values"]["region"] in {"north", "south", "east", "west"}


def test_exact_algorithm_equals_brute_force_shapley_values(tmp_path: Path) -> None:
    """A black box (an MLP, so no closed form) over 4 columns, against an independent enumeration."""
    import itertools
    import math

    import joblib
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(60, 4)), columns=["a", "b", "c", "d"])
    target = np.sin(frame.a) * frame.b + frame.c**2 - frame.d
    model = MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(frame, target)
    joblib.dump(model, tmp_path / "mlp.joblib")
    frame.to_csv(tmp_path / "data.csv", index=False)
    background = frame.iloc[:12]
    background.to_csv(tmp_path / "bg.csv", index=False)
    result = run_in_process(
        "explain",
        tmp_path / "mlp.joblib",
        tmp_path / "data.csv",
        "--rows",
        "20,21,22",
        "--background",
        tmp_path / "bg.csv",
        "--out",
        tmp_path / "r",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["algorithm"] == "exact" and report["output"] == "value"

    def value(x: pd.Series, coalition: tuple[str, ...]) -> float:
        mixed = background.copy()
        for column in coalition:
            mixed[column] = x[column]
        return float(model.predict(mixed).mean())

    columns = list(frame.columns)
    for row in report["rows"]:
        x = frame.iloc[row["row"]]
        for column in columns:
            others = [c for c in columns if c != column]
            phi = 0.0
            for size in range(len(others) + 1):
                weight = (
                    math.factorial(size)
                    * math.factorial(len(columns) - size - 1)
                    / math.factorial(len(columns))
                )
                for subset in itertools.combinations(others, size):
                    phi += weight * (value(x, (*subset, column)) - value(x, subset))
            assert row["attributions"][column] == pytest.approx(phi, abs=1e-9)


def test_tree_algorithm_matches_exact_enumeration(iris: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = iris
    common = ["explain", model, data, "--rows", "0,60,120", "--background", "30", "--json", "--out", tmp_path]
    tree = json.loads(run_in_process(*common, "--algorithm", "tree").stdout)
    exact = json.loads(run_in_process(*common, "--algorithm", "exact").stdout)
    for a, b in zip(tree["rows"], exact["rows"], strict=True):
        assert a["target"] == b["target"]
        for column, value in a["attributions"].items():
            assert value == pytest.approx(b["attributions"][column], abs=1e-6)


def test_linear_closed_form_matches_exact_on_margins(tmp_path: Path) -> None:
    model, data = SAMPLES["wine"]
    common = [
        "explain",
        model,
        data,
        "--rows",
        "0,70",
        "--background",
        "20",
        "--output",
        "raw",
        "--json",
        "--out",
        tmp_path,
    ]
    linear = json.loads(run_in_process(*common).stdout)
    assert linear["algorithm"] == "linear"
    exact = json.loads(run_in_process(*common, "--algorithm", "exact").stdout)
    for a, b in zip(linear["rows"], exact["rows"], strict=True):
        for column, value in a["attributions"].items():
            assert value == pytest.approx(b["attributions"][column], abs=1e-8)


def test_targets_binary_default_multiclass_predicted_and_explicit(tmp_path: Path) -> None:
    model, data = SAMPLES["credit"]
    binary = json.loads(
        run_in_process(
            "explain", model, data, "--rows", "0:3", "--background", "10", "--json", "--out", tmp_path
        ).stdout
    )
    assert {r["target"] for r in binary["rows"]} == {"declined"}
    chosen = json.loads(
        run_in_process(
            "explain",
            model,
            data,
            "--rows",
            "0:3",
            "--background",
            "10",
            "--target",
            "approved",
            "--json",
            "--out",
            tmp_path,
        ).stdout
    )
    for a, b in zip(binary["rows"], chosen["rows"], strict=True):
        assert b["target"] == "approved"
        assert b["prediction"] == pytest.approx(1 - a["prediction"])
    model, data = SAMPLES["iris"]
    multi = json.loads(
        run_in_process("explain", model, data, "--rows", "0,60,120", "--json", "--out", tmp_path).stdout
    )
    assert [r["target"] for r in multi["rows"]] == ["setosa", "versicolor", "virginica"]
    by_index = json.loads(
        run_in_process(
            "explain", model, data, "--rows", "0", "--target", "2", "--json", "--out", tmp_path
        ).stdout
    )
    assert by_index["rows"][0]["target"] == "virginica"


def test_same_seed_gives_byte_identical_json(tmp_path: Path) -> None:
    model, data = SAMPLES["wine"]
    for name in ("a", "b"):
        result = run_in_process(
            "explain",
            model,
            data,
            "--rows",
            "0:8",
            "--seed",
            "7",
            "--out",
            tmp_path / name,
            "--max-plots",
            "1",
        )
        assert result.exit_code == 0, result.stderr
    assert (tmp_path / "a" / "explain.json").read_bytes() == (tmp_path / "b" / "explain.json").read_bytes()
    other = run_in_process(
        "explain", model, data, "--rows", "0:8", "--seed", "8", "--json", "--out", tmp_path / "c"
    )
    assert (
        json.loads(other.stdout)["rows"] != json.loads((tmp_path / "a" / "explain.json").read_text())["rows"]
    )


def test_lime_is_seeded_and_handles_categories(credit: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = credit
    args = [
        "explain",
        model,
        data,
        "--method",
        "lime",
        "--rows",
        "0:3",
        "--num-samples",
        "600",
        "--target",
        "approved",
        "--seed",
        "1",
    ]
    first = run_in_process(*args, "--out", tmp_path / "a")
    second = run_in_process(*args, "--out", tmp_path / "b")
    assert first.exit_code == 0, first.stderr
    assert second.exit_code == 0, second.stderr
    assert (tmp_path / "a" / "explain.json").read_bytes() == (tmp_path / "b" / "explain.json").read_bytes()
    report = json.loads((tmp_path / "a" / "explain.json").read_text())
    assert report["method"] == "lime" and report["settings"]["num_samples"] == 600
    row = report["rows"][0]
    assert row["target"] == "approved" and 0.0 <= row["local_model_score"] <= 1.0
    assert row["conditions"]["region"].startswith("region=")
    assert sorted(p.name for p in (tmp_path / "a").glob("lime_row_*.png")) == [
        f"lime_row_{i}.png" for i in range(3)
    ]


def test_json_flag_prints_only_json(iris: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = iris
    result = run_xai("explain", model, data, "--rows", "5,7,9", "--json", "--out", tmp_path)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [r["row"] for r in report["rows"]] == [5, 7, 9]


def test_background_file_and_parquet_input(credit: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = credit
    frame = pd.read_csv(data)
    frame.to_parquet(tmp_path / "credit.parquet")
    frame.iloc[100:120].to_csv(tmp_path / "bg.csv", index=False)
    result = run_in_process(
        "explain",
        model,
        tmp_path / "credit.parquet",
        "--background",
        tmp_path / "bg.csv",
        "--rows",
        "0:2",
        "--json",
        "--out",
        tmp_path / "r",
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["settings"]["background_rows"] == 20
    assert report["data"]["background"].startswith("file ")


def test_columns_are_matched_by_name_in_any_order(credit: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = credit
    frame = pd.read_csv(data)
    frame[frame.columns[::-1]].to_csv(tmp_path / "reordered.csv", index=False)
    common = ["--rows", "0:3", "--background", "10", "--json"]
    a = json.loads(run_in_process("explain", model, data, *common, "--out", tmp_path / "a").stdout)
    b = json.loads(
        run_in_process("explain", model, tmp_path / "reordered.csv", *common, "--out", tmp_path / "b").stdout
    )
    assert a["rows"] == b["rows"]


def test_schema_command_prints_the_schema_and_reports_follow_it(
    iris: tuple[Path, Path], tmp_path: Path
) -> None:
    result = run_in_process("schema", "explain")
    schema = json.loads(result.stdout)
    model, data = iris
    report = json.loads(
        run_in_process("explain", model, data, "--rows", "0:2", "--json", "--out", tmp_path).stdout
    )
    assert set(schema["required"]) <= set(report)
    assert set(schema["properties"]["rows"]["items"]["required"]) <= set(report["rows"][0])


def test_black_box_pairwise_model_is_explained_exactly(tmp_path: Path) -> None:
    """A model with pairwise interactions over 12 columns (a Pipeline of PolynomialFeatures and a linear
    regression, so a black box to xai): the permutation algorithm gives its closed-form Shapley values."""
    import joblib
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import PolynomialFeatures

    rng = np.random.default_rng(7)
    columns = [f"x{i}" for i in range(12)]
    frame = pd.DataFrame(rng.normal(size=(200, 12)), columns=columns)
    target = frame.to_numpy() @ rng.normal(size=12) + frame.x0 * frame.x1 - 2 * frame.x2 * frame.x5
    poly = PolynomialFeatures(2, interaction_only=True, include_bias=False)
    model = Pipeline([("poly", poly), ("fit", LinearRegression())]).fit(frame, target)
    joblib.dump(model, tmp_path / "pairwise.joblib")
    frame.to_csv(tmp_path / "data.csv", index=False)
    result = run_in_process(
        "explain",
        tmp_path / "pairwise.joblib",
        tmp_path / "data.csv",
        "--rows",
        "0:4",
        "--background",
        "25",
        "--permutations",
        "100",
        "--json",
        "--out",
        tmp_path / "r",
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["algorithm"] == "permutation" and report["settings"]["orders_per_background_row"] == 4
    assert report["settings"]["relative_standard_error"] < 1e-9

    coef, powers = model[-1].coef_, model[0].powers_
    weights, pairs = np.zeros(12), np.zeros((12, 12))
    for c, power in zip(coef, powers, strict=True):
        used = np.flatnonzero(power)
        if len(used) == 1:
            weights[used[0]] = c
        else:
            pairs[used[0], used[1]] = pairs[used[1], used[0]] = c
    background = pd.read_csv(tmp_path / "data.csv")
    rng_rows = np.random.default_rng(0).choice(200, size=25, replace=False)
    background = background.iloc[np.sort(rng_rows)].to_numpy()
    mean_b, second = background.mean(axis=0), background.T @ background / len(background)
    for row in report["rows"]:
        x = frame.iloc[row["row"]].to_numpy()
        terms = np.outer(x, x) - second + np.outer(x, mean_b) - np.outer(mean_b, x)
        expected = weights * (x - mean_b) + 0.5 * (pairs * terms).sum(axis=1)
        got = np.array([row["attributions"][c] for c in columns])
        np.testing.assert_allclose(got, expected, atol=1e-9)


def test_permutation_rows_say_how_many_orders_they_took_and_how_precise(tmp_path: Path) -> None:
    """A black box over 12 columns: each row samples until its relative standard error reaches
    --tolerance (here within the budget) and says so; --tolerance 0 spends the whole budget on every row,
    and a budget too small for the tolerance gives a note."""
    import joblib
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(12)
    columns = [f"x{i}" for i in range(12)]
    frame = pd.DataFrame(rng.normal(size=(120, 12)), columns=columns)
    target = np.tanh(frame.x0 * frame.x1 * frame.x2) + frame.x3 - np.abs(frame.x4)
    model = MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(frame, target)
    joblib.dump(model, tmp_path / "mlp.joblib")
    frame.to_csv(tmp_path / "data.csv", index=False)
    common = ["explain", tmp_path / "mlp.joblib", tmp_path / "data.csv", "--rows", "0:4", "--background"]
    common += ["10", "--json", "--out", tmp_path / "r"]

    adaptive = json.loads(run_in_process(*common, "--tolerance", "0.05", "--permutations", "20000").stdout)
    assert adaptive["algorithm"] == "permutation" and adaptive["settings"]["tolerance"] == 0.05
    for row in adaptive["rows"]:
        assert row["relative_standard_error"] <= 0.05
        assert 2 * (10 + 10) <= row["permutations"] < 20000
    assert not adaptive["notes"]

    fixed = json.loads(run_in_process(*common, "--tolerance", "0", "--permutations", "400").stdout)
    assert [row["permutations"] for row in fixed["rows"]] == [400] * 4
    assert fixed["settings"]["mean_permutations_used"] == 400

    short = json.loads(run_in_process(*common, "--tolerance", "0.001", "--permutations", "60").stdout)
    assert all(row["permutations"] == 60 for row in short["rows"])
    assert any("0.001 asked" in note and "--permutations 240" in note for note in short["notes"])
