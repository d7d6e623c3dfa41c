"""SHAP (black-box and tree) and LIME: xai against shap and lime, measured in the same run.

Run ``python benchmarks/bench_shap_lime.py [--quick] [--only shap|tree|lime]`` (or through
``benchmarks/run.py``). Models and long-run references are built once into ``benchmarks/.cache`` (seeded,
nothing downloaded). See benchmarks/README.md for what each task compares.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import (
    CACHE,
    ROOT,
    attributions,
    best_command,
    best_of,
    quick_mode,
    record,
    relative_error,
    version,
    xai_command,
)

N_COLUMNS = 30
N_BACKGROUND = 50
BLACK_BOX = CACHE / "black_box"
KERNEL_SCRIPT = '''
    """What a user writes to explain 100 rows with shap's KernelExplainer (defaults)."""
    import json
    import sys
    import time
    import warnings

    import joblib
    import numpy as np
    import pandas as pd
    import shap

    warnings.simplefilter("ignore")
    model_path, data_path, background_path, n_rows, method, out = sys.argv[1:]
    model = joblib.load(model_path)
    rows = pd.read_csv(data_path).iloc[: int(n_rows)].to_numpy()
    background = pd.read_csv(background_path).to_numpy()
    start = time.perf_counter()
    # shap cannot wrap a Pipeline's bound method (it tries to reset feature_names_in_), hence the lambda.
    explainer = shap.KernelExplainer(lambda X: getattr(model, method)(X), background)
    values = explainer.shap_values(rows, silent=True)
    seconds = time.perf_counter() - start
    np.save(out, np.asarray(values))
    with open(out + ".json", "a") as handle:  # the explainer's own time, for the engine-only comparison
        handle.write(json.dumps(seconds) + "\\n")
