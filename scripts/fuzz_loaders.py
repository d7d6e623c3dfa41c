"""Fuzz the model loaders and scanners with mutated bytes of real model files.

    python scripts/fuzz_loaders.py --iterations 20000 [--seed 0] [--failures DIR]

Every mutated file goes through ``load_model`` (the loader ``xai explain`` uses, allow-list on),
``scan_model`` (``xai scan``) and, when it loads, one prediction on sample rows. The only
acceptable outcomes are success, InputError (exit 3) and UnsafeModelError (exit 4): any other
exception, an interpreter crash or an input that takes over --slow seconds is a failure, saved
under --failures. Work runs in forked chunks, so a crash is recorded and the run goes on.
Prints a summary and exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHUNK = 250


def _run_chunk(seeds: list[Path], start: int, count: int, seed: int, work: Path, slow: float) -> dict:
    """Run ``count`` inputs (numbered from ``start``); return the tallies and the failures."""
    import pandas as pd

    from tests.hostile.mutations import mutate
    from xai_cli.errors import InputError, UnsafeModelError
    from xai_cli.models.loader import load_model
    from xai_cli.models.scanning import scan_model

    rows = pd.read_csv(ROOT / "sample_data" / "iris.csv").drop(columns="species").head(10)
    tally: collections.Counter[str] = collections.Counter()
    failures = []
    slowest = 0.0
    for number in range(start, start + count):
        rng = random.Random(f"{seed}-{number}")
        source = rng.choice(seeds)
        path = work / f"input-{number}{source.suffix}"
        path.write_bytes(mutate(source.read_bytes(), rng))
        (work / "current").write_text(str(path))
        for stage in ("load", "scan"):
            began = time.monotonic()
            try:
                if stage == "load":
                    model = load_model(path)
                    tally["load: loaded"] += 1
                    if source.name.startswith(("tree", "iris")):
                        try:
                            model.predict(rows, model.default_output())
                            tally["predict: ok"] += 1
                        except Exception:
                            tally["predict: error (reported as bad input by explain)"] += 1
                else:
                    tally[f"scan: scanned, verdict {scan_model(path).verdict}"] += 1
            except UnsafeModelError:
                tally[f"{stage}: refused as unsafe (exit 4)"] += 1
            except InputError:
                tally[f"{stage}: bad input (exit 3)"] += 1
            except Exception as exc:
                tally[f"{stage}: UNEXPECTED {type(exc).__name__}"] += 1
                failures.append({"input": str(path), "stage": stage, "error": traceback.format_exc(limit=4)})
            elapsed = time.monotonic() - began
            slowest = max(slowest, elapsed)
            if elapsed > slow:
                failures.append({"input": str(path), "stage": stage, "error": f"took {elapsed:.1f} s"})
        if not any(f["input"] == str(path) for f in failures):
            path.unlink()
    return {"tally": dict(tally), "failures": failures, "slowest": slowest}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000, help="mutated files to try")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--failures", type=Path, default=None, help="where to keep failing inputs")
    parser.add_argument("--slow", type=float, default=10.0, help="seconds after which an input fails")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")

    from tests.hostile.mutations import seed_files

    work = Path(tempfile.mkdtemp(prefix="xai-fuzz-"))
    seeds = seed_files(work / "seeds")
    failures_dir = args.failures or work / "failures"
    failures_dir.mkdir(parents=True, exist_ok=True)
    tally: collections.Counter[str] = collections.Counter()
    failures: list[dict] = []
    slowest = 0.0
    started = time.monotonic()
    for start in range(0, args.iterations, CHUNK):
        count = min(CHUNK, args.iterations - start)
        report = work / "chunk.json"
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                report.write_text(json.dumps(_run_chunk(seeds, start, count, args.seed, work, args.slow)))
            except BaseException:
                traceback.print_exc()
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status) or not report.exists():
            current = Path((work / "current").read_text())
            failures.append({"input": str(current), "stage": "any", "error": f"interpreter died ({status})"})
            tally["CRASHED"] += 1
            continue
        result = json.loads(report.read_text())
        report.unlink()
        tally.update(result["tally"])
        failures += result["failures"]
        slowest = max(slowest, result["slowest"])
    for failure in failures:
        source = Path(failure["input"])
        if source.exists():
            shutil.copy(source, failures_dir / source.name)
    print(f"tried {args.iterations} mutated model files from {len(seeds)} real ones (seed {args.seed}) "
          f"in {time.monotonic() - started:.0f} s; slowest single step {slowest:.2f} s")  # fmt: skip
    for outcome, number in sorted(tally.items()):
        print(f"  {number:7d}  {outcome}")
    print(f"{len(failures)} failure(s)" + (f"; inputs kept in {failures_dir}" if failures else ""))
    for failure in failures[:10]:
        print(f"--- {failure['input']} ({failure['stage']})\n{failure['error']}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
