"""Run every ``benchmarks/bench_*.py`` and print one table: task, xai time, peer time, ratio, error, peer.

Usage: ``python benchmarks/run.py [--quick] [--json results.json] [--only NAME ...]``. Each script runs
as its own subprocess (``python benchmarks/bench_NAME.py [--quick]``) and reports its tasks as JSON lines
(protocol in benchmarks/_bench.py); a script that fails, or reports nothing, gets a row saying so and the
tail of its output. Ratio = peer time / xai time, so above 1 means xai is faster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _bench import RESULTS_ENV  # noqa: E402


def machine() -> str:
    """CPU model, core count and memory of this machine, in one line."""
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kilobytes = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory = f", {kilobytes / 1024**2:.0f} GiB RAM"
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{model}, {os.cpu_count()} cores{memory}{load}; Python {platform.python_version()}"


def run_script(script: Path, quick: bool) -> tuple[list[dict[str, Any]], str, int, float]:
    """Run one benchmark script; return its records, the tail of its output, exit code and wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results.jsonl"
        env = {**os.environ, RESULTS_ENV: str(results)}
        argv = [sys.executable, str(script), *(["--quick"] if quick else [])]
        start = time.perf_counter()
        completed = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=HERE.parent)
        if quick and completed.returncode == 2 and "--quick" in completed.stderr:
            # A script without a quick mode: run it as it is.
            completed = subprocess.run(argv[:2], capture_output=True, text=True, env=env, cwd=HERE.parent)
        elapsed = time.perf_counter() - start
        lines = results.read_text().splitlines() if results.exists() else []
    if not lines:  # the script may print its records instead of writing the file
        lines = [line[len("BENCH ") :] for line in completed.stdout.splitlines() if line.startswith("BENCH ")]
    records = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "task" in entry:
            entry.setdefault("script", script.name)
            records.append(entry)
    tail = (completed.stdout + completed.stderr)[-1500:]
    return records, tail, completed.returncode, elapsed


def seconds(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_table(records: list[dict[str, Any]]) -> None:
    """A plain-text table that reads in a terminal and pastes into Markdown."""
    header = ["task", "xai s", "peer s", "ratio", "error", "peer"]
    rows = [
        [
            str(r.get("task", "")),
            seconds(r.get("xai_seconds")),
            seconds(r.get("peer_seconds")),
            "-" if r.get("ratio") is None else f"{r['ratio']:.2f}x",
            str(r.get("error", "")),
            str(r.get("peer", "")),
        ]
        for r in records
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")
    notes = [(r["task"], r["note"]) for r in records if r.get("note")]
    if notes:
        print("\nnotes:")
        for task, note in notes:
            print(f"- {task}: {note}")


def main() -> int:
    """Run the scripts, print the table; exit 1 if a script failed."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs (fewer rows, one repeat)")
    parser.add_argument("--json", type=Path, help="also write all records to this JSON file")
    parser.add_argument("--only", nargs="+", help="script names to run, e.g. shap_lime startup")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    print(f"machine: {machine()}", flush=True)
    all_records: list[dict[str, Any]] = []
    failed = False
    for script in scripts:
        print(f"running {script.name}{' --quick' if args.quick else ''} ...", file=sys.stderr, flush=True)
        records, tail, code, elapsed = run_script(script, args.quick)
        print(f"  {len(records)} task(s), exit {code}, {elapsed:.0f} s", file=sys.stderr, flush=True)
        if code != 0 or not records:
            failed = failed or code != 0
            reason = f"exit {code}" if code != 0 else "reported no tasks"
            records.append(
                {"task": f"{script.name}: {reason}", "error": tail.strip().splitlines()[-1] if tail else ""}
            )
            print(tail, file=sys.stderr)
        all_records.extend(records)
    print()
    print_table(all_records)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "records": all_records}, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
