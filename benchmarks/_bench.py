"""Shared helpers of the benchmark scripts: timing, recording results, running commands, the cache.

The protocol that ``benchmarks/run.py`` relies on (any ``benchmarks/bench_*.py`` may follow it):

* ``python benchmarks/bench_NAME.py [--quick]``; ``--quick`` is a short run (fewer rows, one repeat).
* Each measured task is one JSON object with the keys ``task``, ``xai_seconds``, ``peer_seconds``,
  ``ratio`` (peer / xai, so > 1 means xai is faster), ``error`` (text: what was compared and how far),
  ``peer`` (the peer and its version) and ``note``. It is appended as one line to the file named by the
  environment variable ``XAI_BENCH_RESULTS`` when set, and printed on stdout as a line starting with
  ``BENCH `` followed by the JSON (the runner reads either).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache"
RESULTS_ENV = "XAI_BENCH_RESULTS"


def quick_mode() -> bool:
    """True when the script was started with ``--quick``."""
    return "--quick" in sys.argv[1:]


def repeats() -> int:
    """Timings are the best of this many runs (the machine may be shared)."""
    return 1 if quick_mode() else 3


def best_of(action: Callable[[], Any], times: int | None = None) -> tuple[float, Any]:
    """The shortest wall time of ``times`` runs of ``action`` and the last run's result."""
    best, result = float("inf"), None
    for _ in range(times or repeats()):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def run_command(argv: Sequence[str], cwd: Path = ROOT) -> float:
    """Run a command to completion (it must succeed) and return its wall time in seconds."""
    start = time.perf_counter()
    completed = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return elapsed


def best_command(argv: Sequence[str], times: int | None = None) -> float:
    """Best wall time of ``times`` runs of a command."""
    return min(run_command(argv) for _ in range(times or repeats()))


def xai_command(*args: object) -> list[str]:
    """The ``xai`` console script of this interpreter's environment, with arguments."""
    script = Path(sys.executable).with_name("xai")
    return [str(script), *map(str, args)]


def record(
    task: str,
    xai_seconds: float,
    peer_seconds: float | None,
    peer: str,
    error: str = "",
    note: str = "",
) -> dict[str, Any]:
    """Report one measured task (see the module docstring for where it goes)."""
    entry = {
        "task": task,
        "xai_seconds": round(xai_seconds, 4),
        "peer_seconds": None if peer_seconds is None else round(peer_seconds, 4),
        "ratio": None if not peer_seconds else round(peer_seconds / xai_seconds, 2),
        "error": error,
        "peer": peer,
        "note": note,
    }
    line = json.dumps(entry)
    print(f"BENCH {line}", flush=True)
    target = os.environ.get(RESULTS_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    return entry


def version(package: str) -> str:
    """An installed package's version."""
    from importlib.metadata import version as installed

    return installed(package)


def relative_error(estimate: Any, reference: Any) -> float:
    """mean |estimate - reference| / mean |reference| (the issue's error measure)."""
    import numpy as np

    estimate, reference = np.asarray(estimate, dtype=float), np.asarray(reference, dtype=float)
    return float(np.abs(estimate - reference).mean() / np.abs(reference).mean())


def attributions(report_path: Path) -> Any:
    """The (rows, columns) attributions of an explain.json, in its column order."""
    import numpy as np

    report = json.loads(report_path.read_text())
    names = report["feature_names"]
    return np.array([[row["attributions"][n] for n in names] for row in report["rows"]])
