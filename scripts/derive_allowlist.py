"""Derive the allow-list's scikit-learn part from what fitted models really pickle.

    python scripts/derive_allowlist.py            # writes xai_cli/models/allowlist/sklearn_internal.py
    python scripts/derive_allowlist.py --check    # exit 1 if the checked-in module differs

Every estimator that ``sklearn.utils.all_estimators()`` yields is built the way scikit-learn's own
test suite builds it (``_construct_instances``), fitted on tiny data (classifiers on two and on three
classes, regressors, transformers, clusterers), and fitted again with the options that change the
fitted state: HistGradientBoosting with categorical features and early stopping, gradient boosting
and MLP/SGD early stopping, k-NN on KD and ball trees, search CVs with default, named and multiple
scorers, Pipelines and ColumnTransformers, estimators fitted on DataFrames. Each is pickled (protocols
2 and 5, and joblib) and every global its pickle names is recorded by a recording unpickler; the
loaded copy's object graph gives the types the post-load audit admits. The XGBoost, LightGBM and
CatBoost sklearn wrappers are recorded too when those packages are installed.

The output is a data module whose header names the library versions it came from. Names that the
allow-list refuses by design (scorer objects outside a search's ``scorer_``, ``Bunch``, ``Parallel``,
anything under ``sklearn.datasets``) are kept out of the general lists, see DENIED below.
"""

from __future__ import annotations

import argparse
import importlib
import io
import pickle
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "xai_cli" / "models" / "allowlist" / "sklearn_internal.py"
WRAPPER_PACKAGES = ("xgboost", "lightgbm", "catboost")

# Globals a fitted model pickles that are never admitted as general types.
DENIED_PREFIXES = ("sklearn.datasets", "sklearn.utils.parallel", "sklearn.utils._testing")
DENIED_EXACT = frozenset({"sklearn.utils._bunch.Bunch", "sklearn.utils.Bunch"})
SCORER_MODULE = "sklearn.metrics._scorer"


def _data() -> dict[str, Any]:
    rng = np.random.RandomState(0)
    X = np.abs(rng.rand(30, 4)) + 0.1
    return {
        "X": X,
        "y2": np.array([0, 1] * 15),
        "y3": np.array([0, 1, 2] * 10),
        "yreg": X @ np.array([1.0, 2.0, 0.5, -1.0]) + rng.rand(30) * 0.1,
        "frame": pd.DataFrame(X, columns=["a", "b", "c", "d"]),
    }


TEXT = ["the cat sat", "a dog ran", "the dog sat down", "cats and dogs"] * 3


def _special_fit(name: str, estimator: Any, data: dict[str, Any]) -> Any | None:
    """Estimators whose input is not a numeric matrix: text, dicts, labels, a dictionary of atoms."""
    if name in ("CountVectorizer", "TfidfVectorizer", "HashingVectorizer"):
        return estimator.fit(TEXT)
    if name == "DictVectorizer":
        return estimator.fit([{"a": 1.0, "b": 2.0}, {"a": 3.0, "c": 1.0}])
    if name in ("LabelBinarizer", "LabelEncoder"):
        return estimator.fit(data["y3"])
    if name == "MultiLabelBinarizer":
        return estimator.fit([[0, 1], [2], [1, 2]])
    if name == "SparseCoder":
        return type(estimator)(dictionary=data["X"][:3]).fit(data["X"])
    return None


def _fit_default(estimator: Any, data: dict[str, Any]) -> Iterator[Any]:
    """``estimator`` fitted on the data its tags ask for; several fits for classifiers."""
    from sklearn.base import clone, is_classifier, is_regressor
    from sklearn.utils.estimator_checks import _enforce_estimator_tags_X, _enforce_estimator_tags_y

    special = _special_fit(type(estimator).__name__, estimator, data)
    if special is not None:
        yield special
        return
    X = _enforce_estimator_tags_X(estimator, data["X"])
    targets = [data["y2"], data["y3"]] if is_classifier(estimator) else [data["yreg"]]
    if not (is_classifier(estimator) or is_regressor(estimator)):
        targets = [data["y2"]]
    for y in targets:
        fresh = clone(estimator)
        yield fresh.fit(X, _enforce_estimator_tags_y(fresh, y))


