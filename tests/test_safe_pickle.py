"""Tests for xai_cli.models.safe_pickle: the allow-list loader and the no-load globals scan.

Every hostile payload here would create ``marker`` in tmp_path if it were unpickled without
restriction (``test_payloads_work_without_the_allow_list`` proves that); the loader must refuse
each one before anything runs.
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import copyreg
import functools
import importlib
import importlib.util
import io
import os
import pickle
import pickletools
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.special
from joblib.numpy_pickle import NumpyUnpickler
from joblib.numpy_pickle_compat import write_zfile
from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_array

from tests.hostile.payloads import (
    COMPRESSORS,
    FORMATS,
    PAYLOAD_KINDS,
    Call,
    Marker,
    global_call,
    make_payload,
    numpy1_ufunc_reconstruct,
    save,
)
from tests.hostile.payloads import qualified_name as _name
from tests.hostile.payloads import unicode_op as _unicode
from xai_cli.errors import InputError, UnsafeModelError
from xai_cli.models import safe_pickle
from xai_cli.models.safe_pickle import is_allowed, list_pickle, load_pickle, pickle_globals


def assert_refused(path: Path, names: set[str], marker: Path) -> UnsafeModelError:
    """load_pickle refuses ``path`` naming one of ``names``, and nothing ran."""
    with pytest.raises(UnsafeModelError) as info:
        load_pickle(path)
    message = str(info.value)
    assert any(f"'{name}'" in message for name in names), message
    assert "--trust-model" in message
    assert message.startswith(f"{path}: refused to load")
    assert "\n" not in message
    assert not marker.exists()
    return info.value


# ---------------------------------------------------------------------------------------------
# Real models
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fitted:
    model: Any
    X: pd.DataFrame


def _frames() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray, pd.Series]:
    rng = np.random.RandomState(0)
    n = 40
    X = pd.DataFrame({"a": rng.rand(n), "b": rng.randint(0, 5, n), "c": rng.rand(n) * 3})
    Xcat = X.copy()
    Xcat["cat"] = rng.choice(["red", "green", "blue"], n)
    Xcat.loc[0, "a"] = np.nan
    y_str = np.where(X["a"] + rng.rand(n) * 0.3 > 0.6, "yes", "no")
    y_int = (X["c"] > 1.5).astype(int).to_numpy()
    y_reg = X["a"] * 2 + X["c"]
    return X, Xcat, y_str, y_int, y_reg


def _pipeline(rs: Any) -> Pipeline:
    numeric = Pipeline(
        [("imp", SimpleImputer()), ("log", FunctionTransformer(np.log1p)), ("sc", StandardScaler())]
    )
    pre = ColumnTransformer(
        [
            ("num", numeric, ["a", "c"]),
            ("ohe", OneHotEncoder(handle_unknown="ignore"), ["cat"]),
            ("ord", OrdinalEncoder(), ["b"]),
            ("expit", FunctionTransformer(scipy.special.expit), ["c"]),
        ]
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression(random_state=rs))])


def _build_models() -> dict[str, Fitted]:
    X, Xcat, y_str, y_int, y_reg = _frames()
    Xnum = Xcat.drop(columns="cat")
    specs: dict[str, Callable[[Any], tuple[Any, pd.DataFrame, Any]]] = {
        "tree": lambda rs: (DecisionTreeClassifier(max_depth=3, random_state=rs), X, y_str),
        "forest": lambda rs: (RandomForestClassifier(n_estimators=3, max_depth=3, random_state=rs), X, y_int),
        "extra-trees-reg": lambda rs: (
            ExtraTreesRegressor(n_estimators=3, max_depth=3, random_state=rs),
            X,
            y_reg,
        ),
        "gboost": lambda rs: (
            GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=rs),
            X,
            y_str,
        ),
        "hgb-clf": lambda rs: (HistGradientBoostingClassifier(max_iter=3, random_state=rs), Xnum, y_int),
        "hgb-clf-cat": lambda rs: (
            HistGradientBoostingClassifier(max_iter=3, random_state=rs, categorical_features=["cat"]),
            Xcat,
            y_str,
        ),
        "hgb-reg": lambda rs: (HistGradientBoostingRegressor(max_iter=3, random_state=rs), X, y_reg),
        "hgb-reg-cat": lambda rs: (
            HistGradientBoostingRegressor(max_iter=3, random_state=rs, categorical_features=["cat"]),
            Xcat,
            y_reg,
        ),
        "logreg": lambda rs: (LogisticRegression(random_state=rs), X, y_str),
        "svc": lambda rs: (SVC(probability=True, random_state=rs), X, y_int),
        "mlp": lambda rs: (MLPClassifier(hidden_layer_sizes=(4,), max_iter=30, random_state=rs), X, y_str),
        "pipeline": lambda rs: (_pipeline(rs), Xcat, y_str),
    }
    plain: dict[str, Callable[[], tuple[Any, pd.DataFrame, Any]]] = {
        "linreg": lambda: (LinearRegression(), X, y_reg),
        "ridge": lambda: (Ridge(), X, y_reg),
        "knn": lambda: (KNeighborsClassifier(n_neighbors=3), X, y_str),
        "knn-ball-tree": lambda: (KNeighborsClassifier(n_neighbors=3, algorithm="ball_tree"), X, y_int),
        "gaussian-nb": lambda: (GaussianNB(), X, y_int),
        "grid-search": lambda: (GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2), X, y_str),
    }
    fitted: dict[str, Fitted] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True) is deprecated in 1.9
        for name, spec in specs.items():
            for rs_name, rs in (("rs-int", 0), ("rs-obj", np.random.RandomState(0))):
                model, data, y = spec(rs)
                fitted[f"{name}-{rs_name}"] = Fitted(model.fit(data, y), data)
        for name, make in plain.items():
            model, data, y = make()
            fitted[name] = Fitted(model.fit(data, y), data)
    return fitted


MODELS = _build_models()


def assert_same_model(original: Fitted, loaded: Any) -> None:
    assert type(loaded) is type(original.model)
    np.testing.assert_array_equal(loaded.predict(original.X), original.model.predict(original.X))
    if hasattr(original.model, "predict_proba"):
        np.testing.assert_array_equal(
            loaded.predict_proba(original.X), original.model.predict_proba(original.X)
        )
    np.testing.assert_array_equal(loaded.feature_names_in_, original.model.feature_names_in_)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_real_models_round_trip(tmp_path: Path, name: str, fmt: str) -> None:
    path = save(MODELS[name].model, tmp_path / "model.bin", fmt)
    assert_same_model(MODELS[name], load_pickle(path))


@pytest.mark.parametrize("compress", COMPRESSORS, ids=[c[0] for c in COMPRESSORS])
def test_every_joblib_compressor_loads(tmp_path: Path, compress: tuple[str, int]) -> None:
    for name in ("pipeline-rs-obj", "hgb-clf-cat-rs-int", "knn"):
        path = save(MODELS[name].model, tmp_path / f"{name}.joblib", compress)
        assert_same_model(MODELS[name], load_pickle(path))


def _frames_zoo() -> dict[str, Any]:
    X, Xcat, *_ = _frames()
    df = pd.DataFrame(
        {"i": [1, 2, 3], "f": [0.5, np.nan, 2.0], "s": ["x", None, "z"], "b": [True, False, True]}
    )
    return {
        "dataframe": df,
        "dataframe-categorical": Xcat.assign(cat=Xcat["cat"].astype("category")),
        "series-float": X["a"],
        "series-str": Xcat["cat"],
        "series-python-str": pd.Series(["a", "b"], dtype=pd.StringDtype("python")),
        "index": Xcat.columns,
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_pandas_objects_are_refused(tmp_path: Path, fmt: str) -> None:
    """No fitted model holds a DataFrame, Series or Index (scripts/derive_allowlist.py), and their
    state takes any attribute (a DataFrame posing as an estimator): refused. (They loaded before.)"""
    for key, value in _frames_zoo().items():
        path = save({"model": MODELS["logreg-rs-int"].model, key: value}, tmp_path / "bundle.bin", fmt)
        with pytest.raises(UnsafeModelError, match=r"'pandas\.") as info:
            load_pickle(path)
        assert "--trust-model" in str(info.value), key
        assert any(not is_allowed(*pair) for pair in list_pickle(path).parts.values()), key


def test_trust_loads_with_joblib(tmp_path: Path) -> None:
    path = save(MODELS["tree-rs-int"].model, tmp_path / "m.joblib", "joblib-3")
    assert_same_model(MODELS["tree-rs-int"], load_pickle(path, trust=True))


def test_numpy1_ufunc_pickles_load_only_for_ufuncs(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "old.pkl"
    path.write_bytes(pickle.dumps(Call(numpy1_ufunc_reconstruct, "numpy", "log1p"), protocol=2))
    assert load_pickle(path) is np.log1p
    path.write_bytes(pickle.dumps(Call(numpy1_ufunc_reconstruct, "numpy", "load"), protocol=2))
    assert_refused(path, {"numpy.load"}, marker)


# ---------------------------------------------------------------------------------------------
# Hostile payloads
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "marker"


@pytest.fixture
def evil_module(tmp_path: Path, marker: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The name of an importable module that creates ``marker`` when imported."""
    name = f"xai_evil_{uuid.uuid4().hex}"
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    yield name
    sys.modules.pop(name, None)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", PAYLOAD_KINDS)
