"""Counterfactuals: xai-cli's sparse beam search against DiCE's random and genetic methods.

Run from the repository root: ``python benchmarks/bench_counterfactual.py`` (options: ``--rows N``,
``--genetic-rows N``).
Prints one table to stdout and exits 0. DiCE is not a dependency of xai-cli; install it beside it with

    pip install --no-deps dice-ml==0.12 && pip install raiutils tqdm jsonschema

(``--no-deps`` because dice-ml lists xgboost and lightgbm, which it imports only for its own backends).
Without dice-ml the table has xai-cli's figures alone.

Both tools get the same bundled model, the same rows (the first N of the file), n = 3 counterfactuals per
row, the default target (the other class), and no constraints. Every counterfactual of both is scored here
the same way, by re-predicting it with the saved scikit-learn model itself:
- validity: valid counterfactuals returned / (3 x rows);
- sparsity: mean number of changed columns per valid counterfactual (lower is sparser);
- distance: mean over valid counterfactuals of sum |change| / MAD of the column (std when the MAD is 0),
  plus 1 per changed category;
- time: wall-clock seconds per row, and CPU seconds of the process per row, model already loaded, after
  one untimed warm-up call of each tool on the file's last row, both with model calls on one OpenMP/BLAS
  thread (xai-cli does this itself). xai-cli is timed twice: all rows in one call (as ``--rows`` runs) and
  one row per call (``--row I``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_COUNTERFACTUALS = 3
TASKS = {
    "credit": ("sample_models/credit_pipeline.joblib", "sample_data/credit.csv", "decision"),
    "breast_cancer": (
        "sample_models/breast_cancer_forest.joblib",
        "sample_data/breast_cancer.csv",
        "diagnosis",
    ),
}


@dataclass
class Scores:
    """What one tool achieved on one task."""

    seconds_per_row: float
    cpu_per_row: float
    validity: float
    sparsity: float
    distance: float


def scale_of(values: pd.Series) -> float:
    """The column's MAD; its standard deviation when the MAD is 0; else 1."""
    numbers = values.to_numpy(dtype=float)
    mad = float(np.median(np.abs(numbers - np.median(numbers))))
    return mad if mad > 0 else (float(np.std(numbers)) or 1.0)


def score(
    estimator: Any,
    data: pd.DataFrame,
    rows: list[int],
    found: list[list[dict[str, Any]]],
    timing: tuple[float, float],
) -> Scores:
    """Re-predict every counterfactual with the model and measure validity, sparsity and distance."""
    scales = {c: scale_of(data[c]) for c in data.columns if pd.api.types.is_numeric_dtype(data[c])}
    valid_count, changed, distances = 0, [], []
    originals = estimator.predict(data.iloc[rows])
    for row, label, candidates in zip(rows, originals, found, strict=True):
        if not candidates:
            continue
        table = pd.DataFrame(candidates, columns=data.columns).astype(data.dtypes.to_dict())
        predicted = estimator.predict(table)
        original = data.iloc[row]
        for values, new_label in zip(table.to_dict(orient="records"), predicted, strict=True):
            if new_label == label:
                continue
            valid_count += 1
            count, distance = 0, 0.0
            for column in data.columns:
                before, after = original[column], values[column]
                if column in scales:
                    if abs(float(after) - float(before)) > 1e-6 * max(1.0, abs(float(before))):
                        count += 1
                        distance += abs(float(after) - float(before)) / scales[column]
                elif after != before:
                    count += 1
                    distance += 1.0
            changed.append(count)
            distances.append(distance)
    requested = N_COUNTERFACTUALS * len(rows)
    return Scores(
        timing[0] / len(rows),
        timing[1] / len(rows),
        valid_count / requested,
        float(np.mean(changed)) if changed else float("nan"),
        float(np.mean(distances)) if distances else float("nan"),
    )


def run_xai(
    model: Any, data: pd.DataFrame, rows: list[int], batched: bool
) -> tuple[list[list[dict]], tuple[float, float]]:
    """xai-cli's search, with no constraints beyond the data's values."""
    from xai_cli.data.constraints import ConstraintSpec
    from xai_cli.methods.constraints import build_constraints, column_spaces
    from xai_cli.methods.counterfactual import CounterfactualOptions, find_counterfactuals

    options = CounterfactualOptions(n=N_COUNTERFACTUALS, seed=0)
    started, cpu_started = time.perf_counter(), time.process_time()
    constraints = build_constraints(ConstraintSpec(), data, model.categorical_columns)
    spaces = column_spaces(data, model.categorical_columns, constraints)
    groups = [rows] if batched else [[row] for row in rows]
    outcomes = []
    for group in groups:
        outcomes.extend(find_counterfactuals(model, data, group, spaces, constraints, options).rows)
    timing = (time.perf_counter() - started, time.process_time() - cpu_started)
    return [[cf.values for cf in outcome.counterfactuals] for outcome in outcomes], timing