def _variants(data: dict[str, Any]) -> Iterator[tuple[str, Callable[[], Any]]]:
    """Fits whose state differs from the default fit's."""
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    X, y2, y3, yreg, frame = data["X"], data["y2"], data["y3"], data["yreg"], data["frame"]
    cat = frame.assign(cat=pd.Categorical(["x", "y", "z"] * 10))
    big = np.tile(X, (4, 1))
    yield (
        "hgb-cat-list",
        lambda: HistGradientBoostingClassifier(max_iter=3, categorical_features=["cat"]).fit(cat, y3),
    )
    yield (
        "hgb-cat-dtype",
        lambda: HistGradientBoostingRegressor(max_iter=3, categorical_features="from_dtype").fit(cat, yreg),
    )
    yield (
        "hgb-early",
        lambda: HistGradientBoostingClassifier(
            max_iter=5, early_stopping=True, validation_fraction=0.3, n_iter_no_change=1
        ).fit(big, np.tile(y2, 4)),
    )
    yield (
        "hgb-early-scorer",
        lambda: HistGradientBoostingClassifier(
            max_iter=5, early_stopping=True, scoring="accuracy", n_iter_no_change=1
        ).fit(big, np.tile(y3, 4)),
    )
    yield "gb-early", lambda: GradientBoostingClassifier(n_estimators=5, n_iter_no_change=1).fit(X, y3)
    yield "mlp-early", lambda: MLPClassifier(max_iter=20, early_stopping=True).fit(X, y3)
    yield "sgd-early", lambda: SGDClassifier(early_stopping=True, max_iter=5).fit(X, y3)
    yield "rf-rs-object", lambda: RandomForestClassifier(3, random_state=np.random.RandomState(0)).fit(X, y3)
    for algorithm in ("kd_tree", "ball_tree", "brute"):
        yield f"knn-{algorithm}", lambda a=algorithm: KNeighborsClassifier(3, algorithm=a).fit(X, y3)
    for metric in ("manhattan", "chebyshev", "minkowski", "euclidean"):
        for algorithm in ("kd_tree", "ball_tree"):
            yield (
                f"knn-{algorithm}-{metric}",
                lambda a=algorithm, m=metric: KNeighborsClassifier(3, algorithm=a, metric=m, p=3).fit(X, y3),
            )
    yield (
        "knn-haversine",
        lambda: KNeighborsClassifier(3, algorithm="ball_tree", metric="haversine").fit(X[:, :2], y3),
    )
    yield "knn-reg-frame", lambda: KNeighborsRegressor(3).fit(frame, yreg)
    grid = {"C": [0.1, 1.0]}
    yield "grid-default", lambda: GridSearchCV(LogisticRegression(), grid, cv=2).fit(X, y2)
    yield "grid-named", lambda: GridSearchCV(LogisticRegression(), grid, cv=2, scoring="roc_auc").fit(X, y2)
    yield (
        "grid-multi",
        lambda: GridSearchCV(
            LogisticRegression(),
            grid,
            cv=2,
            scoring=["accuracy", "f1_macro", "neg_log_loss"],
            refit="accuracy",
        ).fit(X, y3),
    )
    yield "random-search", lambda: RandomizedSearchCV(LogisticRegression(), grid, n_iter=2, cv=2).fit(X, y2)
    numeric = Pipeline([("log", FunctionTransformer(np.log1p)), ("scale", StandardScaler())])
    columns = ColumnTransformer(
        [("num", numeric, ["a", "b", "c"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["cat"])],
        remainder="passthrough",
    )
    yield (
        "pipeline-frame",
        lambda: Pipeline([("pre", columns), ("clf", LogisticRegression())]).fit(
            cat.assign(cat=cat["cat"].astype(str)), y3
        ),
    )
    yield (
        "pipeline-pandas-output",
        lambda: (
            Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
            .set_output(transform="pandas")
            .fit(frame, y2)
        ),
    )
    yield "frozen", lambda: _frozen(X, y2)
    yield "ttr", lambda: TransformedTargetRegressor(func=np.log1p, inverse_func=np.expm1).fit(X, yreg)
    yield from _wrapper_variants(X, y2, y3, yreg)


def _frozen(X: np.ndarray, y: Any) -> Any:
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression

    return FrozenEstimator(LogisticRegression().fit(X, y))


def _wrapper_variants(X: np.ndarray, y2: Any, y3: Any, yreg: Any) -> Iterator[tuple[str, Callable[[], Any]]]:
    specs = {
        "xgboost": ("XGBClassifier", "XGBRegressor", {"n_estimators": 3, "max_depth": 2}),
        "lightgbm": (
            "LGBMClassifier",
            "LGBMRegressor",
            {"n_estimators": 3, "verbose": -1, "min_child_samples": 2},
        ),
        "catboost": (
            "CatBoostClassifier",
            "CatBoostRegressor",
            {"iterations": 3, "verbose": 0, "allow_writing_files": False},
        ),
    }
    for package, (classifier, regressor, params) in specs.items():
        try:
            module = importlib.import_module(package)
        except ImportError:
            continue
        clf, reg = getattr(module, classifier), getattr(module, regressor)
        yield f"{package}-binary", lambda c=clf, p=params: c(**p).fit(X, y2)
        yield f"{package}-multiclass", lambda c=clf, p=params: c(**p).fit(X, y3)
        yield f"{package}-regressor", lambda r=reg, p=params: r(**p).fit(X, yreg)


class _Recorder(pickle.Unpickler):
    def __init__(self, stream: io.BytesIO, seen: set[str]) -> None:
        super().__init__(stream)
        self.seen = seen

    def find_class(self, module: str, name: str) -> Any:
        self.seen.add(f"{module}.{name}")
        return super().find_class(module, name)


class _JoblibRecorder(joblib.numpy_pickle.NumpyUnpickler):
    def find_class(self, module: str, name: str) -> Any:
        self.seen.add(f"{module}.{name}")
        return super().find_class(module, name)


def _recorded(model: Any) -> tuple[set[str], Any]:
    """Every global the pickles of ``model`` name, and one loaded copy."""
    seen: set[str] = set()
    loaded = None
    for protocol in (2, 5):
        loaded = _Recorder(io.BytesIO(pickle.dumps(model, protocol=protocol)), seen).load()
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    recorder = _JoblibRecorder("<memory>", buffer, True)
    recorder.seen = seen
    recorder.load()
    return seen, loaded


def _graph_types(root: Any) -> set[str]:
    """'module.qualname' of the type of every object reachable from ``root``."""
    from xai_cli.models.audit import children

    found, seen, stack = set(), set(), [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        found.add(f"{type(obj).__module__}.{type(obj).__qualname__}")
        stack.extend(children(obj))
    return found


def _is_denied(name: str) -> bool:
    return name in DENIED_EXACT or any(name == p or name.startswith(p + ".") for p in DENIED_PREFIXES)


def fitted_models() -> tuple[list[tuple[str, Any]], list[str]]:
    """(name, fitted model) for every estimator of the registry and every variant; and the failures."""
    from sklearn.experimental import enable_halving_search_cv, enable_iterative_imputer  # noqa: F401
    from sklearn.utils import all_estimators
    from sklearn.utils._test_common.instance_generator import _construct_instances

    data = _data()
    fitted: list[tuple[str, Any]] = []
    failures: list[str] = []
    for name, cls in all_estimators():
        try:
            for instance in _construct_instances(cls):
                fitted.extend((name, model) for model in _fit_default(instance, data))
        except Exception as exc:
            failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:80]}")
    for name, make in _variants(data):
        try:
            fitted.append((name, make()))
        except Exception as exc:
            failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:80]}")
    return fitted, failures