def test_payloads_are_refused(tmp_path: Path, marker: Path, evil_module: str, kind: str, fmt: str) -> None:
    payload = make_payload(kind, Marker.at(marker), evil_module, tmp_path)
    path = save(payload.obj, tmp_path / "evil.bin", fmt)
    assert_refused(path, payload.refused, marker)
    assert evil_module not in sys.modules


@pytest.mark.parametrize("kind", PAYLOAD_KINDS)
def test_payloads_work_without_the_allow_list(
    tmp_path: Path, marker: Path, evil_module: str, kind: str
) -> None:
    """The payloads are real: joblib.load (what --trust-model does) runs them."""
    payload = make_payload(kind, Marker.at(marker), evil_module, tmp_path)
    path = save(payload.obj, tmp_path / "evil.joblib", "joblib-3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.suppress(InputError):  # the payload ran; what it returns is no model
            load_pickle(path, trust=True)
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:  # Popen runs in the background
        time.sleep(0.02)
    assert marker.exists()


@pytest.mark.parametrize(
    "kind", ["os.system", "object-array", "object-array-in-estimator", "pandas.read_pickle"]
)
@pytest.mark.parametrize("fmt", ["pickle-p0", "pickle-p2", "pickle-p5", "joblib-0", "joblib-3"])
def test_pickle_globals_names_the_payload_without_running_it(
    tmp_path: Path, marker: Path, kind: str, fmt: str
) -> None:
    payload = make_payload(kind, Marker.at(marker), "unused", tmp_path)
    found = pickle_globals(save(payload.obj, tmp_path / "evil.bin", fmt))
    assert payload.refused & set(found), found
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# Hand-written pickles: names that no well-behaved pickler writes, opcodes and legacy formats
# ---------------------------------------------------------------------------------------------


REFUSED_NAMES = [
    "os.system", "posix.system", "nt.system", "subprocess.Popen", "subprocess.check_output",
    "builtins.eval", "builtins.exec", "builtins.getattr", "builtins.__import__", "builtins.open",
    "builtins.compile", "builtins.type", "builtins.setattr", "builtins.breakpoint",
    "importlib.import_module", "numpy.load", "numpy.testing._private.utils.runstring",
    "numpy.lib.npyio.load", "numpy.ctypeslib.load_library", "pandas.read_pickle",
    "pandas.io.pickle.read_pickle", "joblib.load", "joblib.numpy_pickle.load", "pickle.loads",
    "_pickle.loads", "ctypes.CDLL", "types.FunctionType", "types.CodeType", "runpy._run_code",
    "copyreg.__newobj__", "shutil.rmtree",
    # scikit-learn functions and excluded modules
    "sklearn.utils._testing.assert_run_python_script_without_output",
    "sklearn.utils._testing.TempMemmap", "sklearn.datasets.fetch_openml",
    "sklearn.datasets._openml.fetch_openml", "sklearn.utils.validation.check_memory",
    "sklearn.utils.validation.check_X_y", "sklearn.utils.parallel.Parallel",
    "sklearn.utils._show_versions.show_versions", "sklearn.externals._packaging.version.Version",
    "sklearn.tests.test_base.K",
]  # fmt: skip

# (module, qualname) pairs that only a hand-written protocol 4 pickle can ask for.
REFUSED_DOTTED = [
    ("sklearn.pipeline", "Pipeline.__class__"),
    ("sklearn.pipeline", "Pipeline.__base__"),
    ("sklearn.pipeline", "Pipeline.__init__.__globals__"),
    ("sklearn.utils.validation", "np.load"),
    ("sklearn.utils.validation", "np.ndarray"),
    ("sklearn.utils.validation", "check_array.__globals__"),
    ("numpy", "ctypeslib"),
    ("numpy", "dtype.__class__"),
    ("numpy", "log1p.__class__"),
    ("builtins", "object.__subclasses__"),
]


@pytest.mark.parametrize("proto", range(6))
@pytest.mark.parametrize("full", REFUSED_NAMES)
def test_dangerous_names_are_refused(tmp_path: Path, marker: Path, full: str, proto: int) -> None:
    module, _, name = full.rpartition(".")
    path = tmp_path / "evil.pkl"
    path.write_bytes(global_call(module, name, (f"touch {marker}",), proto))
    assert_refused(path, {full}, marker)
    assert not is_allowed(module, name)


@pytest.mark.parametrize(("module", "name"), REFUSED_DOTTED)
def test_dotted_qualnames_are_refused(tmp_path: Path, marker: Path, module: str, name: str) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(global_call(module, name, (f"touch {marker}",), 4))
    assert_refused(path, {f"{module}.{name}"}, marker)
    assert not is_allowed(module, name)


@pytest.mark.parametrize("proto", [0, 1, 2])
def test_python2_names_are_mapped_before_checking(tmp_path: Path, marker: Path, proto: int) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(global_call("__builtin__", "eval", (f"open({str(marker)!r}, 'w').close()",), proto))
    assert_refused(path, {"builtins.eval"}, marker)
    path.write_bytes(global_call("commands", "getoutput", (f"touch {marker}",), proto))
    assert_refused(path, {"subprocess.getoutput"}, marker)


@pytest.mark.parametrize("fmt", ["pickle-p2", "pickle-p3", "pickle-p4", "pickle-p5", "joblib-0", "joblib-3"])
def test_extension_codes_go_through_the_allow_list(tmp_path: Path, marker: Path, fmt: str) -> None:
    code = 0xF00D
    copyreg.add_extension(os.system.__module__, "system", code)
    try:
        system = Call(os.system, f"touch {marker}")
        # The joblib variants hide the call in an object array, i.e. in joblib's nested pickle.
        path = save(
            np.array([system], dtype=object) if fmt.startswith("joblib") else system, tmp_path / "e", fmt
        )
        if fmt.startswith("pickle"):
            assert "EXT2" in {op.name for op, _, _ in pickletools.genops(path.read_bytes())}
        # What an earlier unrestricted load in this process would leave in pickle's cache:
        pickle._extension_cache[code] = os.system  # type: ignore[attr-defined]
        assert_refused(path, {_name(os.system)}, marker)
        assert _name(os.system) in pickle_globals(path)
    finally:
        copyreg.remove_extension(os.system.__module__, "system", code)
        pickle._extension_cache.pop(code, None)  # type: ignore[attr-defined]


class _PersistentPickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        return "external-object" if obj == "by-reference" else None


@pytest.mark.parametrize("proto", range(6))
def test_persistent_ids_are_refused(tmp_path: Path, proto: int) -> None:
    buffer = io.BytesIO()
    _PersistentPickler(buffer, protocol=proto).dump(["a", "by-reference"])
    path = tmp_path / "pid.pkl"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(UnsafeModelError, match=r"persistent id.*--trust-model"):
        load_pickle(path)


def test_build_cannot_patch_classes_or_functions(tmp_path: Path) -> None:
    from numpy.random import _pickle as numpy_random_pickle

    ctor = vars(numpy_random_pickle)["__bit_generator_ctor"]
    defaults = ctor.__defaults__
    # BUILD with slot state (None, {...}) on a function would setattr(func, '__defaults__', ...).
    state = pickle.MARK + pickle.NONE + pickle.EMPTY_DICT + _unicode("__defaults__", 2)
    state += pickle.MARK + _unicode("PCG64", 2) + pickle.TUPLE + pickle.SETITEM + pickle.TUPLE
    path = tmp_path / "patch.pkl"
    for module, name in [("numpy.random._pickle", "__bit_generator_ctor"), ("sklearn.pipeline", "Pipeline")]:
        path.write_bytes(b"\x80\x02" + pickle.GLOBAL + f"{module}\n{name}\n".encode() + state + b"b.")
        with pytest.raises(UnsafeModelError, match=f"overwrite attributes of '{module}.{name}'"):
            load_pickle(path)
    assert ctor.__defaults__ == defaults


def test_joblib_routes_object_arrays_through_the_outer_find_class(tmp_path: Path, marker: Path) -> None:
    """What joblib 1.6 itself does; the loader replaces that path with its own guarded one."""

    class Refusing(NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            if name == "system":
                raise RuntimeError(f"asked for {module}.{name}")
            return super().find_class(module, name)

    path = save(
        np.array(["a", Call(os.system, f"touch {marker}")], dtype=object), tmp_path / "a.joblib", "joblib-0"
    )
    with open(path, "rb") as fh, pytest.raises(RuntimeError, match="system"):
        Refusing(str(path), fh, True).load()
    assert not marker.exists()


# partial(check_array): the one partial the allow-list builds; calling it inside the stream is refused.
_PARTIAL_STR = (
    pickle.GLOBAL
    + b"functools\npartial\n"
    + pickle.GLOBAL
    + b"sklearn.utils.validation\ncheck_array\n"
    + pickle.TUPLE1
    + pickle.REDUCE
)


@pytest.mark.parametrize(
    ("ops", "kind"),
    [
        (_PARTIAL_STR + pickle.MARK + pickle.BININT1 + b"\x01" + pickle.TUPLE + pickle.REDUCE, "partial"),
        (pickle.EMPTY_LIST + pickle.EMPTY_TUPLE + pickle.NEWOBJ, "list"),
        (pickle.EMPTY_DICT + pickle.EMPTY_TUPLE + pickle.EMPTY_DICT + pickle.NEWOBJ_EX, "dict"),
        (pickle.MARK + _PARTIAL_STR + pickle.OBJ, "partial"),
    ],
    ids=["reduce", "newobj", "newobj-ex", "obj"],
)
def test_only_allow_listed_globals_can_be_called(tmp_path: Path, ops: bytes, kind: str) -> None:
    """REDUCE/NEWOBJ/OBJ on an object the stream built (e.g. a partial) is refused."""
    path = tmp_path / "call.pkl"
    path.write_bytes(b"\x80\x04" + ops + pickle.STOP)
    with pytest.raises(UnsafeModelError, match=rf"calls a '{kind}' object it built itself.*--trust-model"):
        load_pickle(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_calls_on_built_objects_are_refused_in_every_format(tmp_path: Path, fmt: str) -> None:
    # partial(check_array) is allowed, calling the partial is not
    built = Call(functools.partial(check_array), 1)
    for obj in (built, np.array([built], dtype=object)):
        path = save(obj, tmp_path / "call.bin", fmt)
        with pytest.raises(UnsafeModelError, match="calls a 'partial' object it built itself"):
            load_pickle(path)


def test_scan_marks_computed_global_names(tmp_path: Path, marker: Path) -> None:
    """A STACK_GLOBAL whose module name was computed shows '?'; loading still refuses it."""
    computed_os = pickle.GLOBAL + b"builtins\nstr\n" + _unicode("os", 4) + pickle.TUPLE1 + pickle.REDUCE
    ops = computed_os + _unicode("system", 4) + pickle.STACK_GLOBAL
    ops += _unicode(f"touch {marker}", 4) + pickle.TUPLE1 + pickle.REDUCE
    path = tmp_path / "computed.pkl"
    path.write_bytes(b"\x80\x04" + ops + pickle.STOP)
    assert pickle_globals(path) == ["builtins.str", "?.system"]
    assert_refused(path, {"os.system"}, marker)


def test_codecs_encode_only_as_pickle_uses_it(tmp_path: Path, marker: Path) -> None:
    path = tmp_path / "codec.pkl"
    path.write_bytes(global_call("_codecs", "encode", ("abc", "rot13"), 2))
    assert_refused(path, {"_codecs.encode"}, marker)
    path.write_bytes(global_call("_codecs", "encode", ("abc", "latin1"), 2))
    assert load_pickle(path) == b"abc"


def test_pyarrow_arrays_are_validated(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    restore, (data,) = pa.array(["ab", "cd"]).__reduce__()
    arrow_type, length, nulls, offset, (validity, _, values), children, dictionary = data
    bad_offsets = pa.py_buffer(np.array([0, 2, 10_000], dtype=np.int32).tobytes())
    evil = (arrow_type, length, nulls, offset, [validity, bad_offsets, values], children, dictionary)
    path = tmp_path / "arrow.pkl"
    path.write_bytes(pickle.dumps(Call(restore, evil), protocol=4))
    with pytest.raises(pa.ArrowInvalid):
        pickle.loads(path.read_bytes()).validate(full=True)
    # No fitted model holds a pyarrow array (scripts/derive_allowlist.py): refused before it is built.
    with pytest.raises(UnsafeModelError, match=r"pyarrow\.lib\._restore_array"):
        load_pickle(path)


def test_legacy_ndarraywrapper_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.pkl"
    for module in ("joblib.numpy_pickle", "joblib.numpy_pickle_compat"):
        path.write_bytes(global_call(module, "NDArrayWrapper", ("companion.npy",), 2))
        with pytest.raises(UnsafeModelError, match=r"joblib < 0\.10.*--trust-model"):
            load_pickle(path)


def test_legacy_zfile_is_refused_but_scanned(tmp_path: Path, marker: Path) -> None:
    path = tmp_path / "old.z"
    with open(path, "wb") as fh:
        write_zfile(fh, pickle.dumps(Call(os.system, f"touch {marker}"), protocol=2))
    with pytest.raises(UnsafeModelError, match=r"joblib < 0\.10.*--trust-model"):
        load_pickle(path)
    assert _name(os.system) in pickle_globals(path)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# Broken files
# ---------------------------------------------------------------------------------------------


def assert_unreadable(path: Path, *, trust: bool = False) -> None:
    with pytest.raises(InputError) as info:
        load_pickle(path, trust=trust)
    assert type(info.value) is InputError
    message = str(info.value)
    assert message.startswith(f"{path}: not a readable model file (")
    assert message.endswith("expected a scikit-learn model saved with joblib.dump or pickle.dump")
    with pytest.raises(InputError):
        pickle_globals(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.joblib"
    for trust in (False, True):
        with pytest.raises(InputError) as info:
            load_pickle(path, trust=trust)
        assert str(info.value) == f"{path}: no such file"
    with pytest.raises(InputError, match="no such file"):
        pickle_globals(path)


def test_empty_text_random_and_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    assert_unreadable(empty)
    assert_unreadable(empty, trust=True)
    with pytest.raises(InputError, match=r"\(the file is empty\);"):
        load_pickle(empty)
    text = tmp_path / "model.txt"
    text.write_text("this is not a model\nsepal_length,sepal_width\n5.1,3.5\n")
    assert_unreadable(text)
    noise = tmp_path / "noise.bin"
    rng = np.random.default_rng(0)
    for _ in range(20):
        noise.write_bytes(rng.bytes(int(rng.integers(1, 4096))))
        assert_unreadable(noise)
    assert_unreadable(tmp_path)
    bogus_zfile = tmp_path / "zf.bin"
    bogus_zfile.write_bytes(b"ZF not a joblib 0.9 header")
    assert_unreadable(bogus_zfile)


@pytest.mark.parametrize("fmt", ["pickle-p2", "pickle-p5", "joblib-0", "joblib-3", *COMPRESSORS])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_files(tmp_path: Path, fmt: str | tuple[str, int], fraction: float) -> None:
    full = save(MODELS["forest-rs-int"].model, tmp_path / "full.bin", fmt).read_bytes()
    path = tmp_path / "cut.bin"
    path.write_bytes(full[: int(len(full) * fraction)])
    assert_unreadable(path)
    if fraction == 0.5:
        assert_unreadable(path, trust=True)


@pytest.mark.parametrize("fmt", ["pickle-p1", "pickle-p4", "joblib-0"])
def test_mutated_files_raise_only_xai_errors(tmp_path: Path, fmt: str) -> None:
    full = bytearray(save(MODELS["logreg-rs-int"].model, tmp_path / "full.bin", fmt).read_bytes())
    rng = np.random.default_rng(1)
    path = tmp_path / "mutated.bin"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about mangled version strings
        for _ in range(150):
            data = bytearray(full)
            for pos in rng.integers(0, len(data), size=3):
                data[pos] = int(rng.integers(0, 256))
            path.write_bytes(bytes(data))
            for action in (load_pickle, pickle_globals):
                with contextlib.suppress(InputError, UnsafeModelError):
                    action(path)


# ---------------------------------------------------------------------------------------------
# The allow-list and the scan agree with what real pickles ask for
# ---------------------------------------------------------------------------------------------


class _Recorder(NumpyUnpickler):
    """joblib's own unpickler, noting each (module, name) it is asked for, mapped to Python 3."""

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        self.seen.add((module, name))
        return super().find_class(module, name)


def recorded_globals(path: Path) -> set[tuple[str, str]]:
    with open(path, "rb") as raw, _validate_fileobject_and_memmap(raw, str(path), None) as (stream, _):
        recorder = _Recorder(str(path), stream, True)
        recorder.seen = set()
        recorder.load()
    return recorder.seen


@pytest.mark.parametrize("fmt", [*FORMATS, ("xz", 3)])
@pytest.mark.parametrize(
    "name", ["pipeline-rs-obj", "hgb-clf-cat-rs-obj", "knn", "gboost-rs-obj", "mlp-rs-int", "grid-search"]
)
def test_scan_matches_what_unpickling_asks_for(tmp_path: Path, name: str, fmt: str | tuple[str, int]) -> None:
    path = save(MODELS[name].model, tmp_path / "model.bin", fmt)
    seen = recorded_globals(path)
    assert set(pickle_globals(path)) == {f"{module}.{qualname}" for module, qualname in seen}
    assert all(is_allowed(module, qualname) for module, qualname in seen)


def test_pandas_scan_matches(tmp_path: Path) -> None:
    for fmt in ("pickle-p0", "pickle-p5", "joblib-3"):
        path = save(_frames_zoo(), tmp_path / "frames.bin", fmt)
        seen = recorded_globals(path)
        assert set(pickle_globals(path)) == {f"{module}.{qualname}" for module, qualname in seen}


def test_every_exact_name_exists_in_the_installed_versions() -> None:
    for full in sorted(safe_pickle._ALLOWED_EXACT):
        module, _, name = full.rpartition(".")
        assert is_allowed(module, name), full


@pytest.mark.parametrize(
    ("module", "name", "allowed"),
    [
        ("sklearn.tree._classes", "DecisionTreeClassifier", True),
        ("sklearn.tree._tree", "Tree", True),
        ("sklearn.ensemble._hist_gradient_boosting.binning", "_BinMapper", True),
        ("sklearn.utils._bunch", "Bunch", True),  # only as an ensemble's named_estimators_ (audit)
        ("sklearn.utils", "Bunch", False),
        ("sklearn.metrics._scorer", "_Scorer", True),
        ("sklearn.utils.parallel", "Parallel", False),
        ("sklearn.tree._classes", "BaseDecisionTree.fit", False),
        ("sklearn.metrics._classification", "accuracy_score", True),  # a value only: calls are refused
        ("sklearn.metrics._classification", "confusion_matrix", False),
        ("sklearn.nonexistent_module", "Thing", False),
        ("sklearn.tree._classes", "NoSuchClass", False),
        ("sklearn", "__version__", False),
        ("numpy", "log1p", True),
        ("scipy.special._special_ufuncs", "expit", True),
        ("numpy", "_add_newdoc_ufunc", False),
        ("numpy", "float64", True),
        ("numpy", "dtype", True),
        ("numpy", "memmap", False),
        ("numpy", "fromfile", False),
        ("_codecs", "encode", True),
        ("_codecs", "decode", False),
        ("numpy.core", "_ufunc_reconstruct", True),
        ("builtins", "set", True),
        ("builtins", "getattr", False),
        ("pandas", "DataFrame", False),
        ("pandas.core.frame", "DataFrame", False),
        ("pandas", "eval", False),
        ("xgboost.sklearn", "XGBClassifier", importlib.util.find_spec("xgboost") is not None),
        ("lightgbm.sklearn", "LGBMClassifier", importlib.util.find_spec("lightgbm") is not None),
        ("xgboost", "XGBClassifier", False),
    ],
)
def test_is_allowed(module: str, name: str, allowed: bool) -> None:
    assert is_allowed(module, name) is allowed


def test_names_in_messages_cannot_inject_terminal_codes(tmp_path: Path, marker: Path) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(global_call("os\x1b[2J", "system", (f"touch {marker}",), 4))
    error = assert_refused(path, {"os\\x1b[2J.system"}, marker)
    assert "\x1b" not in str(error)


@pytest.mark.parametrize("fmt", [*FORMATS, ("xz", 3)])
def test_listing_finds_no_built_calls_in_real_models(tmp_path: Path, fmt: str | tuple[str, int]) -> None:
    for name in ("pipeline-rs-obj", "hgb-clf-cat-rs-obj", "knn-ball-tree", "grid-search", "mlp-rs-int"):
        listing = list_pickle(save(MODELS[name].model, tmp_path / "model.bin", fmt))
        assert listing.built_calls == [], name
    assert list_pickle(save(_frames_zoo(), tmp_path / "frames.bin", fmt)).built_calls == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_listing_names_calls_on_built_objects(tmp_path: Path, marker: Path, fmt: str) -> None:
    """What the loader refuses as 'calls an object it built itself', the listing reports too."""
    chain = make_payload("getattr-chain", Marker.at(marker), "unused", tmp_path).obj
    listing = list_pickle(save(chain, tmp_path / "chain.bin", fmt))
    assert listing.built_calls == ["the result of builtins.getattr(...)"]
    built = Call(functools.partial(check_array), 1)
    listing = list_pickle(save(np.array([built], dtype=object), tmp_path / "partial.bin", fmt))
    assert listing.built_calls == ["the result of functools.partial(...)"]
