"""The command itself: version, help, lazy imports, ``python -m``."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import run_xai
from xai_cli import __version__


def test_version() -> None:
    result = run_xai("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"xai-cli {__version__}"


def test_help_lists_commands_and_exit_codes() -> None:
    result = run_xai("--help")
    assert result.exit_code == 0
    assert "explain" in result.stdout and "schema" in result.stdout
    text = " ".join(result.stdout.split())
    assert "3 bad input" in text and "4 model refused as unsafe" in text


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from xai_cli.cli import app\n"
        "CliRunner().invoke(app, ['--help'])\n"
        "CliRunner().invoke(app, ['explain', '--help'])\n"
        "heavy = ('shap', 'sklearn', 'matplotlib', 'torch', 'lime', 'pandas')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == ""


def test_usage_error_exit_code() -> None:
    result = run_xai("explain")
    assert result.exit_code == 2


def test_explaining_a_small_tree_does_not_load_shap(tmp_path) -> None:
    """A 4-column tree is enumerated exactly, without importing shap (and numba), the slowest import."""
    from tests.conftest import SAMPLES

    model, data = SAMPLES["iris"]
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from xai_cli.cli import app\n"
        f"result = CliRunner().invoke(app, ['explain', {str(model)!r}, {str(data)!r}, '--out', "
        f"{str(tmp_path)!r}, '--max-plots', '1', '--json'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print('loaded:' + ','.join(m for m in ('shap', 'numba') if m in sys.modules))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip().splitlines()[-1] == "loaded:"
