"""Streaming and batches: peak memory of ``--chunk-size`` on a 1M-row file, and batch workers.

Run from the repository root: ``python benchmarks/bench_batch.py`` (``--rows N`` for the large file,
default 1,000,000; ``--skip-batch`` to measure only the streaming). Prints tables to stdout and exits 0.

Streaming. A Parquet file of N rows x 8 numeric columns (seeded normal data) and a scikit-learn
GradientBoostingRegressor (20 trees of depth 3, so ``--algorithm auto`` picks TreeSHAP) are generated in a
temporary folder. Each measurement is one ``xai explain MODEL FILE --rows all --background 25`` in a
fresh process; its peak resident memory (``ru_maxrss`` of that child) and wall time are reported:
- streamed, ``--chunk-size 50000``, on all N rows and on the first N/10 rows;
- plain (no ``--chunk-size``: the whole attribution matrix and a per-row JSON in memory), on N/10 rows
  only (on N rows it needs several GB; its figure is extrapolated from the N/10 run, and says so);
- a 50-row run: the floor (Python and the libraries).

Batch workers. 8 CSV slices of the bundled credit data (exact SHAP of a Pipeline, 30 rows each) explained
as a directory, ``--jobs 1`` against ``--jobs 2`` (loky worker processes), wall time each; the reports are
identical either way (checked). The load average is printed: on a shared machine the speed-up is lower.
"""

from __future__ import annotations

import argparse
import filecmp
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def measure(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of ``command`` run in a fresh child process."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *command], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return int(done.stdout.strip()) / 1024, time.perf_counter() - start


def make_table(folder: Path, n_rows: int) -> tuple[Path, Path]:
    """The generated model and Parquet file."""
    import joblib
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(n_rows, 8)), columns=[f"x{i}" for i in range(8)])
    target = 2 * frame.x0 + np.sin(frame.x1) + frame.x2 * frame.x3
    model = GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0)
    model.fit(frame.iloc[:5000], target.iloc[:5000])
    joblib.dump(model, folder / "gbr.joblib")
    frame.to_parquet(folder / "rows.parquet", row_group_size=100_000)
    frame.iloc[: n_rows // 10].to_parquet(folder / "rows_tenth.parquet", row_group_size=100_000)
    frame.iloc[:50].to_parquet(folder / "rows_50.parquet")
    return folder / "gbr.joblib", folder / "rows.parquet"


def explain_command(model: Path, data: Path, out: Path, *options: str) -> list[str]:
    """The ``xai explain`` command line measured."""
    command = [sys.executable, "-m", "xai_cli", "explain", str(model), str(data), "--out", str(out)]
    return [*command, "--rows", "all", "--background", "25", "--max-plots", "1", "--quiet", *options]


def bench_streaming(n_rows: int, folder: Path) -> None:
    """Peak memory and time of streamed against plain runs; one table."""
    model, data = make_table(folder, n_rows)
    tenth = n_rows // 10
    rows = [
        (
            "floor: 50 rows, plain",
            50,
            measure(explain_command(model, folder / "rows_50.parquet", folder / "a")),
        ),
        (
            f"plain, {tenth:,} rows",
            tenth,
            measure(explain_command(model, folder / "rows_tenth.parquet", folder / "b")),
        ),
        (
            f"streamed --chunk-size 50000, {tenth:,} rows",
            tenth,
            measure(
                explain_command(model, folder / "rows_tenth.parquet", folder / "c", "--chunk-size", "50000")
            ),
        ),
        (
            f"streamed --chunk-size 50000, {n_rows:,} rows",
            n_rows,
            measure(explain_command(model, data, folder / "d", "--chunk-size", "50000")),
        ),
    ]
    floor = rows[0][2][0]
    print(f"Streaming: TreeSHAP (GradientBoostingRegressor, 20 trees) on {n_rows:,} rows x 8 columns")
    print(f"{'run':<44} {'rows':>11} {'peak RSS MiB':>13} {'above floor':>12} {'seconds':>8} {'rows/s':>9}")
    for name, count, (peak, seconds) in rows:
        print(
            f"{name:<44} {count:>11,} {peak:>13.0f} {peak - floor:>12.0f} "
            f"{seconds:>8.1f} {count / seconds:>9,.0f}"
        )
    plain_extra = rows[1][2][0] - floor
    streamed_extra = rows[3][2][0] - floor
    print(
        f"plain run above the floor, extrapolated to {n_rows:,} rows: ~{plain_extra * 10:,.0f} MiB "
        f"(10 x the {tenth:,}-row run); streamed {n_rows:,} rows: {streamed_extra:,.0f} MiB "
        f"-> {plain_extra * 10 / max(streamed_extra, 1):,.0f}x less"
    )
    report = pd.read_parquet(folder / "d" / "rows.parquet", columns=["row"])
    assert len(report) == n_rows, "the streamed run must cover every row"


def bench_batch(folder: Path) -> None:
    """Wall time of an 8-input directory with 1 and 2 worker processes; the reports must be identical."""
    credit = pd.read_csv(ROOT / "sample_data" / "credit.csv")
    (folder / "inputs").mkdir()
    names = [f"part{i}.csv" for i in range(8)]
    for i, name in enumerate(names):
        credit.iloc[i * 75 : (i + 1) * 75].to_csv(folder / "inputs" / name, index=False)
    model = ROOT / "sample_models" / "credit_pipeline.joblib"
    base = [sys.executable, "-m", "xai_cli", "explain", str(model), str(folder / "inputs")]
    base += ["--rows", "0:30", "--background", "30", "--max-plots", "2", "--quiet"]
    timings = {}
    for jobs in (1, 2):
        start = time.perf_counter()
        command = [*base, "--out", str(folder / f"jobs{jobs}"), "--jobs", str(jobs)]
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        timings[jobs] = time.perf_counter() - start
    same = all(
        filecmp.cmp(
            folder / "jobs1" / name / "explain.json", folder / "jobs2" / name / "explain.json", shallow=False
        )
        for name in names
    )
    print()
    print(
        "Batch: 8 CSV slices of the credit sample (exact SHAP on 30 rows each, 4 PNGs each) as one directory"
    )
    print(f"{'workers':<10} {'seconds':>8}")
    for jobs, seconds in timings.items():
        print(f"--jobs {jobs:<3} {seconds:>8.1f}")
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(
        f"speed-up of --jobs 2: {timings[1] / timings[2]:.2f}x; reports identical: {same}; "
        f"load average {load}"
    )


def main() -> None:
    """Parse the options, run the measurements, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the large file")
    parser.add_argument("--skip-batch", action="store_true", help="only the streaming measurement")
    parser.add_argument("--skip-streaming", action="store_true", help="only the batch-workers measurement")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xai-bench-batch-") as temp:
        if not options.skip_streaming:
            bench_streaming(options.rows, Path(temp))
        if not options.skip_batch:
            (Path(temp) / "batch").mkdir()
            bench_batch(Path(temp) / "batch")


if __name__ == "__main__":
    main()
