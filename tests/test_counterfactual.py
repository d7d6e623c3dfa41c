"""`xai counterfactual`: every counterfactual re-checked here against the model and every constraint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.conftest import SAMPLES, run_in_process, run_xai

CREDIT_INTEGER = ["age", "credit_history_years", "num_late_payments"]
CREDIT_CATEGORICAL = ["employment", "region", "home_ownership"]


def credit_data() -> pd.DataFrame:
    return pd.read_csv(SAMPLES["credit"][1]).drop(columns="decision")


def mad(values: pd.Series) -> float:
    """The test's own median absolute deviation (std when it is 0, as documented)."""
    numbers = values.to_numpy(dtype=float)
    spread = float(np.median(np.abs(numbers - np.median(numbers))))
    return spread if spread > 0 else float(np.std(numbers)) or 1.0


def check_counterfactuals(
    report: dict[str, Any],
    model: Any,
    data: pd.DataFrame,
    *,
    wanted: Any = None,
    immutable: tuple[str, ...] = (),
    increase: tuple[str, ...] = (),
    decrease: tuple[str, ...] = (),
    bounds: dict[str, tuple[float, float]] | None = None,
) -> int:
    """Re-predict every counterfactual with the saved model itself and check every constraint by hand.

    Returns how many counterfactuals were checked.
    """
    checked = 0
    bounds = bounds or {}
    for entry in report["rows"]:
        original = data.iloc[entry["row"]].to_dict()
        assert entry["original"]["values"] == pytest.approx(original)
        if entry["found"]:
            assert entry["counterfactuals"] and entry["closest_attempt"] is None
        for cf in entry["counterfactuals"]:
            checked += 1
            values = cf["values"]
            assert list(values) == list(data.columns)
            row = pd.DataFrame([values], columns=data.columns).astype(data.dtypes.to_dict())
            predicted = model.predict(row)[0]
            if wanted is None:
                assert predicted != entry["original"]["prediction"]
            else:
                assert predicted == wanted
            assert cf["valid"] is True and cf["prediction"] == predicted
            changed = {c for c in data.columns if values[c] != original[c]}
            assert set(cf["changes"]) == changed and cf["n_changed"] == len(changed) >= 1
            distance = 0.0
            for column in changed:
                before, after = original[column], values[column]
                assert cf["changes"][column] == {"from": before, "to": after}
                assert column not in immutable
                if column in CREDIT_CATEGORICAL or data[column].dtype == object:
                    assert after in set(data[column]), "categories only from the data"
                    distance += 1.0
                    continue
                if pd.api.types.is_integer_dtype(data[column]):
                    assert isinstance(after, int), f"{column} stays an integer"
                low, high = bounds.get(column, (data[column].min(), data[column].max()))
                assert low <= after <= high
                if column in increase:
                    assert after > before
                if column in decrease:
                    assert after < before
                distance += abs(after - before) / mad(data[column])
            assert cf["distance"] == pytest.approx(distance)
        changes = [json.dumps(cf["changes"], sort_keys=True) for cf in entry["counterfactuals"]]
        assert len(changes) == len(set(changes)), "no change repeated"
    return checked


