"""The plot helper: a forked process that draws part of a report's PNGs; the files never depend on it."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_xai
from xai_cli.reports import plots
from xai_cli.reports.render import WORKERS_ENV, parallel_plots_available, plot_helper, render_plots

needs_helper = pytest.mark.skipif(not parallel_plots_available(), reason="needs Linux and two cores")


def waterfall_jobs(folder: Path, count: int) -> list:
    names = ["income", "age", "region"]
    return [
        partial(
            plots.waterfall_plot,
            names,
            np.array([0.3, -0.2, 0.1 * k]),
            {"income": 52000.0 + k, "age": 41, "region": "north"},
            0.3,
            0.5 + 0.1 * k,
            folder / f"waterfall_row_{k}.png",
            f"Row {k}",
            "P(approved)",
        )
        for k in range(count)
    ]


def failing_job() -> None:
    raise RuntimeError("this plot cannot be drawn")


@needs_helper
def test_the_helper_draws_the_same_files_as_this_process(tmp_path: Path) -> None:
    alone, helped = tmp_path / "alone", tmp_path / "helped"
    alone.mkdir()
    helped.mkdir()
    render_plots(waterfall_jobs(alone, 8))
    with plot_helper(8) as helper:
        assert helper is not None
        render_plots(waterfall_jobs(helped, 8), helper)
        assert helper.finished
    names = sorted(p.name for p in alone.iterdir())
    assert names == sorted(p.name for p in helped.iterdir()) and len(names) == 8
    for name in names:
        assert (alone / name).read_bytes() == (helped / name).read_bytes()


@needs_helper
def test_plots_the_helper_could_not_draw_are_drawn_here(tmp_path: Path) -> None:
    """A job that fails in the helper (or a helper that dies) is redrawn by this process, so the error
    a user sees is the real one, raised here."""
    jobs = waterfall_jobs(tmp_path, 6)
    jobs.insert(1, failing_job)
    with plot_helper(len(jobs)) as helper, pytest.raises(RuntimeError, match="cannot be drawn"):
        render_plots(jobs, helper)
    assert (tmp_path / "waterfall_row_0.png").exists()


@needs_helper
def test_a_helper_that_was_never_used_is_ended(tmp_path: Path) -> None:
    with plot_helper(12) as helper:
        assert helper is not None
        pid = helper.pid
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_no_plot_or_the_switch_draws_everything_here(monkeypatch: pytest.MonkeyPatch) -> None:
    with plot_helper(0) as helper:
        assert helper is None
    monkeypatch.setenv(WORKERS_ENV, "1")
    assert not parallel_plots_available()
    with plot_helper(12) as helper:
        assert helper is None


def test_explain_writes_the_same_report_with_and_without_the_helper(
    iris: tuple[Path, Path], tmp_path: Path
) -> None:
    model, data = iris
    helped = run_xai("explain", model, data, "--out", tmp_path / "helped", "--quiet")
    alone = run_xai(
        "explain", model, data, "--out", tmp_path / "alone", "--quiet", env={**os.environ, WORKERS_ENV: "1"}
    )
    assert helped.exit_code == alone.exit_code == 0, helped.stderr + alone.stderr
    names = sorted(p.name for p in (tmp_path / "helped").iterdir())
    assert len(names) == 13 and names == sorted(p.name for p in (tmp_path / "alone").iterdir())
    for name in names:
        assert (tmp_path / "helped" / name).read_bytes() == (tmp_path / "alone" / name).read_bytes(), name
