"""Guarded callables: allowed names that are only safe with some arguments.

``find_class`` hands out ``guard(full, ...)`` instead of the real object: a wrapper that checks the
arguments the stream calls it with and refuses (UnsafeModelError) anything real pickles never pass:

- numpy's ``__randomstate_ctor`` / ``__generator_ctor`` / ``__bit_generator_ctor`` call their second
  argument: it must be numpy's own bit-generator constructor, the first a bit-generator name
  ('MT19937', 'PCG64', ...), class or instance;
- ``numpy.dtype``: a short type code, and bools for align and copy (anything else made numpy walk
  arbitrary nested structure);
- ``functools.partial``: only around ``check_array`` (what HistGradientBoosting keeps), with no
  positional arguments, literal keywords and no attributes (checked again at its BUILD);
- ``copyreg._reconstructor``, ``newObj`` and Cython's ``__pyx_unpickle_*``: the class must be allowed
  (and the one the helper belongs to);
- ``getattr``: only the bound methods real fitted models store (``names.GETATTR_ALLOWED``);
- ``_codecs.encode`` as pickle uses it; numpy 1's ``_ufunc_reconstruct`` only for ufuncs.

The same rules, on the scan's symbolic values, are in ``xai_cli.models.pickle_scan``.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from xai_cli.models.allowlist import attribute, is_allowed_class, names, qualified_name, ufunc

Refuse = Callable[[str], Exception]

BIT_GENERATOR_CTOR = "numpy.random._pickle.__bit_generator_ctor"
RANDOM_CTORS = frozenset(
    {BIT_GENERATOR_CTOR, "numpy.random._pickle.__randomstate_ctor", "numpy.random._pickle.__generator_ctor"}
)
PARTIAL_TARGETS = frozenset({"sklearn.utils.validation.check_array"})
NEW_OBJ_CLASSES = {
    "sklearn.neighbors._kd_tree.newObj": "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.newObj": "sklearn.neighbors._ball_tree.BallTree",
}
_DTYPE_CODE = re.compile(r"[<>|=]?[A-Za-z]{1,2}[0-9]{0,6}")
MAX_DTYPE_CODE = 16
LITERALS = (str, bytes, int, float, bool, type(None))


def dtype_args_problem(args: object) -> str | None:
    """Why ``numpy.dtype(*args)`` is not a call numpy's pickles make (None when it is)."""
    if not isinstance(args, tuple) or not 1 <= len(args) <= 3:
        return "arguments that are not (type code, align, copy)"
    code = args[0]
    if not isinstance(code, str) or len(code) > MAX_DTYPE_CODE or not _DTYPE_CODE.fullmatch(code):
        return "a type code that is not a short string such as 'f8'"
    if not all(isinstance(flag, bool) or (type(flag) is int and flag in (0, 1)) for flag in args[1:]):
        return "align or copy flags that are not booleans"
    return None


def bit_generator_names() -> dict[str, type]:
    """numpy's own table of bit-generator names and classes."""
    from numpy.random._pickle import BitGenerators

    return dict(BitGenerators)


def _bit_generator_problem(value: object, *, instance: bool) -> str | None:
    table = bit_generator_names()
    if isinstance(value, str):
        return None if value in table else "a bit-generator name numpy does not have"
    if isinstance(value, type):
        return None if value in table.values() else "a class that is not a bit generator"
    if instance and type(value) in table.values():
        return None
    return f"a '{qualified_name(type(value))}' where a bit-generator name belongs"


def _random_ctor(full: str, real: Callable[..., Any], refuse: Refuse, own: set[int]) -> Callable[..., Any]:
    def checked(*args: object, **kwargs: object) -> object:
        if kwargs or len(args) > (1 if full == BIT_GENERATOR_CTOR else 2):
            raise refuse("arguments numpy's pickles never pass")
        if args:
            problem = _bit_generator_problem(args[0], instance=full != BIT_GENERATOR_CTOR)
            if problem:
                raise refuse(problem)
        if len(args) == 2 and getattr(args[1], "xai_guards", None) != BIT_GENERATOR_CTOR:
            raise refuse(f"a '{qualified_name(type(args[1]))}' as its bit-generator constructor")
        return real(*args)

    return checked


def _split(full: str) -> tuple[str, str]:
    module, _, name = full.rpartition(".")
    return module, name


def partial_state_problem(func: object, args: object, keywords: object, namespace: object) -> str | None:
    """Why a partial of these parts is not the check_array partial HistGradientBoosting keeps."""
    if qualified_name(func) not in PARTIAL_TARGETS or func is not attribute(*_split(qualified_name(func))):
        return f"a '{qualified_name(func)}' (partial is allowed around check_array only)"
    if args not in ((), None):
        return "positional arguments"
    if keywords is not None and not (
        isinstance(keywords, dict) and all(isinstance(k, str) and _is_plain(v) for k, v in keywords.items())
    ):
        return "keyword arguments that are not plain values"
    if namespace not in (None, {}):
        return "attributes of its own"
    return None


def _is_plain(value: object) -> bool:
    if isinstance(value, list | tuple) and len(value) <= 16:
        return all(_is_plain_item(item) for item in value)
    return _is_plain_item(value)


def _is_plain_item(value: object) -> bool:
    return isinstance(value, (*LITERALS, np.dtype)) or (isinstance(value, type) and is_allowed_class(value))


