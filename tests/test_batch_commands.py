"""`xai rules|counterfactual MODEL DIR`: the batch machinery for the other tabular commands, their gates,
`--format` and `--resume`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.batch_helpers import IRIS_MODEL, iris_folder, validate, visible_leftovers
from tests.conftest import run_in_process

LABEL = ["--label-column", "species"]
FAST_CF = [*LABEL, "--row", "0", "-n", "1", "--max-evals", "300", "--max-plots", "1"]


def test_rules_over_a_directory_writes_one_report_each_and_lists_a_failure(tmp_path: Path) -> None:
    iris_folder(tmp_path / "inputs", 2)
    (tmp_path / "inputs" / "broken.csv").write_text("sepal_length,species\nnot-a-number,setosa\n")
    out = tmp_path / "reports"
    result = run_in_process("rules", IRIS_MODEL, tmp_path / "inputs", "--out", out, *LABEL, "--html")
    assert result.exit_code == 5, result.stderr
    assert "1 of 3 inputs failed (broken.csv)" in result.stderr
    index = json.loads((out / "index.json").read_text())
    validate(index, "index")
    assert index["command"] == "rules" and index["counts"]["ok"] == 2
    part0 = next(entry for entry in index["inputs"] if entry["name"] == "part0.csv")
    assert part0["report"] == "part0.csv/rules.json" and part0["html"] == "part0.csv/report.html"
    report = json.loads((out / part0["report"]).read_text())
    assert part0["headline"] == {
        "source": "tree",
        "rules": report["n_rules"],
        "fidelity_metric": "accuracy",
        "fidelity": report["fidelity"]["on_data"],
    }
    assert (out / "part0.csv" / "rules.txt").is_file() and (out / "index.html").is_file()
    assert visible_leftovers(out) == []


def test_rules_min_fidelity_gate_in_a_batch_and_resume(tmp_path: Path) -> None:
    iris_folder(tmp_path / "inputs", 2)
    out = tmp_path / "reports"
    passed = run_in_process(
        "rules", IRIS_MODEL, tmp_path / "inputs", "--out", out, *LABEL, "--min-fidelity", "0.9"
    )
    assert passed.exit_code == 0, passed.stderr
    before = (out / "part0.csv" / "rules.json").stat().st_mtime_ns
    failed = run_in_process(
        "rules", IRIS_MODEL, tmp_path / "inputs", "--out", out, *LABEL, "--resume", "--min-fidelity", "1.5"
    )
    assert failed.exit_code == 1, failed.stderr
    assert (
        "gate failed: part0.csv: fidelity on the data (exact tree) 1 is below the minimum 1.5"
        in failed.stderr
    )
    index = json.loads((out / "index.json").read_text())
    assert [entry["status"] for entry in index["inputs"]] == ["skipped", "skipped"]
    assert [gate["passed"] for entry in index["inputs"] for gate in entry["gates"]] == [False, False]
    assert (out / "part0.csv" / "rules.json").stat().st_mtime_ns == before, "resume left it untouched"


def test_rules_single_file_gate_writes_the_report_then_exits_1(tmp_path: Path) -> None:
    names = iris_folder(tmp_path / "inputs", 1)
    data = tmp_path / "inputs" / names[0]
    out = tmp_path / "report"
    result = run_in_process("rules", IRIS_MODEL, data, "--out", out, *LABEL, "--min-fidelity", "1.5")
    assert result.exit_code == 1
    assert "error: gate failed: fidelity on the data (exact tree) 1 is below the minimum 1.5" in result.stderr
    assert (out / "rules.json").is_file()
    markdown = run_in_process("rules", IRIS_MODEL, data, "--out", out, *LABEL, "--format", "markdown")
    assert markdown.exit_code == 0, markdown.stderr
    assert markdown.stdout.startswith("### xai rules: `part0.csv` (tree,")
    assert "| rule | if | then | coverage | precision |" in markdown.stdout
    as_json = run_in_process("rules", IRIS_MODEL, data, "--out", out, *LABEL, "--json")
    assert json.loads(as_json.stdout)["command"] == "rules"
    clash = run_in_process("rules", IRIS_MODEL, data, "--out", out, "--json", "--format", "table")
    assert clash.exit_code == 2 and "--json contradicts --format table" in clash.stderr


def test_counterfactual_over_a_directory_with_html_and_markdown(tmp_path: Path) -> None:
    iris_folder(tmp_path / "inputs", 2)
    out = tmp_path / "reports"
    result = run_in_process(
        "counterfactual",
        IRIS_MODEL,
        tmp_path / "inputs",
        "--out",
        out,
        *FAST_CF,
        "--html",
        "--format",
        "markdown",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("### xai counterfactual batch: 2 inputs (2 ok)")
    index = json.loads((out / "index.json").read_text())
    validate(index, "index")
    for entry in index["inputs"]:
        report = json.loads((out / entry["report"]).read_text())
        validate(report, "counterfactual")
        assert entry["headline"]["rows"] == 1 and entry["headline"]["found"] == report["summary"]["found"]
        assert (out / entry["html"]).is_file()


def test_counterfactual_single_file_markdown_and_resume(tmp_path: Path) -> None:
    names = iris_folder(tmp_path / "inputs", 1)
    data = tmp_path / "inputs" / names[0]
    out = tmp_path / "report"
    first = run_in_process("counterfactual", IRIS_MODEL, data, "--out", out, *FAST_CF, "--format", "markdown")
    assert first.exit_code == 0, first.stderr
    assert "| row | was | # | changes | now | changed | distance |" in first.stdout
    before = (out / "counterfactual.json").stat().st_mtime_ns
    again = run_in_process("counterfactual", IRIS_MODEL, data, "--out", out, *FAST_CF, "--resume")
    assert again.exit_code == 0 and "--resume keeps it" in again.stderr
    assert (out / "counterfactual.json").stat().st_mtime_ns == before
