"""Shared fixtures: the bundled samples and a way to run ``xai`` as a user would."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_MODELS = ROOT / "sample_models"
SAMPLE_DATA = ROOT / "sample_data"

SAMPLES = {
    "iris": (SAMPLE_MODELS / "iris_tree.joblib", SAMPLE_DATA / "iris.csv"),
    "breast_cancer": (SAMPLE_MODELS / "breast_cancer_forest.joblib", SAMPLE_DATA / "breast_cancer.csv"),
    "wine": (SAMPLE_MODELS / "wine_logreg.joblib", SAMPLE_DATA / "wine.csv"),
    "credit": (SAMPLE_MODELS / "credit_pipeline.joblib", SAMPLE_DATA / "credit.csv"),
}


@dataclass
class CliResult:
    """What a user sees: exit code, stdout, stderr."""

    exit_code: int
    stdout: str
    stderr: str


def run_xai(*args: object, cwd: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
    """Run ``python -m xai_cli ARGS`` in a subprocess, exactly as from a terminal."""
    completed = subprocess.run(
        [sys.executable, "-m", "xai_cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def run_in_process(*args: object) -> CliResult:
    """Run the typer app in this process (faster, for the many small error cases)."""
    from typer.testing import CliRunner

    from xai_cli.cli import STATE, app

    STATE["debug"] = False
    result = CliRunner().invoke(app, [str(a) for a in args])
    return CliResult(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def credit() -> tuple[Path, Path]:
    """The credit Pipeline and its CSV."""
    return SAMPLES["credit"]


@pytest.fixture
def iris() -> tuple[Path, Path]:
    """The iris tree and its CSV."""
    return SAMPLES["iris"]
