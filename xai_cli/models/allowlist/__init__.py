"""The allow-list of what a model file may ask for, narrow by design, and the type checks the post-load
audit makes with it.

A name is admitted when it is (1) an estimator class of scikit-learn's own registry
(``sklearn.utils.all_estimators()``), (2) a scikit-learn internal that fitted models really pickle, or
a scorer class (both derived by scripts/derive_allowlist.py into ``sklearn_internal``), (3) a global the
XGBoost, LightGBM or CatBoost sklearn wrappers pickle (derived the same way), (4) one of the exact
numpy, scipy, joblib and Python names in ``names``, or (5) a numpy/scipy ufunc. Never a module prefix.

Functions are admitted as values only (a FunctionTransformer's func, a scorer's metric): the file may
name them, but calling one inside the stream is refused, except the guarded helpers of ``guards``,
whose arguments are checked.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import types
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from xai_cli.models.allowlist import names
from xai_cli.models.allowlist import sklearn_internal as derived

__all__ = [
    "Admitted",
    "Unresolvable",
    "admit",
    "is_allowed",
    "is_allowed_class",
    "is_estimator_class",
    "is_estimator_name",
    "is_graph_type",
    "is_reference",
    "positional_attributes",
    "qualified_name",
    "state_problem",
]

# Types admitted only under these attribute names of an estimator: scorers (a search's scorer_, HGB's
# _scorer, a threshold tuner's _curve_scorer: they call methods by name, and nothing in xai calls them)
# and Bunch (a dict whose items read as attributes: only as the named_estimators_ of a voting or
# stacking ensemble, which predicts through estimators_).
SCORER_ATTRIBUTES: frozenset[str] = frozenset({"scorer_", "_scorer", "_curve_scorer"})
POSITIONAL: dict[str, frozenset[str]] = {
    **{name: SCORER_ATTRIBUTES for name in derived.SCORERS},
    "sklearn.utils._bunch.Bunch": frozenset({"named_estimators_"}),
}
# Types the audit handles itself, never admitted as plain graph types.
_SPECIAL_TYPES = frozenset(
    {"builtins.function", "builtins.method", "builtins.type", "builtins.builtin_function_or_method",
     "numpy._ArrayFunctionDispatcher", "numpy.ufunc", "functools.partial"}
)  # fmt: skip
_EXTRA_GRAPH_TYPES = frozenset(
    {"builtins.set", "builtins.frozenset", "builtins.bytes", "builtins.bytearray", "builtins.complex",
     "builtins.range", "collections.OrderedDict", "pandas._libs.missing.NAType"}
)  # fmt: skip


class Unresolvable(LookupError):
    """An allow-listed name that cannot be imported here (package missing or version mismatch)."""


@dataclass(frozen=True)
class Admitted:
    """What an allowed name resolves to, and whether the stream may call it while loading."""

    obj: object
    callable_at_load: bool


def _import(module: str) -> types.ModuleType:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core.* under numpy 2
            return importlib.import_module(module)
    except ImportError as exc:
        raise Unresolvable(f"the file needs module '{module}', which cannot be imported here: {exc}") from exc


def attribute(module: str, name: str) -> object:
    """``module.name`` (a dotted qualname), imported; Unresolvable if it does not exist here."""
    obj: object = _import(module)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            for part in name.split("."):
                obj = getattr(obj, part)
    except AttributeError as exc:
        raise Unresolvable(f"'{module}.{name}' does not exist in the installed version") from exc
    return obj


@functools.cache
def estimator_names() -> frozenset[str]:
    """The estimator classes of scikit-learn's registry: the derived list, or the installed registry
    when the installed scikit-learn is not the version the list was derived from."""
    import sklearn

    if sklearn.__version__ == derived.SKLEARN_VERSION:
        return derived.ESTIMATORS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sklearn.experimental import enable_halving_search_cv, enable_iterative_imputer  # noqa: F401
        from sklearn.utils import all_estimators

        live = {qualified_name(cls) for _, cls in all_estimators() if cls.__module__.startswith("sklearn.")}
    return derived.ESTIMATORS | frozenset(live)


def _sklearn_name(full: str) -> bool:
    return full in derived.INTERNAL or full in POSITIONAL or full in estimator_names()


def ufunc(module: str, name: str) -> np.ufunc | None:
    """The numpy/scipy ufunc ``module.name``, or None."""
    if module not in names.UFUNC_MODULES or not name.isidentifier() or name.startswith("_"):
        return None
    obj = getattr(_import(module), name, None)
    return obj if isinstance(obj, np.ufunc) else None


def admit(module: str, name: str) -> Admitted | None:
    """What ``module.name`` resolves to if it is on the allow-list (guarded names excepted), else None.

    Nothing outside the allow-list is imported. Raises Unresolvable for an allowed name that the
    installed packages do not provide.
    """
    full = f"{module}.{name}"
    if full in names.EXACT:
        return Admitted(attribute(module, name), True)
    if full in names.REFERENCE_FUNCTIONS:
        return Admitted(attribute(module, name), False)
    if (module.split(".")[0] == "sklearn" and _sklearn_name(full)) or full in derived.WRAPPERS:
        obj = attribute(module, name)
        return Admitted(obj, isinstance(obj, type))
    found = ufunc(module, name)
    return Admitted(found, True) if found is not None else None


def is_allowed(module: str, name: str) -> bool:
    """True when ``module.name`` is on the allow-list of objects a model file may ask for.

    ``module`` and ``name`` are as Python 3 spells them; ``name`` may be a dotted qualname. Guarded
    names (``_codecs.encode``, numpy's random-state constructors, ...) count as allowed: their
    arguments are checked where they are called. ``builtins.getattr`` does not: the scan admits it
    only where it checked the call.
    """
    full = f"{module}.{name}"
    if full in names.GUARDED:
        return True
    try:
        return admit(module, name) is not None
    except Unresolvable:
        return False


def qualified_name(obj: Any) -> str:
    """'module.qualname' of a class or function."""
    return f"{getattr(obj, '__module__', None) or '?'}.{getattr(obj, '__qualname__', None) or '?'}"


def _admits_itself(obj: object) -> bool:
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return False
    try:
        found = admit(module, qualname)
    except Unresolvable:
        return False
    return found is not None and found.obj is obj


def is_allowed_class(cls: type) -> bool:
    """``cls`` is a class the allow-list admits (by the name pickle would write for it)."""
    return isinstance(cls, type) and (_admits_itself(cls) or qualified_name(cls) == "numpy.dtype")


# A raw ``xgb.train`` / ``lgb.train`` Booster pickled on its own (models/boosters.py wraps it).
RAW_BOOSTERS = frozenset({"xgboost.core.Booster", "lightgbm.basic.Booster"})


def is_estimator_name(full: str) -> bool:
    """'module.qualname' names an estimator class: scikit-learn's registry or a wrapper's estimator."""
    if full in estimator_names() or full in RAW_BOOSTERS:
        return True
    return full in derived.WRAPPERS and full.split(".")[-1].startswith(("XGB", "LGBM", "CatBoost"))


def is_estimator_class(cls: type) -> bool:
    """``cls`` is an estimator class a model file's top object may be."""
    return isinstance(cls, type) and is_estimator_name(qualified_name(cls)) and _admits_itself(cls)


def positional_attributes(cls: type) -> frozenset[str] | None:
    """The attribute names under which instances of ``cls`` may sit, if ``cls`` is positional."""
    return POSITIONAL.get(qualified_name(cls))


def is_graph_type(cls: type) -> bool:
    """``cls`` is the type of an object some fitted model contains (derived), or an allowed class."""
    full = qualified_name(cls)
    if full in _SPECIAL_TYPES or full in POSITIONAL:
        return False
    if full in derived.GRAPH_TYPES or full in _EXTRA_GRAPH_TYPES:
        return True
    return issubclass(cls, (np.generic, np.dtype)) or is_allowed_class(cls)


def is_reference(func: object) -> bool:
    """``func`` is a function a fitted model may hold as a value: an allowed ufunc, a function the
    allow-list admits by name, or one of the bound methods real models store (see GETATTR_ALLOWED)."""
    if isinstance(func, types.MethodType):
        # Only the libraries' own __setstate__ makes bound methods (the stream's getattr is guarded):
        # one of an object of the model's graph, to a function of that object's own class.
        owner = func.__self__
        name = getattr(func.__func__, "__name__", None)
        return (
            isinstance(name, str)
            and inspect.getattr_static(type(owner), name, None) is func.__func__
            and is_graph_type(type(owner))
        )
    if isinstance(func, np.ufunc):
        module = getattr(func, "__module__", None) or "numpy"
        found = ufunc(module, func.__name__) or ufunc("numpy", func.__name__)
        return found is func
    return _admits_itself(func)


_MISSING = object()


def state_problem(cls: type, state: dict[Any, Any], owner: object = None) -> str | None:
    """Why ``state`` (an instance dict about to be, or already, set on a ``cls``) is not what a fitted
    model holds: a key that is not a name, a dunder, or one that shadows a method, property or class
    attribute of ``cls``. A bound method of ``owner`` stored under its own name is not a shadow."""
    for key, value in state.items():
        if not isinstance(key, str) or not key.isidentifier():
            return "has a key that is not an attribute name"
        if key.startswith("__") and key.endswith("__"):
            return f"sets '{names.printable(key, 40)}'"
        static = inspect.getattr_static(cls, key, _MISSING)
        if static is _MISSING:
            continue
        if isinstance(value, types.MethodType) and value.__func__ is static and is_reference(value):
            continue
        if isinstance(static, property):
            return f"shadows the property '{names.printable(key, 40)}' of its class"
        if inspect.isroutine(static) or hasattr(type(static), "__get__"):
            return f"shadows the method '{names.printable(key, 40)}' of its class"
        # else a plain data class attribute: a default the instance overrides (LassoLars' positive)
    return None