def test_issue_example_on_credit(tmp_path: Path) -> None:
    model_path, data_path = SAMPLES["credit"]
    out = tmp_path / "cf"
    result = run_xai(
        "counterfactual", model_path, data_path, "--row", "12", "--target", "approved",
        "--immutable", "age,region", "--increase-only", "income", "-n", "3", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "approved" in result.stdout and "target reached for 1 of 1 row(s)" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["counterfactual.json", "counterfactual_row_12.png"]
    assert (out / "counterfactual_row_12.png").read_bytes().startswith(b"\x89PNG")
    report = json.loads((out / "counterfactual.json").read_text())
    assert report["command"] == "counterfactual" and report["target"] == {
        "kind": "class",
        "class": "approved",
    }
    entry = report["rows"][0]
    assert entry["status"] == "found" and entry["original"]["prediction"] == "declined"
    assert len(entry["counterfactuals"]) == 3
    assert entry["evaluations"] <= report["settings"]["max_evals"]
    sizes = [cf["n_changed"] for cf in entry["counterfactuals"]]
    assert sizes == sorted(sizes) and sizes[0] == 1, "sparsest first; one change is enough here"
    column_sets = [frozenset(cf["changes"]) for cf in entry["counterfactuals"]]
    assert len(set(column_sets)) == 3, "diverse: each changes a different set of columns"
    assert report["constraints"]["immutable"] == ["age", "region"]
    assert report["constraints"]["integer_columns"] == CREDIT_INTEGER
    model = joblib.load(model_path)
    checked = check_counterfactuals(
        report, model, credit_data(), wanted="approved", immutable=("age", "region"), increase=("income",)
    )
    assert checked == 3


def test_many_rows_in_one_report_with_categories_and_integers(tmp_path: Path) -> None:
    model_path, data_path = SAMPLES["credit"]
    result = run_in_process(
        "counterfactual", model_path, data_path, "--rows", "0:6", "--decrease-only", "debt",
        "--range", "income=10000:60000", "--out", tmp_path, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [e["row"] for e in report["rows"]] == list(range(6))
    assert report["summary"]["found"] == 6 and report["target"]["kind"] == "other-class"
    assert report["constraints"]["ranges"] == {"income": [10000.0, 60000.0]}
    model = joblib.load(model_path)
    checked = check_counterfactuals(
        report, model, credit_data(), decrease=("debt",), bounds={"income": (10000.0, 60000.0)}
    )
    assert checked >= 15
    changed = {c for e in report["rows"] for cf in e["counterfactuals"] for c in cf["changes"]}
    assert changed & set(CREDIT_CATEGORICAL) and changed & set(CREDIT_INTEGER)
    assert len(list(tmp_path.glob("counterfactual_row_*.png"))) == 6


def test_random_forest_rows_are_all_valid(tmp_path: Path) -> None:
    model_path, data_path = SAMPLES["breast_cancer"]
    result = run_in_process(
        "counterfactual", model_path, data_path, "--rows", "0,1,19", "--label-column", "diagnosis",
        "--out", tmp_path, "--json", "--max-plots", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    data = pd.read_csv(data_path).drop(columns="diagnosis")
    assert check_counterfactuals(report, joblib.load(model_path), data) == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counterfactual.json", "counterfactual_row_0.png"]


def test_constraints_file_in_yaml_and_json_equals_the_options(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    model_path, data_path = SAMPLES["credit"]
    (tmp_path / "c.yaml").write_text(
        "immutable: [age, region]\nincrease-only: income\n"
        "ranges:\n  debt: '0:20000'\n  income: [null, 90000]\n"
    )
    (tmp_path / "c.json").write_text(
        json.dumps({"immutable": "age,region", "increase_only": ["income"],
                    "ranges": {"debt": [0, 20000], "income": {"max": 90000}}})
    )  # fmt: skip
    common = ("counterfactual", model_path, data_path, "--row", "12", "--json")
    via_yaml = run_in_process(*common, "--constraints", tmp_path / "c.yaml", "--out", tmp_path / "y")
    via_json = run_in_process(*common, "--constraints", tmp_path / "c.json", "--out", tmp_path / "j")
    via_options = run_in_process(
        *common, "--immutable", "age", "--immutable", "region", "--increase-only", "income",
        "--range", "debt=0:20000", "--range", "income=:90000", "--out", tmp_path / "o",
    )  # fmt: skip
    reports = [json.loads(r.stdout) for r in (via_yaml, via_json, via_options)]
    assert reports[0]["rows"] == reports[1]["rows"] == reports[2]["rows"]
    assert reports[0]["constraints"] == reports[2]["constraints"]
    check_counterfactuals(
        reports[0], joblib.load(model_path), credit_data(), immutable=("age", "region"), increase=("income",),
        bounds={"debt": (0, 20000), "income": (credit_data().income.min(), 90000)},
    )  # fmt: skip


def test_regressor_reaches_a_target_range(tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "size": rng.uniform(30, 200, 300).round(0),
            "rooms": rng.integers(1, 7, 300),
            "city": rng.choice(["oslo", "bergen", "tromso"], 300),
        }
    )
    price = (
        2 * frame["size"] + 25 * frame["rooms"] + frame["city"].map({"oslo": 150, "bergen": 60, "tromso": 0})
    )
    encode = ColumnTransformer([("city", OneHotEncoder(), ["city"])], remainder="passthrough")
    model = Pipeline([("encode", encode), ("forest", RandomForestRegressor(n_estimators=20, random_state=0))])
    model.fit(frame, price)
    joblib.dump(model, tmp_path / "price.joblib")
    frame.to_csv(tmp_path / "homes.csv", index=False)
    row = int(np.argmin(model.predict(frame)))
    result = run_in_process(
        "counterfactual", tmp_path / "price.joblib", tmp_path / "homes.csv", "--row", row,
        "--target-range", "300:", "--immutable", "size", "--out", tmp_path / "r", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["target"] == {"kind": "range", "low": 300.0, "high": None}
    entry = report["rows"][0]
    assert entry["found"] and entry["original"]["probability"] is None
    for cf in entry["counterfactuals"]:
        values = pd.DataFrame([cf["values"]]).astype(frame.dtypes.to_dict())
        assert model.predict(values)[0] >= 300 and cf["prediction"] == pytest.approx(model.predict(values)[0])
        assert "size" not in cf["changes"]
        if "rooms" in cf["changes"]:
            assert isinstance(cf["changes"]["rooms"]["to"], int) and 1 <= cf["changes"]["rooms"]["to"] <= 6
        if "city" in cf["changes"]:
            assert cf["changes"]["city"]["to"] in {"oslo", "bergen", "tromso"}


def test_require_found_fails_when_nothing_can_reach_the_target(tmp_path: Path) -> None:
    model_path, data_path = SAMPLES["credit"]
    fixed = "age,income,debt,credit_history_years,num_late_payments,employment,home_ownership"
    out = tmp_path / "cf"
    args = (
        "counterfactual",
        model_path,
        data_path,
        "--row",
        "3",
        "--target",
        "approved",
        "--immutable",
        fixed,
    )
    result = run_in_process(*args, "--require-found", "--out", out)
    assert result.exit_code == 1
    assert "error: no counterfactual found for row(s) 3" in result.stderr
    report = json.loads((out / "counterfactual.json").read_text())
    entry = report["rows"][0]
    assert entry["found"] is False and entry["status"] == "not-found" and entry["counterfactuals"] == []
    attempt = entry["closest_attempt"]
    assert attempt["valid"] is False and set(attempt["changes"]) == {"region"}
    model = joblib.load(model_path)
    assert model.predict(pd.DataFrame([attempt["values"]]))[0] == attempt["prediction"] == "declined"
    without_gate = run_in_process(*args, "--out", tmp_path / "plain")
    assert without_gate.exit_code == 0 and "target reached for 0 of 1 row(s)" in without_gate.stdout


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--row", "600"), "--row 600 is not a data row; the file has 600 data rows"),
        (("--row", "-2"), "--row -2 is not a data row"),
        (("--row", "1", "--immutable", "age,agee"), "--immutable: 'agee' is not an input column"),
        (("--row", "1", "--range", "salary=1:2"), "--range salary=1:2: 'salary' is not an input column"),
        (("--row", "1", "--increase-only", "debt", "--decrease-only", "debt"), "both increase-only and"),
        (("--row", "1", "--range", "income=9000:100"), "the range of 'income' is empty"),
        (("--row", "1", "--range", "region=1:2"), "'region' is a categorical column"),
        (("--row", "1", "--increase-only", "employment"), "no order to increase or decrease"),
        (("--row", "1", "--range", "income=lots"), "is not LO:HI"),
        (
            ("--row", "1", "--immutable", "age,income,debt,credit_history_years,num_late_payments",
             "--immutable", "employment,region,home_ownership"),
            "every column is immutable",
        ),
    ],
)  # fmt: skip
def test_bad_rows_and_constraints_are_bad_input(
    tmp_path: Path, options: tuple[str, ...], message: str
) -> None:
    model_path, data_path = SAMPLES["credit"]
    result = run_in_process("counterfactual", model_path, data_path, *options, "--out", tmp_path / "r")
    assert result.exit_code == 3, result.stderr
    assert result.stderr.startswith("error:") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "counterfactual.json").exists()


def test_unknown_column_in_a_constraints_file_names_the_file_and_key(tmp_path: Path) -> None:
    model_path, data_path = SAMPLES["credit"]
    (tmp_path / "c.json").write_text('{"immutable": ["age"], "decrease_only": ["debts"]}')
    (tmp_path / "k.json").write_text('{"frozen": ["age"]}')
    bad_column = run_in_process(
        "counterfactual",
        model_path,
        data_path,
        "--row",
        "1",
        "--constraints",
        tmp_path / "c.json",
        "--out",
        tmp_path,
    )
    assert bad_column.exit_code == 3
    assert f"{tmp_path / 'c.json'}: decrease_only: 'debts' is not an input column" in bad_column.stderr
    bad_key = run_in_process(
        "counterfactual",
        model_path,
        data_path,
        "--row",
        "1",
        "--constraints",
        tmp_path / "k.json",
        "--out",
        tmp_path,
    )
    assert bad_key.exit_code == 3 and "unknown key 'frozen'" in bad_key.stderr


def test_yaml_without_pyyaml_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from xai_cli.data.constraints import read_constraints_file
    from xai_cli.errors import InputError

    (tmp_path / "c.yaml").write_text("immutable: [age]\n")
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(InputError, match="pip install pyyaml"):
        read_constraints_file(tmp_path / "c.yaml")


def test_row_or_rows_is_required_and_regressor_options_are_checked(tmp_path: Path) -> None:
    model_path, data_path = SAMPLES["credit"]
    neither = run_in_process("counterfactual", model_path, data_path, "--out", tmp_path)
    assert neither.exit_code == 2 and "--row" in neither.stderr
    on_classifier = run_in_process(
        "counterfactual", model_path, data_path, "--row", "1", "--target-range", "0:1", "--out", tmp_path
    )
    assert on_classifier.exit_code == 2 and "--target-range applies to regressors" in on_classifier.stderr


def test_same_seed_gives_byte_identical_json(tmp_path: Path) -> None:
    model_path, data_path = SAMPLES["credit"]
    for name in ("a", "b"):
        result = run_in_process(
            "counterfactual", model_path, data_path, "--rows", "20:22", "--max-evals", "600", "--seed", "5",
            "--out", tmp_path / name,
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
    first = (tmp_path / "a" / "counterfactual.json").read_bytes()
    assert first == (tmp_path / "b" / "counterfactual.json").read_bytes()
    report = json.loads(first)
    assert all(e["evaluations"] <= 600 for e in report["rows"]), "--max-evals bounds the model evaluations"


def test_report_matches_its_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(run_in_process("schema", "counterfactual").stdout)
    model_path, data_path = SAMPLES["credit"]
    result = run_in_process(
        "counterfactual", model_path, data_path, "--rows", "3,12", "--out", tmp_path, "--json"
    )
    jsonschema.validate(json.loads(result.stdout), schema, cls=jsonschema.Draft202012Validator)


def test_new_commands_do_not_import_heavy_libraries_for_help() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from xai_cli.cli import app\n"
        "for command in ('rules', 'counterfactual'):\n"
        "    assert CliRunner().invoke(app, [command, '--help']).exit_code == 0\n"
        "print(','.join(m for m in ('sklearn', 'matplotlib', 'pandas', 'yaml') if m in sys.modules))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == ""


def test_a_row_gets_the_same_answer_alone_or_with_others(tmp_path: Path) -> None:
    model_path, data_path = SAMPLES["credit"]
    alone = run_in_process(
        "counterfactual", model_path, data_path, "--row", "12", "--out", tmp_path / "a", "--json"
    )
    together = run_in_process(
        "counterfactual", model_path, data_path, "--rows", "3,12,40", "--out", tmp_path / "b", "--json"
    )
    row_alone = json.loads(alone.stdout)["rows"][0]
    row_together = json.loads(together.stdout)["rows"][1]
    assert row_alone["row"] == row_together["row"] == 12
    assert row_alone == row_together