def derive() -> dict[str, Any]:
    """Fit, pickle and record; the sets the data module holds."""
    from sklearn.experimental import enable_halving_search_cv, enable_iterative_imputer  # noqa: F401
    from sklearn.utils import all_estimators

    estimators = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for _, cls in all_estimators()
        if cls.__module__.startswith("sklearn.")
    )
    fitted, failures = fitted_models()
    globals_seen: set[str] = set()
    types_seen: set[str] = set()
    for name, model in fitted:
        try:
            seen, loaded = _recorded(model)
        except Exception as exc:
            failures.append(f"{name} (pickling): {type(exc).__name__}: {str(exc)[:80]}")
            continue
        globals_seen |= seen
        types_seen |= _graph_types(loaded)
    return {
        "estimators": estimators,
        "globals": globals_seen,
        "types": types_seen,
        "fitted": len(fitted),
        "failures": failures,
    }


def _versions() -> str:
    parts = []
    for package in ("sklearn", "numpy", "scipy", "pandas", *WRAPPER_PACKAGES):
        try:
            parts.append(f"{package} {importlib.import_module(package).__version__}")
        except ImportError:
            parts.append(f"{package} (not installed)")
    return ", ".join(parts)


def _block(name: str, comment: str, names: list[str]) -> str:
    body = "".join(f'        "{item}",\n' for item in names)
    return f"# {comment}\n{name}: frozenset[str] = frozenset(\n    {{\n{body}    }}\n)\n"