'''


def black_box_models() -> dict[str, Path]:
    """30-column data, a 50-row background file and four models, trained once with fixed seeds."""
    BLACK_BOX.mkdir(parents=True, exist_ok=True)
    paths = {name: BLACK_BOX / f"{name}.joblib" for name in ("linear", "pairwise", "mlp", "hgb")}
    if all(p.exists() for p in paths.values()) and (BLACK_BOX / "background.csv").exists():
        return paths
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    features, labels = make_classification(
        n_samples=2000, n_features=N_COLUMNS, n_informative=12, n_redundant=6, flip_y=0.05, random_state=0
    )
    frame = pd.DataFrame(features, columns=[f"f{i}" for i in range(N_COLUMNS)])
    rng = np.random.default_rng(0)
    target = features @ rng.normal(size=N_COLUMNS) + 0.3 * (features[:, :-1] * features[:, 1:]).sum(axis=1)
    target += rng.normal(size=len(target))
    poly = PolynomialFeatures(2, interaction_only=True, include_bias=False)
    models = {
        "linear": LinearRegression().fit(frame, target),
        "pairwise": Pipeline([("poly", poly), ("ridge", Ridge(1.0))]).fit(frame, target),
        "mlp": Pipeline(
            [
                ("scale", StandardScaler()),
                ("mlp", MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=400, random_state=0)),
            ]
        ).fit(frame, labels),
        "hgb": Pipeline(
            [("scale", StandardScaler()), ("hgb", HistGradientBoostingClassifier(random_state=0))]
        ).fit(frame, labels),
    }
    for name, model in models.items():
        joblib.dump(model, paths[name])
    frame.to_csv(BLACK_BOX / "data.csv", index=False)
    chosen = np.sort(np.random.default_rng(0).choice(len(frame), size=N_BACKGROUND, replace=False))
    frame.iloc[chosen].to_csv(BLACK_BOX / "background.csv", index=False)
    return paths


def pairwise_reference(model: object, rows: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Closed form for f = w.x + sum_{i<j} a_ij x_i x_j (see tests/test_shapley_engine.py)."""
    coef, powers = model[-1].coef_, model[0].powers_  # type: ignore[index]
    weights, pairs = np.zeros(N_COLUMNS), np.zeros((N_COLUMNS, N_COLUMNS))
    for c, power in zip(coef, powers, strict=True):
        used = np.flatnonzero(power)
        if len(used) == 1:
            weights[used[0]] = c
        else:
            pairs[used[0], used[1]] = pairs[used[1], used[0]] = c
    mean_b, second = background.mean(axis=0), background.T @ background / len(background)
    phi = weights * (rows - mean_b)
    for r, x in enumerate(rows):
        terms = np.outer(x, x) - second + np.outer(x, mean_b) - np.outer(mean_b, x)
        phi[r] += 0.5 * (pairs * terms).sum(axis=1)
    return phi


def long_run_reference(model: object, rows: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, float]:
    """The MLP's values from 512 orders per background row (25,600 per row; seeds unlike xai's)."""
    cache = BLACK_BOX / f"mlp_reference_{len(rows)}.npz"
    if cache.exists():
        stored = np.load(cache)
        return stored["values"], float(stored["relative_se"])
    from xai_cli.methods.shapley import permutation_shapley

    final, encoder = model[-1], model[:-1]  # type: ignore[index]
    groups = [np.array([i]) for i in range(N_COLUMNS)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = permutation_shapley(
            lambda Z: final.predict_proba(Z),
            encoder.transform(rows),
            encoder.transform(background),
            groups,
            512 * len(background),
            seeds=[10_000_019 + r for r in range(len(rows))],
        )
    values = result.values[:, :, 1]
    relative_se = float(result.standard_error[:, :, 1].mean() / np.abs(values).mean())
    np.savez(cache, values=values, relative_se=relative_se)
    return values, relative_se


def margin_reference(model: object, rows: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Exact values of the boosted model's margin: rank-coded TreeSHAP on its scaled inputs."""
    from xai_cli.methods.treeshap import tree_shap

    final, encoder = model[-1], model[:-1]  # type: ignore[index]
    stacked = np.concatenate([encoder.transform(rows), encoder.transform(background)])
    values, _, _ = tree_shap(final, stacked, len(rows), "raw")
    return values


def bench_black_box(n_rows: int) -> None:
    """xai explain (whole command) against a KernelExplainer script (whole process), 30 columns."""
    import joblib

    paths = black_box_models()
    data, background_csv = BLACK_BOX / "data.csv", BLACK_BOX / "background.csv"
    rows = pd.read_csv(data).iloc[:n_rows].to_numpy()
    background = pd.read_csv(background_csv).to_numpy()
    script = BLACK_BOX / "kernel_user_script.py"
    script.write_text(textwrap.dedent(KERNEL_SCRIPT).lstrip())
    shap_name = f"shap {version('shap')} KernelExplainer"
    cases = {
        # name: (extra xai options, model method for shap, output column)
        "linear": (["--algorithm", "permutation"], "predict", None),
        "pairwise": ([], "predict", None),
        "mlp": ([], "predict_proba", 1),
        "hgb": (["--output", "raw"], "decision_function", None),
    }
    for name, (options, method, column) in cases.items():
        model = joblib.load(paths[name])
        if name == "linear":
            reference = model.coef_ * (rows - background.mean(axis=0))
            about = "closed form"
        elif name == "pairwise":
            reference, about = pairwise_reference(model, rows, background), "closed form"
        elif name == "mlp":
            reference, reference_se = long_run_reference(model, rows, background)
            about = f"25,600 orders/row (its own rel. SE {reference_se:.1%})"
        else:
            reference, about = margin_reference(model, rows, background), "exact TreeSHAP of the margin"
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "report"
            argv = xai_command(
                "explain", paths[name], data, "--rows", f"0:{n_rows}", "--background", background_csv,
                "--out", out, "--quiet", *options,
            )  # fmt: skip
            xai_seconds = best_command(argv)
            no_plots = best_command([*argv, "--max-plots", "0"])
            ours = attributions(out / "explain.json")
            peer_out = Path(tmp) / "kernel.npy"
            peer_argv = [sys.executable, str(script), str(paths[name]), str(data), str(background_csv)]
            peer_seconds = best_command([*peer_argv, str(n_rows), method, str(peer_out)])
            theirs = np.load(peer_out)
            kernel_engine = min(json.loads(line) for line in Path(f"{peer_out}.json").read_text().split())
        if column is not None:
            theirs = theirs[..., column] if theirs.shape[-1] == 2 else theirs[column]
        label = {"linear": "linear regression", "pairwise": "pairwise-interaction regression"}
        label |= {"mlp": "MLP classifier P(class 1)", "hgb": "boosted trees (in a Pipeline), margin"}
        errors = (
            f"xai {relative_error(ours, reference):.2g}, shap {relative_error(theirs, reference):.2g} "
            f"(vs {about})"
        )
        task = f"{label[name]}, {N_COLUMNS} cols, {n_rows} rows, bg {N_BACKGROUND}"
        record(
            f"SHAP black box, whole process: {task}",
            xai_seconds,
            peer_seconds,
            shap_name,
            error=errors,
            note=f"xai with --max-plots 0: {no_plots:.2f} s; peer: a user's script (imports, load, explain)",
        )
        engine = _shap_engine_seconds(paths[name], data, background_csv, n_rows, options)
        record(
            f"SHAP black box, explainer only: {task}",
            engine,
            kernel_engine,
            shap_name,
            error=errors,
            note="in process: xai's explain_shap vs KernelExplainer(...) + shap_values(...)",
        )


def _shap_engine_seconds(
    model_path: Path, data: Path, background_csv: Path, n_rows: int, options: list[str]
) -> float:
    """Best time of xai's explain_shap in process, with the options the command was given."""
    from xai_cli.methods.shap import ShapOptions, explain_shap
    from xai_cli.models.loader import load_model

    model = load_model(model_path, trust=True)
    X = pd.read_csv(data).iloc[:n_rows]
    background = pd.read_csv(background_csv)
    settings = dict(zip(options[::2], options[1::2], strict=True))
    shap_options = ShapOptions(
        algorithm=settings.get("--algorithm", "auto"),
        output="raw" if settings.get("--output") == "raw" else None,
    )
    seconds, _ = best_of(lambda: explain_shap(model, X, background, list(range(n_rows)), shap_options))
    return seconds


def large_hgb() -> tuple[Path, Path]:
    """A larger boosted model: 300 iterations over 20 columns, trained on 20,000 rows."""
    model_path, data_path = CACHE / "tree" / "hgb_large.joblib", CACHE / "tree" / "hgb_large.csv"
    if model_path.exists() and data_path.exists():
        return model_path, data_path
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    model_path.parent.mkdir(parents=True, exist_ok=True)
    features, labels = make_classification(
        n_samples=20_000, n_features=20, n_informative=10, flip_y=0.05, random_state=1
    )
    frame = pd.DataFrame(features, columns=[f"g{i}" for i in range(20)])
    model = HistGradientBoostingClassifier(max_iter=300, early_stopping=False, random_state=0)
    joblib.dump(model.fit(frame, labels), model_path)
    frame.iloc[:2000].to_csv(data_path, index=False)
    return model_path, data_path


def bench_tree(n_rows: int) -> None:
    """xai's tree path (in process) against shap.TreeExplainer called directly on the same arrays."""
    cases = [
        (
            "breast-cancer forest sample (50 trees, 30 cols)",
            ROOT / "sample_models" / "breast_cancer_forest.joblib",
            ROOT / "sample_data" / "breast_cancer.csv",
            "diagnosis",
            "raw",
            None,
        ),
        ("HistGradientBoosting, 300 iterations, 20 cols, margin", *large_hgb(), None, "raw", "raw"),
    ]
    for case in cases:
        _tree_case(*case, n_rows=n_rows)


def _tree_case(
    title: str,
    model_path: Path,
    data_path: Path,
    label: str | None,
    tree_output: str,
    xai_output: str | None,
    n_rows: int,
) -> None:
    import shap

    from xai_cli.data.tabular import read_table
    from xai_cli.data.validate import align_to_model
    from xai_cli.methods.shap import ShapOptions, explain_shap
    from xai_cli.models.loader import load_model

    model = load_model(model_path, trust=True)
    frame = align_to_model(read_table(data_path), model, data_path, label).frame
    X = frame.iloc[:n_rows].reset_index(drop=True)
    background = frame.sample(100, random_state=0).reset_index(drop=True)
    options = ShapOptions(algorithm="tree", output=xai_output)
    xai_seconds, ours = best_of(lambda: explain_shap(model, X, background, list(range(n_rows)), options))

    def direct() -> tuple[np.ndarray, float]:
        explainer = shap.TreeExplainer(
            model.estimator,
            data=background.to_numpy(),
            feature_perturbation="interventional",
            model_output=tree_output,
        )
        values = explainer.shap_values(X.to_numpy(), check_additivity=False)
        return np.asarray(values), explainer.expected_value

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer_seconds, (theirs, expected) = best_of(direct)
    theirs = theirs[:, :, 1] if theirs.ndim == 3 else theirs
    base = np.atleast_1d(expected)[-1]
    target = model.predict(X, xai_output or "probability")[:, 1]
    shap_additivity = float(np.abs(theirs.sum(axis=1) + base - target).max())
    record(
        f"SHAP tree: {title}, {n_rows} rows, bg 100",
        xai_seconds,
        peer_seconds,
        f"shap {version('shap')} TreeExplainer (interventional, direct call)",
        error=f"max additivity error xai {ours.additivity_errors.max():.1g}, shap {shap_additivity:.1g}; "
        f"max |xai - shap| {np.abs(ours.values - theirs).max():.1g}",
        note="in process, same arrays; ratio >= 1/1.3 meets 'within 1.3x'",
    )


def bench_lime(n_rows: int) -> None:
    """The batched engine against lime's explain_instance row by row, 5000 samples, same seeds."""
    cases = [
        ("breast-cancer forest (30 numeric cols)", "breast_cancer_forest", "breast_cancer", "diagnosis"),
        ("credit Pipeline (numeric + category cols)", "credit_pipeline", "credit", "decision"),
        ("wine logistic regression (13 cols, 3 classes)", "wine_logreg", "wine", "cultivar"),
    ]
    for case in cases:
        _lime_case(*case, n_rows=n_rows)


def _lime_case(title: str, model_name: str, data_name: str, label: str, n_rows: int) -> None:
    from xai_cli.data.tabular import read_table
    from xai_cli.data.validate import align_to_model
    from xai_cli.methods.lime import LimeOptions, explain_lime
    from xai_cli.models.loader import load_model

    data_path = ROOT / "sample_data" / f"{data_name}.csv"
    model = load_model(ROOT / "sample_models" / f"{model_name}.joblib")
    frame = align_to_model(read_table(data_path), model, data_path, label).frame
    X = frame.iloc[:n_rows].reset_index(drop=True)
    background = frame.sample(100, random_state=0).reset_index(drop=True)
    rows = list(range(n_rows))

    def run(engine: str) -> object:
        return explain_lime(model, X, background, rows, LimeOptions(num_samples=5000, engine=engine))

    xai_seconds, fast = best_of(lambda: run("fast"))
    peer_seconds, slow = best_of(lambda: run("lime"))
    same_top = all(
        list(a["conditions"])[:5] == list(b["conditions"])[:5]
        for a, b in zip(fast.row_details, slow.row_details, strict=True)
    )
    score_gap = max(
        abs(a["local_model_score"] - b["local_model_score"])
        for a, b in zip(fast.row_details, slow.row_details, strict=True)
    )
    record(
        f"LIME: {title}, {n_rows} rows, 5000 samples",
        xai_seconds,
        peer_seconds,
        f"lime {version('lime')} explain_instance, row by row",
        error=f"same seed: max |weight diff| {np.abs(fast.values - slow.values).max():.1g}, "
        f"score diff {score_gap:.1g}, same top-5 features: {same_top}",
        note="in process; both engines build the same LimeTabularExplainer",
    )


def main() -> None:
    """Run the selected benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rows, one repeat")
    parser.add_argument("--only", choices=("shap", "tree", "lime"), action="append")
    chosen = parser.parse_args().only or ["shap", "tree", "lime"]
    quick = quick_mode()
    if "shap" in chosen:
        bench_black_box(10 if quick else 100)
    if "tree" in chosen:
        bench_tree(20 if quick else 100)
    if "lime" in chosen:
        bench_lime(10 if quick else 50)


if __name__ == "__main__":
    main()
