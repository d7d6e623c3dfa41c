"""CI gates: `xai diff` (exit 0 within thresholds, 1 drift, 3 not comparable), `--fail-if-top`, `--format`."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.batch_helpers import IRIS_MODEL, iris_folder, validate
from tests.conftest import SAMPLES, run_in_process

IRIS_DATA = SAMPLES["iris"][1]
COMMON = ["--rows", "50:150", "--background", "30", "--max-plots", "0", "--label-column", "species"]


def explain(model: Path, out: Path, *options: object, data: Path = IRIS_DATA) -> Path:
    """Run `xai explain` into ``out``; the path of its explain.json."""
    result = run_in_process("explain", model, data, "--out", out, *COMMON, *options)
    assert result.exit_code == 0, result.stderr
    return out / "explain.json"


@pytest.fixture
def sepal_model(tmp_path: Path) -> Path:
    """An iris tree that never saw the petals (shuffled), so its importance ranking differs."""
    from sklearn.tree import DecisionTreeClassifier

    frame = pd.read_csv(IRIS_DATA)
    features = frame.drop(columns="species")
    rng = np.random.default_rng(0)
    for column in ("petal_length", "petal_width"):
        features[column] = rng.permutation(features[column].to_numpy())
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(features, frame["species"])
    joblib.dump(model, tmp_path / "sepal_tree.joblib")
    return tmp_path / "sepal_tree.joblib"


def test_diff_of_identical_reports_passes(tmp_path: Path) -> None:
    base = explain(IRIS_MODEL, tmp_path / "base")
    new = explain(IRIS_MODEL, tmp_path / "new")
    result = run_in_process("diff", base, new, "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    validate(document, "diff")
    (comparison,) = document["comparisons"]
    assert comparison["rank_correlation"] == 1.0 and comparison["top_k_changes"] == 0
    assert comparison["largest_change"]["change"] == 0.0 and document["passed"]
    table = run_in_process("diff", tmp_path / "base", tmp_path / "new")
    assert table.exit_code == 0 and "within thresholds" in table.stdout


def test_diff_exits_1_on_drift_and_says_why(tmp_path: Path, sepal_model: Path) -> None:
    base = explain(IRIS_MODEL, tmp_path / "base")
    new = explain(sepal_model, tmp_path / "new")
    result = run_in_process("diff", base, new, "--top-k", "2", "--format", "markdown")
    assert result.exit_code == 1
    assert "drift beyond thresholds" in result.stderr and "change(s) in the top 2" in result.stderr
    assert result.stdout.startswith("### xai diff: **drift beyond thresholds**")
    assert "| input | rank correlation | top-k changes |" in result.stdout
    document = json.loads(run_in_process("diff", base, new, "--top-k", "2", "--json").stdout)
    (comparison,) = document["comparisons"]
    assert set(comparison["left_top_k"]) & {"petal_length", "petal_width"}
    assert comparison["largest_change"]["feature"] in ("petal_length", "petal_width", "sepal_length")
    loose = run_in_process(
        "diff", base, new, "--top-k", "2", "--min-rank-corr", "-1", "--max-topk-changes", "2"
    )
    assert loose.exit_code == 0, loose.stderr


def test_diff_exits_3_when_reports_cannot_be_compared(tmp_path: Path) -> None:
    iris = explain(IRIS_MODEL, tmp_path / "iris")
    wine_model, wine_data = SAMPLES["wine"]
    wine = run_in_process(
        "explain", wine_model, wine_data, "--rows", "0:5", "--background", "10", "--out", tmp_path / "wine"
    )
    assert wine.exit_code == 0, wine.stderr
    columns = run_in_process("diff", iris, tmp_path / "wine" / "explain.json")
    assert columns.exit_code == 3
    assert columns.stderr.startswith("error: cannot compare") and "different columns" in columns.stderr
    other_target = explain(IRIS_MODEL, tmp_path / "virginica", "--target", "virginica")
    setosa = explain(IRIS_MODEL, tmp_path / "setosa", "--target", "setosa")
    targets = run_in_process("diff", setosa, other_target)
    assert targets.exit_code == 3 and "different outputs (--target setosa vs virginica)" in targets.stderr
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2]")
    assert run_in_process("diff", iris, junk).exit_code == 3


def test_diff_of_two_batch_indexes(tmp_path: Path) -> None:
    iris_folder(tmp_path / "inputs", 2, rows_each=60)
    common = ["explain", IRIS_MODEL, tmp_path / "inputs", "--label-column", "species", "--max-plots", "0"]
    assert run_in_process(*common, "--out", tmp_path / "base").exit_code == 0
    assert run_in_process(*common, "--out", tmp_path / "new").exit_code == 0
    same = run_in_process("diff", tmp_path / "base", tmp_path / "new", "--json")
    assert same.exit_code == 0, same.stderr
    document = json.loads(same.stdout)
    validate(document, "diff")
    assert [c["input"] for c in document["comparisons"]] == ["part0.csv", "part1.csv"]
    validate(json.loads((tmp_path / "base" / "index.json").read_text()), "index")
    (tmp_path / "inputs" / "part1.csv").write_text("sepal_length\n1\n")
    assert run_in_process(*common, "--out", tmp_path / "broken").exit_code == 5
    broken = run_in_process("diff", tmp_path / "base" / "index.json", tmp_path / "broken" / "index.json")
    assert broken.exit_code == 1 and "part1.csv: failed in" in broken.stderr
    mixed = run_in_process("diff", tmp_path / "base" / "index.json", tmp_path / "base" / "part0.csv")
    assert mixed.exit_code == 3 and "pass two explain.json files or two index.json files" in mixed.stderr


def test_fail_if_top_gate_exits_1_and_still_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run_in_process(
        "explain",
        IRIS_MODEL,
        IRIS_DATA,
        "--out",
        out,
        *COMMON,
        "--fail-if-top",
        "2",
        "--features",
        "petal_width,sepal_width",
    )
    assert result.exit_code == 1
    assert "gate failed: 'petal_width' ranks #" in result.stderr and "top 2" in result.stderr
    assert (out / "explain.json").is_file() and "global importance" in result.stdout
    passing = run_in_process(
        "explain",
        IRIS_MODEL,
        IRIS_DATA,
        "--out",
        out,
        *COMMON,
        "--fail-if-top",
        "2",
        "--features",
        "sepal_width",
    )
    assert passing.exit_code == 0, passing.stderr
    typo = run_in_process(
        "explain", IRIS_MODEL, IRIS_DATA, "--out", out, *COMMON, "--fail-if-top", "2", "--features", "sex"
    )
    assert typo.exit_code == 2 and "'sex' is not a column of the report" in typo.stderr
    alone = run_in_process("explain", IRIS_MODEL, IRIS_DATA, "--out", out, *COMMON, "--fail-if-top", "2")
    assert alone.exit_code == 2 and "go together" in alone.stderr


def test_gate_on_a_batch_is_recorded_per_input(tmp_path: Path) -> None:
    iris_folder(tmp_path / "inputs", 2, rows_each=60)
    result = run_in_process(
        "explain",
        IRIS_MODEL,
        tmp_path / "inputs",
        "--out",
        tmp_path / "r",
        "--label-column",
        "species",
        "--max-plots",
        "0",
        "--fail-if-top",
        "1",
        "--features",
        "petal_width,petal_length",
    )
    assert result.exit_code == 1 and "gate failed: part0.csv:" in result.stderr
    index = json.loads((tmp_path / "r" / "index.json").read_text())
    assert all(entry["gates"] and not entry["gates"][0]["passed"] for entry in index["inputs"])


def test_format_options_of_explain(tmp_path: Path) -> None:
    common = ["explain", IRIS_MODEL, IRIS_DATA, "--out", tmp_path / "r", *COMMON]
    markdown = run_in_process(*common, "--format", "markdown")
    assert markdown.exit_code == 0, markdown.stderr
    as_json = json.loads(run_in_process(*common, "--format", "json").stdout)
    assert markdown.stdout.startswith(f"### xai explain: `iris.csv` (SHAP, {as_json['algorithm']})")
    assert "| rank | column | importance |" in markdown.stdout and "|---:|---|---:|" in markdown.stdout
    alias = json.loads(run_in_process(*common, "--json").stdout)
    assert as_json == alias and as_json["command"] == "explain"
    assert run_in_process(*common, "--json", "--format", "table").exit_code == 2
    assert run_in_process(*common, "--format", "yaml").exit_code == 2


def test_batch_summary_formats(tmp_path: Path) -> None:
    iris_folder(tmp_path / "inputs", 2)
    common = [
        "explain",
        IRIS_MODEL,
        tmp_path / "inputs",
        "--out",
        tmp_path / "r",
        "--label-column",
        "species",
    ]
    markdown = run_in_process(*common, "--max-plots", "0", "--format", "markdown")
    assert markdown.exit_code == 0, markdown.stderr
    assert markdown.stdout.startswith("### xai explain batch: 2 inputs (2 ok)")
    assert "| `part0.csv` | ok |" in markdown.stdout
    index = json.loads(run_in_process(*common, "--max-plots", "0", "--resume", "--json").stdout)
    assert index["counts"]["skipped"] == 2
