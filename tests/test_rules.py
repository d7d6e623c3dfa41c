"""`xai rules`: what a user runs, and rules that anyone can re-apply by hand to get the same figures."""

from __future__ import annotations

import json
import operator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from scripts.make_samples import CREDIT_CATEGORICAL, CREDIT_NUMERIC, credit_frame
from tests.conftest import SAMPLES, run_in_process, run_xai

COMPARE = {"<=": operator.le, "<": operator.lt, ">": operator.gt, ">=": operator.ge, "==": operator.eq}
CREDIT_CATEGORIES = {
    "employment": {"employed", "self-employed", "unemployed", "student"},
    "region": {"north", "south", "east", "west"},
    "home_ownership": {"rent", "own", "mortgage"},
}


def satisfies(row: dict[str, Any], condition: dict[str, Any]) -> bool:
    """An evaluator written for the test, one row and one condition at a time."""
    value, op, wanted = row[condition["feature"]], condition["op"], condition["value"]
    if op == "in":
        return value in wanted
    if op == "not in":
        return value not in wanted
    if op == "!=":
        return value != wanted
    return COMPARE[op](float(value), float(wanted))


def matching_rules(report: dict[str, Any], frame: pd.DataFrame) -> list[list[int]]:
    """For every data row, the indices of the rules whose every condition it satisfies."""
    matches = []
    for row in frame.to_dict(orient="records"):
        matches.append(
            [
                k
                for k, rule in enumerate(report["rules"])
                if all(satisfies(row, c) for c in rule["conditions"])
            ]
        )
    return matches


def check_rules_reapply(report: dict[str, Any], frame: pd.DataFrame, model_labels: np.ndarray) -> None:
    """Partition, support, coverage and precision recomputed from the rules' text alone."""
    matches = matching_rules(report, frame)
    assert all(len(m) == 1 for m in matches), "every row satisfies exactly one rule"
    owner = np.array([m[0] for m in matches])
    for k, rule in enumerate(report["rules"]):
        covered = owner == k
        assert rule["support"] == int(covered.sum())
        assert rule["coverage"] == pytest.approx(covered.mean())
        if rule["support"]:
            assert rule["precision"] == pytest.approx(np.mean(model_labels[covered] == rule["prediction"]))
        else:
            assert rule["precision"] is None


def test_iris_tree_rules_are_the_tree_exactly(tmp_path: Path) -> None:
    model_path, data_path = SAMPLES["iris"]
    out = tmp_path / "reports" / "iris-rules"
    result = run_xai("rules", model_path, data_path, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "petal_width <= 0.8" in result.stdout and "exact" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["rules.json", "rules.png", "rules.txt"]
    assert (out / "rules.png").read_bytes().startswith(b"\x89PNG")
    report = json.loads((out / "rules.json").read_text())
    assert report["command"] == "rules" and report["source"] == "tree"
    assert report["fidelity"]["exact"] is True and report["fidelity"]["on_data"] == 1.0
    frame = pd.read_csv(data_path).drop(columns="species")
    labels = joblib.load(model_path).predict(frame)
    check_rules_reapply(report, frame, labels)
    predicted = [report["rules"][m[0]]["prediction"] for m in matching_rules(report, frame)]
    assert predicted == list(labels)
    thresholds = {c["value"] for rule in report["rules"] for c in rule["conditions"]}
    assert thresholds == {0.8, 1.75, 4.85, 4.95}, "thresholds in the column's units, as a person writes them"
    text = (out / "rules.txt").read_text()
    assert "R1: IF petal_width <= 0.8" in text and "THEN predict setosa" in text


@pytest.fixture(scope="module")
def credit_tree_pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A decision tree after scaling and one-hot encoding, like the credit sample's Pipeline."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    folder = tmp_path_factory.mktemp("credit_tree")
    frame = credit_frame(400, 5)
    features = frame.drop(columns="decision")
    preprocess = ColumnTransformer(
        [
            ("numeric", StandardScaler(), CREDIT_NUMERIC),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CREDIT_CATEGORICAL),
        ]
    )
    model = Pipeline(
        [("preprocess", preprocess), ("tree", DecisionTreeClassifier(max_depth=6, random_state=0))]
    )
    model.fit(features, frame["decision"])
    joblib.dump(model, folder / "tree_pipeline.joblib")
    frame.to_csv(folder / "credit.csv", index=False)
    return folder / "tree_pipeline.joblib", folder / "credit.csv"


