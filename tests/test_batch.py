"""`xai explain MODEL DIR`: one report per input, an index, failures listed, resume, kill -9 safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.batch_helpers import IRIS_MODEL, iris_folder, visible_leftovers
from tests.conftest import run_in_process
from xai_cli.batch.inputs import discover_inputs, report_folder_name
from xai_cli.batch.layout import remove_leftovers

FAST = ["--label-column", "species", "--max-plots", "1", "--background", "20"]


def complete_reports(out: Path) -> list[Path]:
    """The explain.json of every published report folder (staging folders are hidden)."""
    return [path for path in out.glob("*/explain.json") if not path.parent.name.startswith(".")]


def test_directory_gives_one_report_per_input_and_an_index(tmp_path: Path) -> None:
    names = iris_folder(tmp_path / "inputs", 3)
    (tmp_path / "inputs" / "README.txt").write_text("not a table")
    out = tmp_path / "reports"
    result = run_in_process("explain", IRIS_MODEL, tmp_path / "inputs", "--out", out, *FAST)
    assert result.exit_code == 0, result.stderr
    index = json.loads((out / "index.json").read_text())
    assert [entry["name"] for entry in index["inputs"]] == names, "sorted; README.txt is not an input"
    assert index["counts"] == {"ok": 3, "skipped": 0, "failed": 0, "pending": 0}
    assert index["command"] == "explain" and index["report_kind"] == "batch-index"
    assert index["model"]["estimator"] == "DecisionTreeClassifier"
    for entry in index["inputs"]:
        report = json.loads((out / entry["report"]).read_text())
        assert report["data"]["path"] == str(tmp_path / "inputs" / entry["name"])
        assert entry["headline"]["rows_explained"] == len(report["rows"]) == 30
        assert list(entry["headline"]["top_features"]) == list(report["global_importance"])[:3]
        assert (out / entry["folder"] / "global_importance.png").is_file()
    assert (out / "index.html").is_file()
    assert "part0.csv" in result.stdout and "ok" in result.stdout
    assert visible_leftovers(out) == []


def test_a_failing_input_is_listed_and_exits_5(tmp_path: Path) -> None:
    iris_folder(tmp_path / "inputs", 2)
    (tmp_path / "inputs" / "broken.csv").write_text("sepal_length,species\nnot-a-number,setosa\n")
    out = tmp_path / "reports"
    result = run_in_process("explain", IRIS_MODEL, tmp_path / "inputs", "--out", out, *FAST)
    assert result.exit_code == 5
    assert "1 of 3 inputs failed (broken.csv)" in result.stderr
    index = json.loads((out / "index.json").read_text())
    broken = next(entry for entry in index["inputs"] if entry["name"] == "broken.csv")
    assert broken["status"] == "failed" and broken["report"] is None
    assert "missing column(s)" in broken["error"] and "broken.csv" in broken["error"]
    assert not (out / broken["folder"]).exists(), "no half-written report for a failed input"
    assert index["counts"]["ok"] == 2


def test_resume_skips_complete_reports_and_leaves_them_untouched(tmp_path: Path) -> None:
    iris_folder(tmp_path / "inputs", 2)
    out = tmp_path / "reports"
    assert run_in_process("explain", IRIS_MODEL, tmp_path / "inputs", "--out", out, *FAST).exit_code == 0
    first = out / "part0.csv" / "explain.json"
    before = first.stat().st_mtime_ns
    iris_folder(tmp_path / "inputs", 3)
    result = run_in_process("explain", IRIS_MODEL, tmp_path / "inputs", "--out", out, *FAST, "--resume")
    assert result.exit_code == 0, result.stderr
    index = json.loads((out / "index.json").read_text())
    assert [entry["status"] for entry in index["inputs"]] == ["skipped", "skipped", "ok"]
    assert index["inputs"][0]["headline"]["rows_explained"] == 30
    assert first.stat().st_mtime_ns == before


def test_kill_9_mid_run_then_resume_finishes_the_set(tmp_path: Path) -> None:
    """SIGKILL while reports are being written; --resume completes the rest and redoes nothing."""
    names = iris_folder(tmp_path / "inputs", 6)
    out = tmp_path / "reports"
    command = [sys.executable, "-m", "xai_cli", "explain", IRIS_MODEL, tmp_path / "inputs", "--out", out]
    command += ["--label-column", "species", "--max-plots", "3", "--background", "20", "--html"]
    process = subprocess.Popen(list(map(str, command)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            done = complete_reports(out)
            staging = list(out.glob(".xai-staging-*"))
            if len(done) >= 2 and staging:
                break
            time.sleep(0.01)
        assert process.poll() is None, "the batch finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    complete = {path.parent.name: path.stat().st_mtime_ns for path in complete_reports(out)}
    assert 2 <= len(complete) < len(names)
    for folder in out.iterdir():
        if not folder.name.startswith("."):
            assert (folder / "explain.json").is_file(), f"{folder.name}: a report folder without its JSON"

    result = run_in_process(
        "explain",
        IRIS_MODEL,
        tmp_path / "inputs",
        "--out",
        out,
        *FAST[:2],
        "--background",
        "20",
        "--max-plots",
        "3",
        "--html",
        "--resume",
    )
    assert result.exit_code == 0, result.stderr
    index = json.loads((out / "index.json").read_text())
    statuses = {entry["folder"]: entry["status"] for entry in index["inputs"]}
    assert statuses == {name: ("skipped" if name in complete else "ok") for name in names}
    for folder, mtime in complete.items():
        assert (out / folder / "explain.json").stat().st_mtime_ns == mtime, f"{folder} was redone"
    assert visible_leftovers(out) == []
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, "index.html", "index.json"])


def test_sigint_stops_cleanly_with_a_summary(tmp_path: Path) -> None:
    iris_folder(tmp_path / "inputs", 8)
    out = tmp_path / "reports"
    command = [
        sys.executable,
        "-m",
        "xai_cli",
        "explain",
        IRIS_MODEL,
        tmp_path / "inputs",
        "--out",
        out,
        *FAST,
    ]
    process = subprocess.Popen(
        list(map(str, command)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and not complete_reports(out):
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted:" in stderr and "rerun with --resume" in stderr
    index = json.loads((out / "index.json").read_text())
    assert index["counts"]["pending"] > 0 and index["counts"]["ok"] >= 1
    assert "pending" in stdout
    assert visible_leftovers(out) == []


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("jan.csv", "jan.csv"),
        ("../x.csv", "x.csv"),
        ("/etc/passwd", "etc__passwd"),
        ("sub/dir/x.csv", "sub__dir__x.csv"),
        (".hidden.csv", "hidden.csv"),
        ("a b;$(rm -rf).csv", "a_b_rm_-rf_.csv"),
        ("..", "input"),
        ("index.json", "index.json_"),
        ("données été.csv", "données_été.csv"),
    ],
)
def test_report_folder_names_stay_inside_out(relative: str, expected: str, tmp_path: Path) -> None:
    name = report_folder_name(relative)
    assert name == expected
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()


def test_inputs_are_sorted_filtered_and_get_distinct_folders(tmp_path: Path) -> None:
    data = tmp_path / "in"
    (data / "sub").mkdir(parents=True)
    for name in ("b.csv", "a.parquet", "a?.csv", "a_.csv", ".hidden.csv", "sub/c.csv", "notes.txt"):
        (data / name).write_text("x\n1\n")
    found = discover_inputs(data, frozenset({".csv", ".parquet"}), None, tmp_path / "out", "tables")
    assert [item.relative for item in found] == ["a.parquet", "a?.csv", "a_.csv", "b.csv"]
    folders = [item.folder for item in found]
    assert len(set(folders)) == len(folders) and folders[1].startswith("a_.csv-")
    recursive = discover_inputs(data, frozenset({".csv"}), "**/*.csv", tmp_path / "out", "tables")
    assert "sub/c.csv" in [item.relative for item in recursive]
    assert "sub__c.csv" in [item.folder for item in recursive]


def test_reports_inside_the_input_folder_are_not_inputs(tmp_path: Path) -> None:
    data = tmp_path / "in"
    iris_folder(data, 1)
    (data / "reports" / "old").mkdir(parents=True)
    (data / "reports" / "old" / "leftover.csv").write_text("x\n1\n")
    found = discover_inputs(data, frozenset({".csv"}), "**/*.csv", data / "reports", "tables")
    assert [item.relative for item in found] == ["part0.csv"]


def test_leftover_cleanup_removes_only_our_hidden_names(tmp_path: Path) -> None:
    (tmp_path / ".xai-staging-part0.csv-abc").mkdir()
    (tmp_path / ".xai-staging-part0.csv-abc" / "beeswarm.png").write_bytes(b"png")
    (tmp_path / ".xai-old-part1.csv-def").mkdir()
    (tmp_path / ".index.json.x1y2.tmp").write_text("{")
    (tmp_path / ".my-editor.tmp").write_text("keep")
    (tmp_path / "part0.csv").mkdir()
    removed = remove_leftovers(tmp_path)
    assert len(removed) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [".my-editor.tmp", "part0.csv"]


def test_empty_folder_and_single_file_options(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_in_process("explain", IRIS_MODEL, tmp_path / "empty", "--out", tmp_path / "r")
    assert result.exit_code == 3
    assert "no CSV or Parquet files" in result.stderr and "--glob" in result.stderr
    iris_folder(tmp_path / "one", 1)
    single = run_in_process("explain", IRIS_MODEL, tmp_path / "one" / "part0.csv", "--jobs", "2")
    assert single.exit_code == 2 and "--jobs applies when DATA is a directory" in single.stderr


def test_unsafe_or_missing_model_fails_the_batch_before_any_input(tmp_path: Path) -> None:
    iris_folder(tmp_path / "inputs", 2)
    result = run_in_process("explain", tmp_path / "nope.joblib", tmp_path / "inputs", "--out", tmp_path / "r")
    assert result.exit_code == 3 and "nope.joblib" in result.stderr
    assert not (tmp_path / "r" / "index.json").exists()


def test_backends_fail_clearly(tmp_path: Path) -> None:
    iris_folder(tmp_path / "inputs", 1)
    common = ["explain", IRIS_MODEL, tmp_path / "inputs", "--out", tmp_path / "r"]
    bad = run_in_process(*common, "--backend", "spark://x")
    assert bad.exit_code == 2 and "dask://HOST:PORT or ray://HOST:PORT" in bad.stderr
    try:
        import ray  # noqa: F401
    except ImportError:
        missing = run_in_process(*common, "--backend", "ray://127.0.0.1:10001")
        assert missing.exit_code == 2
        assert "Ray is not installed" in missing.stderr and "pip install 'ray[default]'" in missing.stderr


def test_parallel_jobs_give_the_same_reports(tmp_path: Path) -> None:
    iris_folder(tmp_path / "inputs", 3)
    one = run_in_process("explain", IRIS_MODEL, tmp_path / "inputs", "--out", tmp_path / "one", *FAST)
    two = run_in_process(
        "explain", IRIS_MODEL, tmp_path / "inputs", "--out", tmp_path / "two", *FAST, "--jobs", "2"
    )
    assert one.exit_code == two.exit_code == 0, two.stderr
    for name in ("index.json", "part0.csv/explain.json", "part2.csv/explain.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
