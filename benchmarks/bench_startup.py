"""Start-up: ``xai --help`` (target < 0.3 s) and ``xai explain`` on the iris sample end to end (< 3 s).

Both are whole processes, as a user runs them; the peer column holds the target. The note lists the
heaviest imports of the explain run (``python -X importtime``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import ROOT, best_command, quick_mode, record, xai_command

HELP_TARGET = 0.3
EXPLAIN_TARGET = 3.0
WATCHED_IMPORTS = ("sklearn", "pandas", "matplotlib", "scipy", "shap", "numba", "lime", "typer", "rich")


def heaviest_imports(argv: list[str]) -> str:
    """Import time spent in each watched package's own modules (``-X importtime`` self times)."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "xai_cli", *argv[1:]],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    totals: dict[str, float] = {}
    for line in completed.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*([\w.]+)", line)
        if match and match.group(2).split(".")[0] in WATCHED_IMPORTS:
            top = match.group(2).split(".")[0]
            totals[top] = totals.get(top, 0.0) + int(match.group(1)) / 1e6
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    loaded = ", ".join(f"{name} {secs:.2f} s" for name, secs in ranked) or "none"
    missing = [name for name in ("shap", "numba") if name not in totals]
    return f"import time in each package's own modules: {loaded}; not imported: {', '.join(missing) or '-'}"


def main() -> None:
    """Time the two commands."""
    times = 3 if quick_mode() else 5
    help_seconds = best_command(xai_command("--help"), times)
    record("start-up: xai --help", help_seconds, HELP_TARGET, "target", error="", note=f"best of {times}")
    model, data = ROOT / "sample_models" / "iris_tree.joblib", ROOT / "sample_data" / "iris.csv"
    with tempfile.TemporaryDirectory() as tmp:
        argv = xai_command("explain", model, data, "--out", Path(tmp) / "iris", "--quiet")
        explain_seconds = best_command(argv, times)
        record(
            "start-up: xai explain iris sample end to end (100 rows, 12 PNGs)",
            explain_seconds,
            EXPLAIN_TARGET,
            "target",
            note=f"best of {times}; {heaviest_imports(argv)}",
        )


if __name__ == "__main__":
    main()