def test_tree_inside_pipeline_is_read_back_to_raw_columns(
    credit_tree_pipeline: tuple[Path, Path], tmp_path: Path
) -> None:
    model_path, data_path = credit_tree_pipeline
    result = run_in_process("rules", model_path, data_path, "--out", tmp_path, "--json", "--quiet")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "tree" and report["depth"] == 6
    categorical_ops = set()
    for rule in report["rules"]:
        for condition in rule["conditions"]:
            assert condition["feature"] in CREDIT_NUMERIC + CREDIT_CATEGORICAL
            if condition["feature"] in CREDIT_CATEGORICAL:
                categorical_ops.add(condition["op"])
                assert set(condition["value"]) <= CREDIT_CATEGORIES[condition["feature"]]
            else:
                assert condition["op"] in ("<=", "<", ">", ">=")
        features = [c["feature"] for c in rule["conditions"]]
        for name in set(features):
            ops = [c["op"] for c in rule["conditions"] if c["feature"] == name]
            assert len(ops) <= 2 and len(set(ops)) == len(ops), "conditions on a column are merged"
    assert categorical_ops <= {"in", "not in"} and categorical_ops
    model = joblib.load(model_path)
    data = pd.read_csv(data_path).drop(columns="decision")
    check_rules_reapply(report, data, model.predict(data))
    # Exact beyond the data too: fresh applications the tree never saw get the tree's own answer.
    fresh = credit_frame(1500, 99).drop(columns="decision")
    by_rules = [report["rules"][m[0]]["prediction"] for m in matching_rules(report, fresh)]
    assert by_rules == list(model.predict(fresh))