def render(result: dict[str, Any]) -> str:
    """The data module's source."""
    import sklearn

    estimators = set(result["estimators"])
    wrappers = sorted(g for g in result["globals"] if g.split(".")[0] in WRAPPER_PACKAGES)
    sklearn_globals = {g for g in result["globals"] if g.startswith("sklearn.") and not _is_denied(g)}
    scorers = sorted(g for g in sklearn_globals if g.startswith(SCORER_MODULE + "."))
    internal = sorted(g for g in sklearn_globals - estimators if not g.startswith(SCORER_MODULE + "."))
    other = sorted(g for g in result["globals"] if g.split(".")[0] not in ("sklearn", *WRAPPER_PACKAGES))
    types = sorted(t for t in result["types"] if not _is_denied(t))
    header = (
        '"""Generated by scripts/derive_allowlist.py -- do not edit by hand; run the script again.\n\n'
        "Derived with "
        + _versions().replace(", sklearn", ",\nsklearn").replace(", xgboost", ",\nxgboost")
        + ":\n"
        f"{result['fitted']} fitted models (every estimator of sklearn.utils.all_estimators() that fits on\n"
        "tiny data, plus the option variants the script lists), each pickled with protocols 2 and 5 and\n"
        'with joblib.\n"""\n\n'
        "from __future__ import annotations\n\n"
        f'SKLEARN_VERSION = "{sklearn.__version__}"\n\n'
    )
    return "\n".join(
        [
            header
            + _block(
                "ESTIMATORS", "Every estimator class of sklearn.utils.all_estimators().", sorted(estimators)
            ),
            _block("INTERNAL", "Non-estimator scikit-learn globals that fitted models pickle.", internal),
            _block(
                "SCORERS",
                "Scorer classes a fitted search pickles as its scorer_ (admitted only there).",
                scorers,
            ),
            _block(
                "WRAPPERS", "XGBoost, LightGBM and CatBoost globals their sklearn wrappers pickle.", wrappers
            ),
            _block("OTHER_GLOBALS", "numpy, scipy, pandas and Python globals the same pickles name.", other),
            _block("GRAPH_TYPES", "The type of every object in the loaded copies' object graphs.", types),
        ]
    )


def main(argv: list[str]) -> int:
    """Command line: write (or --check) the data module."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the checked-in module")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = derive()
    source = render(result)
    for failure in result["failures"]:
        sys.stderr.write(f"not fitted: {failure}\n")
    if args.check:
        same = args.output.exists() and args.output.read_text() == source
        sys.stdout.write("up to date\n" if same else f"{args.output} differs from what this script derives\n")
        return 0 if same else 1
    args.output.write_text(source)
    sys.stdout.write(
        f"{result['fitted']} fitted models, {len(result['globals'])} globals; wrote {args.output}\n"
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main(sys.argv[1:]))
