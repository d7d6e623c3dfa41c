"""--timeout: a model that hangs is stopped, reported in one line (exit 3), and leaves no report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, SAMPLES, run_in_process, run_xai
from tests.models.sleepy import save_sleepy_tree
from xai_cli.errors import InputError
from xai_cli.reports.writer import STAGING_PREFIX
from xai_cli.run.limits import run_with_timeout

IRIS_MODEL, IRIS_DATA = SAMPLES["iris"]
QUICK = ("--label-column", "species", "--rows", "0:3", "--background", "10", "--max-plots", "1")


def staging_left(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(STAGING_PREFIX)] if folder.exists() else []


@pytest.fixture
def earlier_report(tmp_path: Path) -> Path:
    """A report folder that already holds a complete report (and a file of the user's)."""
    out = tmp_path / "out"
    assert run_in_process("explain", IRIS_MODEL, IRIS_DATA, *QUICK, "--out", out).exit_code == 0
    (out / "notes.txt").write_text("mine")
    return out


def test_a_model_that_hangs_is_stopped(tmp_path: Path, earlier_report: Path) -> None:
    model = save_sleepy_tree(IRIS_DATA, tmp_path / "sleepy.joblib", sleep_seconds=600)
    before = {p.name: p.read_bytes() for p in earlier_report.iterdir()}
    started = time.monotonic()
    result = run_in_process(
        "explain", model, IRIS_DATA, *QUICK, "--trust-model", "--timeout", "1.5", "--out", earlier_report
    )
    assert time.monotonic() - started < 30
    assert result.exit_code == 3
    assert result.stderr.strip() == (
        f"error: {IRIS_DATA} (model {model}): stopped after 1.5 s (--timeout 1.5); no report was written; "
        "allow more time or explain fewer --rows"
    )
    assert {p.name: p.read_bytes() for p in earlier_report.iterdir()} == before
    assert staging_left(earlier_report) == []


def test_as_a_user_runs_it(tmp_path: Path) -> None:
    model = save_sleepy_tree(IRIS_DATA, tmp_path / "sleepy.joblib", sleep_seconds=600)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = run_xai(
        "explain",
        model,
        IRIS_DATA,
        *QUICK,
        "--trust-model",
        "--timeout",
        "2",
        "--out",
        tmp_path / "o",
        env=env,
    )
    assert result.exit_code == 3, result.stderr
    assert "stopped after 2 s (--timeout 2)" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists() or staging_left(tmp_path / "o") == []
    assert not (tmp_path / "o" / "explain.json").exists()


def test_within_the_limit_the_report_is_the_same(tmp_path: Path) -> None:
    plain = run_in_process("explain", IRIS_MODEL, IRIS_DATA, *QUICK, "--out", tmp_path / "a")
    limited = run_in_process(
        "explain", IRIS_MODEL, IRIS_DATA, *QUICK, "--timeout", "300", "--out", tmp_path / "b"
    )
    assert plain.exit_code == limited.exit_code == 0, limited.stderr
    assert (tmp_path / "a" / "explain.json").read_bytes() == (tmp_path / "b" / "explain.json").read_bytes()
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(
        p.name for p in (tmp_path / "a").iterdir()
    )
    assert limited.stdout == plain.stdout.replace(str(tmp_path / "a"), str(tmp_path / "b"))


def test_errors_inside_the_limit_are_the_usual_ones(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    for extra in ((), ("--timeout", "300")):
        result = run_in_process("explain", IRIS_MODEL, tmp_path / "bad.csv", "--out", tmp_path / "o", *extra)
        assert result.exit_code == 3
        assert "missing column(s) 'sepal_length'" in result.stderr
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"\x80\x04cposix\nsystem\n\x8c\x04true\x85R.")
    result = run_in_process("explain", evil, IRIS_DATA, "--timeout", "300", "--out", tmp_path / "o")
    assert result.exit_code == 4 and "'posix.system'" in result.stderr


def test_the_whole_process_group_is_stopped(tmp_path: Path) -> None:
    """A model that started processes of its own: they are stopped with it."""
    pid_file = tmp_path / "pid"

    def start_and_hang() -> None:
        child = subprocess.Popen(["sleep", "600"])
        pid_file.write_text(str(child.pid))
        time.sleep(600)

    with pytest.raises(InputError, match=r"^work: stopped after 1 s"):
        run_with_timeout(start_and_hang, 1, "work")
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


def test_a_worker_that_dies_is_reported() -> None:
    with pytest.raises(InputError, match=r"^work: the worker process died \(killed by SIGKILL\)"):
        run_with_timeout(lambda: os.kill(os.getpid(), signal.SIGKILL), 60, "work")


def test_values_and_exceptions_come_back() -> None:
    assert run_with_timeout(lambda: {"a": [1, 2.5]}, 60, "work") == {"a": [1, 2.5]}

    def fails() -> None:
        raise ValueError("bad value")

    with pytest.raises(ValueError, match="bad value") as info:
        run_with_timeout(fails, 60, "work")
    assert any("in the --timeout worker process" in note for note in info.value.__notes__)
    assert run_with_timeout(lambda: 7, None, "work") == 7


def test_after_an_openmp_model_ran_in_this_process(tmp_path: Path) -> None:
    """A batch driver (or this test process) that already ran HistGradientBoosting: the forked
    worker must not wait for ever on GNU OpenMP's thread pool."""
    import warnings

    import joblib

    model_path, data_path = SAMPLES["credit"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = pd.read_csv(data_path).head(50)
        joblib.load(model_path).predict_proba(rows.drop(columns="decision"))
    result = run_in_process(
        "explain", model_path, data_path, "--rows", "0:2", "--background", "5", "--max-plots", "0",
        "--timeout", "60", "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr


def test_in_a_batch_the_slow_input_is_stopped_and_the_others_are_done(tmp_path: Path) -> None:
    """xai explain MODEL DIR --timeout S: the input that hangs is listed as failed, exit 5."""
    model = save_sleepy_tree(IRIS_DATA, tmp_path / "sleepy.joblib", sleep_seconds=600, sleep_above=100.0)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    frame = pd.read_csv(IRIS_DATA)
    frame.to_csv(inputs / "fast.csv", index=False)
    frame.assign(sepal_length=frame.sepal_length.where(frame.index != 1, 1000.0)).to_csv(
        inputs / "slow.csv", index=False
    )
    out = tmp_path / "out"
    result = run_xai("explain", model, inputs, *QUICK, "--out", out, "--timeout", "30", "--trust-model")
    assert result.exit_code == 5, result.stderr
    index = json.loads((out / "index.json").read_text())
    status = {Path(entry["input"]).name: entry for entry in index["inputs"]}
    assert status["fast.csv"]["status"] == "ok"
    assert status["slow.csv"]["status"] == "failed" and "30" in status["slow.csv"]["error"]
    assert (out / "fast.csv" / "explain.json").exists()
    assert not (out / "slow.csv" / "explain.json").exists()