def _partial(refuse: Refuse) -> Callable[..., Any]:
    def checked(func: object, *args: object, **keywords: object) -> functools.partial:
        problem = partial_state_problem(func, args, keywords, None)
        if problem:
            raise refuse(problem)
        return functools.partial(func, **keywords)  # type: ignore[arg-type]

    return checked


def check_partial_build(target: functools.partial, state: object, refuse: Refuse) -> None:
    """A BUILD on a partial: the state pickle writes, (func, args, keywords, namespace), checked."""
    if not isinstance(state, tuple) or len(state) != 4:
        raise refuse("a state that is not (func, args, keywords, attributes)")
    problem = partial_state_problem(*state)
    if problem:
        raise refuse(problem)


def _class_maker(full: str, refuse: Refuse, own: set[int]) -> Callable[..., Any]:
    real = attribute(*_split(full))
    wanted = NEW_OBJ_CLASSES.get(full)
    if full.startswith("sklearn.metrics._dist_metrics."):
        wanted = "sklearn.metrics._dist_metrics.DistanceMetric"
    if ".__pyx_unpickle_" in full:
        module, name = _split(full)
        wanted = f"{module}.{name.removeprefix('__pyx_unpickle_')}"

    def checked(cls: object, *args: object) -> object:
        base = attribute(*_split(wanted)) if wanted else None
        ok = isinstance(cls, type) and id(cls) in own and is_allowed_class(cls)
        if ok and base is not None:
            ok = cls is base or issubclass(cls, base)  # type: ignore[arg-type]
        if not ok:
            raise refuse(f"a '{qualified_name(cls) if isinstance(cls, type) else type(cls).__name__}'")
        return real(cls, *args)  # type: ignore[operator]

    return checked


_RECONSTRUCTOR_BASES = (object, int, float, str, bytes, tuple, list, dict, set, frozenset)


def _reconstructor(refuse: Refuse, own: set[int]) -> Callable[..., Any]:
    import copyreg

    def checked(cls: object, base: object, state: object) -> object:
        if not (isinstance(cls, type) and id(cls) in own and is_allowed_class(cls)):
            raise refuse(f"a '{qualified_name(cls) if isinstance(cls, type) else type(cls).__name__}'")
        if base not in _RECONSTRUCTOR_BASES or (base is object and state is not None):
            raise refuse("a base class or state that pickle never writes")
        return copyreg._reconstructor(cls, base, state)  # type: ignore[attr-defined]

    return checked


def _getattr(refuse: Refuse) -> Callable[..., Any]:
    def checked(*args: object) -> object:
        obj, name = (*args, None, None)[:2]
        if len(args) != 2 or (qualified_name(type(obj)), name) not in names.GETATTR_ALLOWED:
            raise refuse(f"({qualified_name(type(obj))}, {names.printable(repr(name), 40)})")
        return getattr(obj, name)  # type: ignore[arg-type]

    return checked


def _small_guards(full: str, refuse: Refuse, refused_name: Callable[[str], Exception]) -> Callable[..., Any]:
    if full == "_codecs.encode":

        def encode(obj: object, encoding: str = "utf-8", errors: str = "strict") -> bytes:
            if not isinstance(obj, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
                raise refuse(f"encoding {names.printable(repr(encoding), 40)}")
            return codecs.encode(obj, "latin1")

        return encode
    if full == "numpy.dtype":

        def dtype(*args: object) -> np.dtype:
            problem = dtype_args_problem(args)
            if problem:
                raise refuse(problem)
            return np.dtype(args[0], align=bool(args[1]) if len(args) > 1 else False, copy=True)

        return dtype

    def ufunc_reconstruct(module: object, name: object) -> np.ufunc:
        found = ufunc(module, name) if isinstance(module, str) and isinstance(name, str) else None
        if found is None:
            raise refused_name(f"{module}.{name}")
        return found

    return ufunc_reconstruct


def guard(
    full: str, refuse: Refuse, refused_name: Callable[[str], Exception], own: set[int]
) -> Callable[..., Any]:
    """The checking wrapper for guarded name ``full``. ``refuse(detail)`` builds the refusal,
    ``refused_name(name)`` the refusal of a name, ``own`` holds the ids of what find_class handed out."""
    checked = _guard(full, refuse, refused_name, own)
    checked.xai_guards = full  # type: ignore[attr-defined]
    return checked


def _guard(
    full: str, refuse: Refuse, refused_name: Callable[[str], Exception], own: set[int]
) -> Callable[..., Any]:
    if full in RANDOM_CTORS:
        return _random_ctor(full, attribute(*_split(full)), refuse, own)  # type: ignore[arg-type]
    if full == "functools.partial":
        return _partial(refuse)
    if full == "copyreg._reconstructor":
        return _reconstructor(refuse, own)
    if full == "builtins.getattr":
        return _getattr(refuse)
    if full.endswith(".newObj") or ".__pyx_unpickle_" in full:
        return _class_maker(full, refuse, own)
    return _small_guards(full, refuse, refused_name)


def is_guarded(full: str) -> bool:
    """``full`` is handed out as a checking wrapper (a pyx unpickle helper of a derived class counts)."""
    return full in names.GUARDED or full in names.CHECKED_ONLY or _is_pyx_helper(full)


def _is_pyx_helper(full: str) -> bool:
    from xai_cli.models.allowlist import sklearn_internal

    return ".__pyx_unpickle_" in full and full in sklearn_internal.INTERNAL