def run_dice(
    estimator: Any, data: pd.DataFrame, rows: list[int], method: str
) -> tuple[list[list[dict]], tuple[float, float]]:
    """DiCE's ``random`` or ``genetic`` method, one row per call, with its defaults."""
    import dice_ml

    continuous = [c for c in data.columns if pd.api.types.is_numeric_dtype(data[c])]
    frame = data.copy()
    frame["__outcome__"] = np.searchsorted(estimator.classes_, estimator.predict(data))
    explainer = dice_ml.Dice(
        dice_ml.Data(dataframe=frame, continuous_features=continuous, outcome_name="__outcome__"),
        dice_ml.Model(model=estimator, backend="sklearn"),
        method=method,
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    with single_threaded():
        found = _dice_rows(explainer, data, rows, method)
    return found, (time.perf_counter() - started, time.process_time() - cpu_started)


def _dice_rows(explainer: Any, data: pd.DataFrame, rows: list[int], method: str) -> list[list[dict]]:
    found: list[list[dict]] = []
    for row in rows:
        np.random.seed(row)
        extra = {"random_seed": row} if method == "random" else {}
        try:
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                result = explainer.generate_counterfactuals(
                    data.iloc[[row]],
                    total_CFs=N_COUNTERFACTUALS,
                    desired_class="opposite",
                    verbose=False,
                    **extra,
                )
            table = result.cf_examples_list[0].final_cfs_df
        except Exception:  # DiCE raises when it finds nothing for a row; that row scores 0 valid
            table = None
        found.append([] if table is None else table[list(data.columns)].to_dict(orient="records"))
    return found


def single_threaded() -> Any:
    """DiCE's model calls on one OpenMP/BLAS thread, as xai-cli's are, so neither pays for oversubscribed
    thread pools and the ratio measures the algorithms."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def main() -> int:
    """Measure every tool on every task and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20, help="rows per task for xai-cli and DiCE random")
    parser.add_argument("--genetic-rows", type=int, default=10, help="rows per task for DiCE genetic")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import joblib

    import xai_cli
    from xai_cli.data.validate import align_to_model
    from xai_cli.models.loader import load_model

    try:
        from importlib.metadata import version

        import dice_ml  # noqa: F401

        dice_version = version("dice-ml")
        peers = [(f"dice-ml {dice_version} random", "random"), (f"dice-ml {dice_version} genetic", "genetic")]
    except ImportError:
        peers = []
    lines = []
    for task, (model_file, data_file, label) in TASKS.items():
        model = load_model(ROOT / model_file)
        estimator = joblib.load(ROOT / model_file)
        data = align_to_model(pd.read_csv(ROOT / data_file), model, ROOT / data_file, label).frame
        rows = list(range(args.rows))
        # Warm-up, untimed, for every tool: first calls pay for imports, caches and thread pools.
        run_xai(model, data, [len(data) - 1], batched=True)
        for _, method in peers:
            run_dice(estimator, data, [len(data) - 1], method)
        found, timing = run_xai(model, data, rows, batched=True)
        ours = score(estimator, data, rows, found, timing)
        single = run_xai(model, data, rows, batched=False)[1][0] / len(rows)
        lines.append((task, f"xai-cli {xai_cli.__version__} (itself)", ours, single, None, len(rows)))
        for peer_name, method in peers:
            peer_rows = rows if method == "random" else list(range(args.genetic_rows))
            peer_found, peer_timing = run_dice(estimator, data, peer_rows, method)
            peer = score(estimator, data, peer_rows, peer_found, peer_timing)
            if peer_rows != rows:
                found_subset, subset_timing = run_xai(model, data, peer_rows, batched=True)
                ours_subset = score(estimator, data, peer_rows, found_subset, subset_timing)
                single_subset = run_xai(model, data, peer_rows, batched=False)[1][0] / len(peer_rows)
            else:
                ours_subset, single_subset = ours, single
            lines.append((task, peer_name, ours_subset, single_subset, peer, len(peer_rows)))
    print_table(lines, bool(peers))
    return 0


def print_table(lines: list[tuple[str, str, Scores, float, Scores | None, int]], have_peers: bool) -> None:
    """One line per task and peer; quality figures as xai-cli / peer."""
    header = (
        f"{'task':<14}{'peer':<26}{'rows':>5}{'xai s/row':>11}{'xai 1-row':>11}{'peer s/row':>12}{'ratio':>8}"
        f"{'ratio 1-row':>12}{'cpu ratio':>10}{'validity xai/peer':>19}{'sparsity xai/peer':>19}"
        f"{'distance xai/peer':>19}"
    )
    print("Counterfactuals: xai-cli vs DiCE (n = 3 per row, target: the other class, no constraints)")
    print(header)
    print("-" * len(header))
    for task, peer_name, ours, single, peer, count in lines:
        start = f"{task:<14}{peer_name:<26}{count:>5}{ours.seconds_per_row:>11.4f}{single:>11.4f}"
        if peer is None:
            print(
                f"{start}{'-':>12}{'-':>8}{'-':>12}{'-':>10}"
                f"{ours.validity:>19.1%}{ours.sparsity:>19.2f}{ours.distance:>19.2f}"
            )
            continue
        print(
            f"{start}{peer.seconds_per_row:>12.4f}{peer.seconds_per_row / ours.seconds_per_row:>7.1f}x"
            f"{peer.seconds_per_row / single:>11.1f}x{peer.cpu_per_row / ours.cpu_per_row:>9.1f}x"
            f"{f'{ours.validity:.1%} / {peer.validity:.1%}':>19}"
            f"{f'{ours.sparsity:.2f} / {peer.sparsity:.2f}':>19}"
            f"{f'{ours.distance:.2f} / {peer.distance:.2f}':>19}"
        )
    if not have_peers:
        print("dice-ml is not installed, so no peer was measured (see the docstring for how to install it)")
    print(
        "ratio = peer seconds per row / xai seconds per row (all rows in one call); "
        "ratio 1-row: xai with one row per call;\n"
        "cpu ratio: the same with CPU seconds of the process (steadier than wall-clock on a busy machine)"
    )


if __name__ == "__main__":
    sys.exit(main())