def test_tree_regressor_rules_give_the_tree_values(tmp_path: Path) -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"size": rng.uniform(20, 200, 300).round(1), "rooms": rng.integers(1, 7, 300)})
    price = 3 * frame["size"] + 40 * frame["rooms"] + rng.normal(0, 20, 300)
    model = Pipeline(
        [("scale", MinMaxScaler()), ("tree", DecisionTreeRegressor(max_depth=3, random_state=0))]
    )
    model.fit(frame, price)
    joblib.dump(model, tmp_path / "price.joblib")
    frame.to_csv(tmp_path / "homes.csv", index=False)
    result = run_in_process(
        "rules", tmp_path / "price.joblib", tmp_path / "homes.csv", "--out", tmp_path / "r", "--json"
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "tree" and report["fidelity"]["metric"] == "r2"
    assert report["fidelity"]["on_data"] == pytest.approx(1.0)
    owner = [m[0] for m in matching_rules(report, frame)]
    values = np.array([report["rules"][k]["prediction"] for k in owner])
    np.testing.assert_allclose(values, model.predict(frame), rtol=1e-12)
    for rule in report["rules"]:
        assert "precision" not in rule and rule["output_std"] == pytest.approx(0.0, abs=1e-9)


def test_surrogate_of_credit_pipeline_reapplies_and_reports_held_out_fidelity(tmp_path: Path) -> None:
    model_path, data_path = SAMPLES["credit"]
    out = tmp_path / "credit-rules"
    result = run_in_process(
        "rules", model_path, data_path, "--max-depth", "4", "--augment", "300", "--out", out
    )
    assert result.exit_code == 0, result.stderr
    assert "surrogate" in result.stdout and "held-out" in result.stdout
    assert "surrogate decision tree" in result.stderr
    report = json.loads((out / "rules.json").read_text())
    assert report["source"] == "surrogate" and report["depth"] <= 4 and report["n_rules"] <= 16
    fidelity = report["fidelity"]
    assert fidelity["exact"] is False and fidelity["metric"] == "accuracy"
    assert fidelity["held_out_rows"] == 150 and fidelity["in_sample_rows"] == 450 + 300
    assert 0.6 < fidelity["held_out"] <= 1.0 and 0.6 < fidelity["in_sample"] <= 1.0
    assert "never saw" in fidelity["description"]
    data = pd.read_csv(data_path).drop(columns="decision")
    labels = joblib.load(model_path).predict(data)
    check_rules_reapply(report, data, labels)
    owner = [m[0] for m in matching_rules(report, data)]
    by_rules = np.array([report["rules"][k]["prediction"] for k in owner])
    assert fidelity["on_data"] == pytest.approx(np.mean(by_rules == labels))
    for rule in report["rules"]:
        for condition in rule["conditions"]:
            if condition["feature"] in CREDIT_CATEGORICAL:
                assert condition["op"] in ("in", "not in")
    assert "Fidelity: surrogate fidelity" in (out / "rules.txt").read_text()


def test_held_out_rows_are_never_seen_by_the_surrogate() -> None:
    """A surrogate deep enough to memorise its training rows is perfect in-sample but not on held-out rows,
    and its held-out figure is what the rules score on exactly those rows."""
    from xai_cli.data.validate import align_to_model
    from xai_cli.methods.rules import RulesOptions, extract_rules, rule_predictions
    from xai_cli.models.loader import load_model

    model_path, data_path = SAMPLES["breast_cancer"]
    model = load_model(model_path)
    frame = align_to_model(pd.read_csv(data_path), model, data_path, "diagnosis").frame
    result = extract_rules(model, frame, RulesOptions(max_depth=40, min_samples_leaf=1, seed=3))
    held_out = result.held_out_rows
    assert len(held_out) == result.fidelity["held_out_rows"] == round(len(frame) * 0.25)
    assert result.fidelity["in_sample"] == 1.0 and result.fidelity["held_out"] < 1.0
    labels = np.asarray(model.classes)[np.argmax(model.predict(frame, "probability"), axis=1)]
    by_rules = np.asarray(rule_predictions(result.rules, frame), dtype=object)
    assert result.fidelity["held_out"] == pytest.approx(np.mean(by_rules[held_out] == labels[held_out]))
    seen = np.setdiff1d(np.arange(len(frame)), held_out)
    assert np.mean(by_rules[seen] == labels[seen]) == 1.0


def test_surrogate_of_a_regressor_reports_r2_and_output_spread(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.uniform(0, 10, 200), "y": rng.integers(0, 5, 200)})
    model = RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0).fit(
        frame, frame.x**2 + frame.y
    )
    joblib.dump(model, tmp_path / "rf.joblib")
    frame.to_csv(tmp_path / "d.csv", index=False)
    result = run_in_process(
        "rules", tmp_path / "rf.joblib", tmp_path / "d.csv", "--out", tmp_path / "r", "--json"
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "surrogate" and report["fidelity"]["metric"] == "r2"
    assert report["fidelity"]["held_out"] > 0.8
    outputs = model.predict(frame)
    owner = np.array([m[0] for m in matching_rules(report, frame)])
    for k, rule in enumerate(report["rules"]):
        covered = outputs[owner == k]
        assert rule["support"] == len(covered)
        if len(covered):
            assert rule["output_mean"] == pytest.approx(covered.mean())
            assert rule["output_std"] == pytest.approx(covered.std())


def test_same_seed_gives_byte_identical_rules_json(tmp_path: Path) -> None:
    model_path, data_path = SAMPLES["credit"]
    for name in ("a", "b"):
        result = run_in_process(
            "rules", model_path, data_path, "--augment", "100", "--seed", "7", "--out", tmp_path / name
        )
        assert result.exit_code == 0, result.stderr
    assert (tmp_path / "a" / "rules.json").read_bytes() == (tmp_path / "b" / "rules.json").read_bytes()
    assert (tmp_path / "a" / "rules.txt").read_bytes() == (tmp_path / "b" / "rules.txt").read_bytes()


def test_report_matches_its_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema_result = run_in_process("schema", "rules")
    assert schema_result.exit_code == 0
    schema = json.loads(schema_result.stdout)
    model_path, data_path = SAMPLES["credit"]
    result = run_in_process("rules", model_path, data_path, "--out", tmp_path, "--json")
    jsonschema.validate(json.loads(result.stdout), schema, cls=jsonschema.Draft202012Validator)


def test_missing_value_is_bad_input_and_leaves_no_report(tmp_path: Path) -> None:
    model_path, data_path = SAMPLES["iris"]
    frame = pd.read_csv(data_path)
    frame.loc[7, "petal_length"] = np.nan
    frame.to_csv(tmp_path / "holes.csv", index=False)
    result = run_in_process("rules", model_path, tmp_path / "holes.csv", "--out", tmp_path / "r")
    assert result.exit_code == 3
    assert result.stderr.startswith("error:") and "row 7" in result.stderr and "petal_length" in result.stderr
    assert not (tmp_path / "r" / "rules.json").exists()


def test_bad_holdout_is_a_usage_error(tmp_path: Path) -> None:
    model_path, data_path = SAMPLES["credit"]
    result = run_in_process("rules", model_path, data_path, "--holdout", "0.95", "--out", tmp_path)
    assert result.exit_code == 2 and "--holdout" in result.stderr


def test_tree_after_steps_that_mix_columns_falls_back_to_a_surrogate(tmp_path: Path) -> None:
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    data_path = SAMPLES["iris"][1]
    frame = pd.read_csv(data_path)
    features = frame.drop(columns="species")
    model = Pipeline(
        [
            ("scale", StandardScaler()),
            ("pca", PCA(n_components=2)),
            ("tree", DecisionTreeClassifier(max_depth=3)),
        ]
    )
    model.fit(features, frame["species"])
    joblib.dump(model, tmp_path / "pca_tree.joblib")
    result = run_in_process(
        "rules", tmp_path / "pca_tree.joblib", data_path, "--out", tmp_path / "r", "--json"
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "surrogate"
    assert "cannot be mapped back to the raw columns" in report["reason"]
    assert all(c["feature"] in features.columns for r in report["rules"] for c in r["conditions"])
    check_rules_reapply(report, features, model.predict(features))
