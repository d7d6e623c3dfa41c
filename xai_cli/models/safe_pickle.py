"""Load pickled and joblib-saved models through an allow-list, and list what a file would import.

Unpickling runs whatever callables the file names. ``load_pickle`` therefore resolves every
global through a precise allow-list (scikit-learn classes plus the exact numpy, scipy, pandas
and builtins names that real fitted models contain) and refuses anything else before it is
imported or called. ``pickle_globals`` walks the opcode stream without loading anything.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import copyreg
import importlib
import inspect
import io
import math
import pickle
import pickletools
import struct
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeVar

import joblib
import numpy as np
from joblib.compressor import _BUFFER_SIZE, _MODE_READ_EOF, BinaryGzipFile, BinaryZlibFile
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler
from joblib.numpy_pickle_compat import _MAX_LEN, NDArrayWrapper, ZNDArrayWrapper, read_zfile
from joblib.numpy_pickle_utils import (
    _ZFILE_PREFIX,
    _detect_compressor,
    _ensure_native_byte_order,
    _validate_fileobject_and_memmap,
)

from xai_cli.errors import InputError, UnsafeModelError

__all__ = [
    "PickleListing",
    "is_allowed",
    "list_pickle",
    "list_pickle_stream",
    "load_pickle",
    "pickle_globals",
]

# ---------------------------------------------------------------------------------------------
# The allow-list. Names are 'module.qualname' exactly as pickle writes them (after the
# Python 2 name mapping that protocols 0-2 apply), never whole packages.
# ---------------------------------------------------------------------------------------------

# numpy arrays, dtypes and array scalars as numpy's own __reduce__ writes them. numpy 2 names,
# plus the numpy 1 ``numpy.core`` spellings (numpy 2 still resolves them through a shim) so that
# models saved under numpy 1 load. ``_frombuffer`` is what protocol 5 uses for arrays.
_NUMPY_CORE: frozenset[str] = frozenset(
    {
        "numpy.ndarray",
        "numpy.dtype",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray.scalar",
        "numpy.core.multiarray.scalar",
        "numpy._core.numeric._frombuffer",
        "numpy.core.numeric._frombuffer",
    }
)

# Masked arrays: GridSearchCV/RandomizedSearchCV keep them in cv_results_.
_NUMPY_MASKED: frozenset[str] = frozenset(
    {"numpy.ma.MaskedArray", "numpy.ma.core.MaskedArray", "numpy.ma.core._mareconstruct"}
)

# Scalar types: estimators keep them as parameters (OneHotEncoder(dtype=np.float64)) and HGB
# stores one in its state. Calling one only makes a number.
_NUMPY_SCALAR_TYPES: frozenset[str] = frozenset(
    f"numpy.{name}"
    for name in (
        "bool", "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "float32", "float64", "longdouble", "complex64", "complex128", "clongdouble",
        "object_", "str_", "bytes_", "datetime64", "timedelta64",
    )
)  # fmt: skip

# dtype classes (np.dtypes.Float64DType, ...): none of the models we pickled needed one; the
# common ones are here for estimators that keep a dtype class as a parameter.
_NUMPY_DTYPE_CLASSES: frozenset[str] = frozenset(
    f"numpy.dtypes.{name}"
    for name in (
        "BoolDType", "Int32DType", "Int64DType", "Float32DType", "Float64DType",
        "ObjectDType", "StrDType",
    )
)  # fmt: skip

# random_state=np.random.RandomState(...) / Generator objects kept by fitted estimators
# (HistGradientBoosting keeps a Generator with its SeedSequence).
_NUMPY_RANDOM: frozenset[str] = frozenset(
    {
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "numpy.random._pcg64.PCG64DXSM",
        "numpy.random._philox.Philox",
        "numpy.random._sfc64.SFC64",
        "numpy.random.bit_generator.SeedSequence",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
    }
)

# joblib.dump replaces every array by this placeholder; the array bytes follow it in the file.
_JOBLIB: frozenset[str] = frozenset({"joblib.numpy_pickle.NumpyArrayWrapper"})

# Sparse matrices (e.g. a fitted TfidfVectorizer's idf diagonal, sparse coef_).
_SCIPY_SPARSE: frozenset[str] = frozenset(
    {
        "scipy.sparse._csr.csr_matrix",
        "scipy.sparse._csc.csc_matrix",
        "scipy.sparse._csr.csr_array",
        "scipy.sparse._csc.csc_array",
    }
)

# Builtin containers and the stdlib helpers that pickle itself writes (copyreg._reconstructor
# for protocols 0-1, _codecs.encode for bytes before protocol 3 -- that one is guarded, see
# _GUARDED). functools.partial: HistGradientBoosting with categorical_features keeps
# FunctionTransformer(partial(check_array, ...)); a partial can only wrap a callable that
# itself came through this allow-list.
_PYTHON: frozenset[str] = frozenset(
    {
        "builtins.slice", "builtins.set", "builtins.frozenset", "builtins.complex",
        "builtins.bytearray", "builtins.object", "builtins.float", "builtins.int", "builtins.list",
        "builtins.dict", "builtins.tuple", "builtins.str", "builtins.bytes", "builtins.bool",
        "builtins.range", "copyreg._reconstructor", "collections.OrderedDict",
        "collections.defaultdict", "functools.partial",
    }
)  # fmt: skip

# The only scikit-learn functions real pickles name: ``newObj(cls)`` (= cls.__new__(cls)) is the
# reconstructor of KDTree/BallTree/DistanceMetric, and check_array is the pure validation
# function HistGradientBoosting(categorical_features=...) wraps in a partial (see above).
_SKLEARN_FUNCTIONS: frozenset[str] = frozenset(
    {
        "sklearn.neighbors._kd_tree.newObj",
        "sklearn.neighbors._ball_tree.newObj",
        "sklearn.metrics._dist_metrics.newObj",
        "sklearn.utils.validation.check_array",
    }
)

# What a pickled DataFrame / Series / Index with int, float, bool, string and categorical
# columns needs, under pandas 3 (public spellings) and pandas 2 (defining modules). pandas 3
# stores strings in pyarrow arrays: py_buffer and type_for_alias only build buffers and types;
# _restore_array is guarded (see _GUARDED).
_PANDAS: frozenset[str] = frozenset(
    {
        "pandas.DataFrame",
        "pandas.Series",
        "pandas.Index",
        "pandas.RangeIndex",
        "pandas.Categorical",
        "pandas.CategoricalDtype",
        "pandas.StringDtype",
        "pandas.NA",
        "pandas.arrays.StringArray",
        "pandas.arrays.ArrowStringArray",
        "pandas.core.frame.DataFrame",
        "pandas.core.series.Series",
        "pandas.core.indexes.base.Index",
        "pandas.core.indexes.range.RangeIndex",
        "pandas.core.arrays.categorical.Categorical",
        "pandas.core.dtypes.dtypes.CategoricalDtype",
        "pandas.core.arrays.string_.StringDtype",
        "pandas.core.arrays.string_.StringArray",
        "pandas.core.arrays.string_arrow.ArrowStringArray",
        "pandas._libs.missing.NA",
        "pandas.core.indexes.base._new_Index",
        "pandas.core.internals.managers.BlockManager",
        "pandas.core.internals.managers.SingleBlockManager",
        "pandas._libs.internals._unpickle_block",
        "pandas._libs.arrays.__pyx_unpickle_NDArrayBacked",
        "pyarrow.lib.py_buffer",
        "pyarrow.lib.type_for_alias",
    }
)

# Names that are only safe with some arguments: find_class hands out a checking wrapper instead
# of the real object (see _AllowListMixin._guarded).
#  - _codecs.encode: pickle uses it as encode(str, 'latin1'); other codecs are refused.
#  - numpy 1's _ufunc_reconstruct(module, name) is import + getattr of anything; only
#    numpy/scipy.special ufuncs are let through.
#  - pyarrow's _restore_array builds arrays from raw buffers without checking them; the result
#    is fully validated before anyone can read it.
_GUARDED: frozenset[str] = frozenset(
    {
        "_codecs.encode",
        "numpy.core._ufunc_reconstruct",
        "numpy._core._ufunc_reconstruct",
        "pyarrow.lib._restore_array",
    }
)

_ALLOWED_EXACT: frozenset[str] = (
    _NUMPY_CORE | _NUMPY_MASKED | _NUMPY_SCALAR_TYPES | _NUMPY_DTYPE_CLASSES | _NUMPY_RANDOM
    | _JOBLIB | _SCIPY_SPARSE | _PYTHON | _SKLEARN_FUNCTIONS | _PANDAS
)  # fmt: skip

# numpy 2 pickles a ufunc (FunctionTransformer(np.log1p)) by name: 'numpy.log1p',
# 'scipy.special._special_ufuncs.expit'. Allowed only when the attribute really is an np.ufunc.
_UFUNC_MODULES: frozenset[str] = frozenset(
    {"numpy", "scipy.special", "scipy.special._ufuncs", "scipy.special._special_ufuncs"}
)

# Classes (never functions) from these modules are allowed: the sklearn-API wrappers of
# xgboost and lightgbm, when those packages are installed.
_WRAPPER_MODULES: frozenset[str] = frozenset(
    {"xgboost.sklearn", "xgboost.core", "lightgbm.sklearn", "lightgbm.basic"}
)

# sklearn subpackages whose classes are refused: downloaders and file readers, vendored third
# party code, test and build helpers, and joblib's Parallel (it spawns workers and writes memmaps
# to a folder of the caller's choosing; no fitted model contains one).
_SKLEARN_EXCLUDED_PREFIXES: tuple[str, ...] = (
    "sklearn.datasets",
    "sklearn.externals",
    "sklearn.utils._testing",
    "sklearn.utils._show_versions",
    "sklearn.utils._mocking",
    "sklearn.utils._test_common",
    "sklearn.utils.estimator_checks",
    "sklearn.utils.parallel",
    "sklearn.conftest",
    "sklearn._build_utils",
    "sklearn.__check_build",
)
_SKLEARN_EXCLUDED_PARTS: frozenset[str] = frozenset({"tests", "testing", "_testing", "conftest"})

_LEGACY_WRAPPERS: frozenset[str] = frozenset(
    f"{module}.{cls}"
    for module in ("joblib.numpy_pickle", "joblib.numpy_pickle_compat")
    for cls in ("NDArrayWrapper", "ZNDArrayWrapper")
)

T = TypeVar("T")

_TRUST_HINT = "if you trust this file, pass --trust-model (or set XAI_TRUST_MODEL=1)"
_EXPECTED = "expected a scikit-learn model saved with joblib.dump or pickle.dump"


# ---------------------------------------------------------------------------------------------
# Deciding what a name is allowed to resolve to.
# ---------------------------------------------------------------------------------------------


class _Unresolvable(LookupError):
    """An allow-listed name that cannot be imported here (package missing or version mismatch)."""


def _normalize(module: str, name: str, proto: int) -> tuple[str, str]:
    """Apply the Python 2 -> 3 renaming that ``pickle.Unpickler(fix_imports=True)`` applies."""
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            return _compat_pickle.NAME_MAPPING[(module, name)]
        if module in _compat_pickle.IMPORT_MAPPING:
            return _compat_pickle.IMPORT_MAPPING[module], name
    return module, name


def _is_model_module(module: str) -> bool:
    parts = module.split(".")
    if not all(part.isidentifier() for part in parts):
        return False
    if module in _WRAPPER_MODULES:
        return True
    if parts[0] != "sklearn" or len(parts) < 2:
        return False
    if any(module == p or module.startswith(p + ".") for p in _SKLEARN_EXCLUDED_PREFIXES):
        return False
    return not any(part in _SKLEARN_EXCLUDED_PARTS for part in parts)


def _import(module: str) -> types.ModuleType:
    try:
        with warnings.catch_warnings():
            # numpy.core.* (numpy 1 names) warns on access under numpy 2.
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module(module)
    except ImportError as exc:
        raise _Unresolvable(
            f"the file needs module '{module}', which cannot be imported here: {exc}"
        ) from exc


def _attribute(module: str, name: str) -> object:
    mod = _import(module)
    obj: object = mod
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            for part in name.split("."):
                obj = getattr(obj, part)
    except AttributeError as exc:
        raise _Unresolvable(f"'{module}.{name}' does not exist in the installed version") from exc
    return obj


def _model_class(module: str, name: str) -> type | None:
    """The class ``module.name`` if it is a class defined in an allowed model module."""
    if not _is_model_module(module):
        return None
    parts = name.split(".")
    if not all(part.isidentifier() and not part.startswith("__") for part in parts):
        return None
    obj = _attribute(module, name)
    if isinstance(obj, type) and _is_model_module(getattr(obj, "__module__", None) or ""):
        return obj
    return None


def _ufunc(module: str, name: str) -> np.ufunc | None:
    if module not in _UFUNC_MODULES or not name.isidentifier() or name.startswith("_"):
        return None
    obj = getattr(_import(module), name, None)
    return obj if isinstance(obj, np.ufunc) else None


def _resolve(module: str, name: str) -> object | None:
    """The object ``module.name`` stands for if it is on the allow-list, else None.

    Nothing outside the allow-list is imported. Raises ``_Unresolvable`` for an allowed name
    that the installed packages do not provide.
    """
    if f"{module}.{name}" in _ALLOWED_EXACT:
        return _attribute(module, name)
    return _ufunc(module, name) or _model_class(module, name)


def is_allowed(module: str, name: str) -> bool:
    """True when ``module.name`` is on the allow-list of objects a model file may ask for.

    ``module`` and ``name`` are as Python 3 spells them (``builtins``, not ``__builtin__``);
    ``name`` may be a dotted qualname. Names that are only allowed with checked arguments
    (``_codecs.encode``, ``numpy.core._ufunc_reconstruct``, ...) count as allowed.
    """
    if f"{module}.{name}" in _GUARDED:
        return True
    try:
        return _resolve(module, name) is not None
    except _Unresolvable:
        return False


# ---------------------------------------------------------------------------------------------
# The allow-list unpicklers.
# ---------------------------------------------------------------------------------------------


def _printable(text: str, limit: int = 200) -> str:
    """``text`` with control characters escaped, so a hostile name cannot drive the terminal."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit] + "..."


def _refused(path: Path, what: str) -> UnsafeModelError:
    return UnsafeModelError(
        f"{path}: refused to load: the file asks for '{_printable(what)}', which is not on the "
        f"allow-list of model classes; {_TRUST_HINT}"
    )


def _refused_legacy(path: Path) -> UnsafeModelError:
    return UnsafeModelError(
        f"{path}: refused to load: the file uses the joblib < 0.10 array format "
        f"(NDArrayWrapper), which reads companion files and cannot be checked; {_TRUST_HINT}"
    )


def _is_routine_or_class(obj: object) -> bool:
    return isinstance(obj, type | types.ModuleType | np.ufunc) or inspect.isroutine(obj)


# numpy's dtype flag NPY_LIST_PICKLE: arrays of this dtype pickle their items as a list.
_LIST_PICKLE = 0x02


def _check_array_state(state: object) -> None:
    """Refuse an array state whose item list does not match its shape, before numpy sees it.

    ``ndarray.__setstate__`` copies an object array's items from a list without checking the
    list's length: a list shorter than the shape reads past its end (numpy 2.4 crashes the
    interpreter). States of plain arrays (raw bytes) are checked by numpy itself. Handles
    ndarray's (version, shape, dtype, fortran, data), its 4-item legacy form and MaskedArray's
    7-item form.
    """
    if not isinstance(state, tuple) or len(state) not in (4, 5, 7):
        return
    shape, dtype, data = (state[0], state[1], state[3]) if len(state) == 4 else (state[1], state[2], state[4])
    if not isinstance(dtype, np.dtype) or not dtype.flags & _LIST_PICKLE:
        return
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError("an object array with a malformed shape")
    if not isinstance(data, list) or len(data) != math.prod(shape):
        raise ValueError(f"an object array of shape {shape} whose items do not match it")


def _check_dtype_state(target: np.dtype, state: object) -> None:
    """Refuse a dtype state that numpy would accept but that contradicts the dtype it describes.

    ``dtype.__setstate__`` takes the flags, item size and alignment from the file as they are.
    Flags that say "holds no Python objects" on an object dtype (or the reverse) make numpy read
    raw bytes as object pointers or look for loops that do not exist: the process crashes, and a
    shared dtype such as ``dtype('complex64')`` stays broken for everything after. Real pickles
    set the state of a fresh copy (``numpy.dtype(code, align, True)``) to what numpy's own
    constructors make of it; anything else is refused.
    """
    _check_dtype_state_layout(target, state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if target.names is None and target is np.dtype(target.str):
            raise ValueError(f"the file changes numpy's shared dtype {target.str!r}")
        scratch = np.dtype(target, copy=True)
        scratch.__setstate__(state)  # type: ignore[misc]
        canonical = _canonical_dtype(scratch)
    described = (scratch.flags, scratch.itemsize, scratch.alignment, scratch.isalignedstruct)
    if scratch != canonical or described != (
        canonical.flags,
        canonical.itemsize,
        canonical.alignment,
        canonical.isalignedstruct,
    ):
        raise ValueError(f"a numpy dtype whose stored flags or sizes contradict it ({scratch!r})")


def _check_dtype_state_layout(target: np.dtype, state: object) -> None:
    """The state tuple has the layout numpy 1.x and 2.x write; numpy's own parser does not check all
    of it (a datetime dtype given a state without its unit metadata crashes the interpreter)."""

    def bad(what: str) -> ValueError:
        return ValueError(f"a numpy dtype state with {what}")

    if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
        raise bad("an unknown layout")
    _, order, subarray, names, fields, *sizes_and_flags = state[:8]
    if order not in ("<", ">", "|", "="):
        raise bad("an unknown byte order")
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in sizes_and_flags):
        raise bad("sizes or flags that are not integers")
    if subarray is not None and not (
        isinstance(subarray, tuple)
        and len(subarray) == 2
        and isinstance(subarray[0], np.dtype)
        and isinstance(subarray[1], tuple)
        and all(isinstance(n, int) and n >= 0 for n in subarray[1])
    ):
        raise bad("a malformed sub-array")
    if (names is None) != (fields is None):
        raise bad("field names without fields, or the reverse")
    if names is not None:
        if not isinstance(names, tuple) or not isinstance(fields, dict):
            raise bad("malformed fields")
        for name in names:
            field = fields.get(name) if isinstance(name, str) else None
            if not (
                isinstance(field, tuple)
                and len(field) in (2, 3)
                and isinstance(field[0], np.dtype)
                and isinstance(field[1], int)
            ):
                raise bad("a malformed field")
    metadata = state[8] if len(state) == 9 else None
    if target.kind in "mM":
        if not (
            len(state) == 9
            and isinstance(metadata, tuple)
            and len(metadata) == 2
            and (metadata[0] is None or isinstance(metadata[0], dict))
            and isinstance(metadata[1], tuple)
            and len(metadata[1]) == 4
            and isinstance(metadata[1][0], bytes)
            and all(isinstance(n, int) for n in metadata[1][1:])
        ):
            raise bad("a date or time type without its unit")
    elif metadata is not None and not isinstance(metadata, dict):
        raise bad("malformed metadata")


def _canonical_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype numpy's constructors build from ``dtype``'s public description."""
    if dtype.names is not None:
        fields = [dtype.fields[name] for name in dtype.names]  # type: ignore[index]
        return np.dtype(
            {
                "names": list(dtype.names),
                "formats": [field[0] for field in fields],
                "offsets": [field[1] for field in fields],
                "titles": [field[2] if len(field) > 2 else None for field in fields],
                "itemsize": dtype.itemsize,
                "aligned": dtype.isalignedstruct,
            }
        )
    if dtype.subdtype is not None:
        return np.dtype(dtype.subdtype)
    return np.dtype(dtype.str)


class _AllowListMixin:
    """find_class and the opcode guards shared by the outer (joblib) and the nested unpickler."""

    path: Path
    proto: int
    stack: list[Any]
    append: Callable[[Any], None]
    # Every object find_class handed out, by id; only these may be called by REDUCE, NEWOBJ
    # and OBJ (pickle would otherwise call any callable built inside the stream).
    _callables: dict[int, object]

    def find_class(self, module: str, name: str) -> Any:
        module, name = _normalize(module, name, self.proto)
        full = f"{module}.{name}"
        if full in _LEGACY_WRAPPERS:
            raise _refused_legacy(self.path)
        obj = self._guarded(full) if full in _GUARDED else _resolve(module, name)
        if obj is None:
            raise _refused(self.path, full)
        self._callables[id(obj)] = obj
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeModelError(
            f"{self.path}: refused to load: the file asks for an external object through a "
            f"persistent id ({_printable(repr(pid), 60)}), which is not on the allow-list of model "
            f"classes; {_TRUST_HINT}"
        )

    def get_extension(self, code: int) -> None:
        # pickle's own version returns objects cached by earlier (unrestricted) loads in this
        # process without asking find_class; always go through find_class instead.
        key = copyreg._inverted_registry.get(code)  # type: ignore[attr-defined]
        if not key:
            raise pickle.UnpicklingError(f"unregistered extension code {code}")
        self.append(self.find_class(*key))

    def _check_callable(self, func: object) -> None:
        if self._callables.get(id(func)) is not func:
            raise UnsafeModelError(
                f"{self.path}: refused to load: the file calls a '{_printable(type(func).__qualname__)}' "
                f"object it built itself, not an allow-listed class or function; {_TRUST_HINT}"
            )

    def load_reduce(self) -> None:
        self._check_callable(self.stack[-2])
        pickle._Unpickler.load_reduce(self)  # type: ignore[attr-defined]

    def load_newobj(self) -> None:
        self._check_callable(self.stack[-2])
        pickle._Unpickler.load_newobj(self)  # type: ignore[attr-defined]

    def load_newobj_ex(self) -> None:
        self._check_callable(self.stack[-3])
        pickle._Unpickler.load_newobj_ex(self)  # type: ignore[attr-defined]

    def load_obj(self) -> None:
        # The class is the first item after the MARK, i.e. the bottom of the current stack.
        self._check_callable(self.stack[0])
        pickle._Unpickler.load_obj(self)  # type: ignore[attr-defined]

    def load_build(self) -> None:
        # BUILD sets attributes on the object under the state; aimed at a class or function it
        # would monkeypatch sklearn/numpy for the rest of the process. Real pickles never do that.
        target = self.stack[-2]
        if _is_routine_or_class(target):
            what = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"
            raise UnsafeModelError(
                f"{self.path}: refused to load: the file tries to overwrite attributes of "
                f"'{_printable(what)}', which is a class or function, not a model; {_TRUST_HINT}"
            )
        if isinstance(target, np.ndarray):
            _check_array_state(self.stack[-1])
        elif isinstance(target, np.dtype):
            _check_dtype_state(target, self.stack[-1])
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]

    # The 8-byte length opcodes: pickle allocates (and for BYTEARRAY8 zero-fills) the whole length
    # the file claims before reading; a damaged length of many GB took minutes or all memory. Read
    # in chunks instead, so only data that is really there is ever held.
    def _read_exactly(self, size: int) -> bytes:
        chunks: list[bytes] = []
        while size > 0:
            chunk = self.read(min(size, _CHUNK))  # type: ignore[attr-defined]
            if not chunk:
                raise EOFError("pickle data was truncated")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _length8(self) -> int:
        data = self.read(8)  # type: ignore[attr-defined]
        if len(data) != 8:
            raise EOFError("pickle data was truncated")
        return struct.unpack("<Q", data)[0]

    def load_bytearray8(self) -> None:
        self.append(bytearray(self._read_exactly(self._length8())))

    def load_binbytes8(self) -> None:
        self.append(self._read_exactly(self._length8()))

    def load_binunicode8(self) -> None:
        self.append(str(self._read_exactly(self._length8()), "utf-8", "surrogatepass"))

    def _guarded(self, full: str) -> Callable[..., Any]:
        path = self.path

        def refuse_call(detail: str) -> UnsafeModelError:
            return UnsafeModelError(
                f"{path}: refused to load: the file calls '{full}' with {_printable(detail)}, "
                f"which is not on the allow-list of model classes; {_TRUST_HINT}"
            )

        if full == "_codecs.encode":

            def encode(obj: object, encoding: str = "utf-8", errors: str = "strict") -> bytes:
                if not isinstance(obj, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
                    raise refuse_call(f"encoding {encoding!r}")
                return codecs.encode(obj, "latin1")

            return encode

        if full == "pyarrow.lib._restore_array":
            restore = _attribute("pyarrow.lib", "_restore_array")

            def restore_array(data: object) -> object:
                array = restore(data)  # type: ignore[operator]
                array.validate(full=True)
                return array

            return restore_array

        def ufunc_reconstruct(module: object, name: object) -> np.ufunc:
            ufunc = _ufunc(module, name) if isinstance(module, str) and isinstance(name, str) else None
            if ufunc is None:
                raise _refused(path, f"{module}.{name}")
            return ufunc

        return ufunc_reconstruct


class _NestedUnpickler(_AllowListMixin, pickle._Unpickler):  # type: ignore[name-defined,misc]
    """Reads the pickle that joblib writes for an object-dtype array inside a joblib file."""

    def __init__(self, path: Path, file_handle: IO[bytes], callables: dict[int, object]) -> None:
        super().__init__(file_handle)
        self.path = path
        self._callables = callables


class _AllowListUnpickler(_AllowListMixin, NumpyUnpickler):
    """joblib's NumpyUnpickler with every global resolved through the allow-list."""

    def __init__(self, path: Path, file_handle: IO[bytes]) -> None:
        super().__init__(str(path), file_handle, ensure_native_byte_order=True, mmap_mode=None)
        self.path = path
        self._callables = {}

    def load_build(self) -> None:
        super().load_build()
        top = self.stack[-1]
        if isinstance(top, NDArrayWrapper | ZNDArrayWrapper):
            raise _refused_legacy(self.path)
        if isinstance(top, NumpyArrayWrapper):
            self.stack[-1] = self._read_array(top)

    def _read_array(self, wrapper: NumpyArrayWrapper) -> np.ndarray:
        dtype = getattr(wrapper, "dtype", None)
        if not isinstance(dtype, np.dtype):
            raise ValueError("array header without a dtype")
        if not dtype.hasobject:
            return wrapper.read(self, self.ensure_native_byte_order)
        # joblib's own read_array routes the nested stream's find_class to us but keeps pickle's
        # defaults for persistent ids, extension codes, calls and BUILD; ours guards all of them.
        array = _NestedUnpickler(self.path, self.file_handle, self._callables).load()
        if not isinstance(array, np.ndarray):
            raise ValueError("object array entry does not hold an array")
        return _ensure_native_byte_order(array)


def _guard_opcodes(cls: type[pickle._Unpickler]) -> None:  # type: ignore[name-defined]
    """Give ``cls`` its own dispatch table with the guarded opcode handlers."""
    guards = {
        pickle.REDUCE: cls.load_reduce,
        pickle.NEWOBJ: cls.load_newobj,
        pickle.NEWOBJ_EX: cls.load_newobj_ex,
        pickle.OBJ: cls.load_obj,
        pickle.BUILD: cls.load_build,
        pickle.BYTEARRAY8: cls.load_bytearray8,
        pickle.BINBYTES8: cls.load_binbytes8,
        pickle.BINUNICODE8: cls.load_binunicode8,
    }
    cls.dispatch = {**cls.dispatch, **{opcode[0]: handler for opcode, handler in guards.items()}}


_guard_opcodes(_NestedUnpickler)
_guard_opcodes(_AllowListUnpickler)


# ---------------------------------------------------------------------------------------------
# Opening files.
# ---------------------------------------------------------------------------------------------


def _short_reason(exc: BaseException) -> str:
    if isinstance(exc, _Unresolvable):
        return str(exc)
    if isinstance(exc, IsADirectoryError):
        return "it is a directory"
    text = _printable(str(exc), 120)
    if isinstance(exc, EOFError) or any(word in text for word in ("exhausted", "truncated", "EOF")):
        return "the file ends too early; is it truncated?"
    kind = type(exc).__name__
    if kind == "error":  # zlib.error, struct.error, ...
        kind = f"{type(exc).__module__}.{kind}"
    detail = f"{kind}: {text}" if text else kind
    if isinstance(exc, pickle.UnpicklingError | KeyError | IndexError | struct.error | UnicodeDecodeError):
        return f"corrupt data or not a pickle: {detail}"
    return detail


def _unreadable(path: Path, reason: str) -> InputError:
    return InputError(f"{path}: not a readable model file ({reason}); {_EXPECTED}")


def _is_legacy_zfile(raw: IO[bytes]) -> bool:
    """True for a joblib < 0.10 'ZF' file with a valid header; ValueError for a bogus one."""
    if _detect_compressor(raw) != "compat":
        return False
    header = raw.read(len(_ZFILE_PREFIX) + _MAX_LEN)[len(_ZFILE_PREFIX) :]
    raw.seek(0)
    int(header, 16)
    return True


@contextmanager
def _decompressed(path: Path) -> Iterator[IO[bytes]]:
    """The pickle stream of ``path`` (plain, or joblib zlib/gzip/bz2/xz/lzma), as an open file."""
    with open(path, "rb") as raw:
        strict = {"zlib": _StrictZlibFile, "gzip": _StrictGzipFile}.get(_detect_compressor(raw))
        if strict is not None:
            with strict(raw, "rb") as stream:
                yield stream
            return
        with _validate_fileobject_and_memmap(raw, str(path), None) as (fobj, _):
            yield fobj


class _StrictZlibFile(BinaryZlibFile):
    """joblib's zlib reader, refusing data after the end of the compressed stream.

    joblib 1.6 feeds such trailing bytes back into the finished decompressor, which appends them to
    its unused data, which is fed back again: the buffer doubles on every turn (a 1 KB file took
    minutes, or was killed for memory). Real joblib files end with their stream.
    """

    def _fill_buffer(self) -> bool:
        if self._mode == _MODE_READ_EOF:
            return False
        while self._buffer_offset == len(self._buffer):
            if self._decompressor.eof:
                if self._decompressor.unused_data or self._fp.read(1):
                    raise ValueError("data after the end of the compressed stream")
                rawblock = b""
            else:
                rawblock = self._fp.read(_BUFFER_SIZE)
            if not rawblock:
                self._mode = _MODE_READ_EOF
                self._size = self._pos
                return False
            self._buffer = self._decompressor.decompress(rawblock)
            self._buffer_offset = 0
        return True


class _StrictGzipFile(_StrictZlibFile):
    """The same, for joblib's gzip files."""

    wbits = BinaryGzipFile.wbits


def _guarded_read(path: Path, action: Callable[[], T]) -> T:
    """Run ``action``, turning everything a broken file can raise into InputError.

    UnsafeModelError (and an InputError raised on purpose) pass through unchanged.
    """
    try:
        if not path.exists():
            raise FileNotFoundError(path)
        return action()
    except (UnsafeModelError, InputError):
        raise
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except Exception as exc:
        # A hostile or corrupt stream can make pickle, joblib, numpy or the decompressors raise
        # nearly anything (UnpicklingError, EOFError, ValueError, KeyError, IndexError,
        # TypeError, AttributeError, MemoryError, struct.error, zlib.error, OSError, ...).
        raise _unreadable(path, _short_reason(exc)) from exc


def load_pickle(path: Path, *, trust: bool = False) -> object:
    """Load a pickle or joblib file (plain or joblib-compressed: zlib, gzip, bz2, xz/lzma).

    With ``trust=False`` (the default) every class or function the file asks for is checked
    against the allow-list before it is imported; anything else raises ``UnsafeModelError``.
    With ``trust=True`` the file is loaded with plain ``joblib.load``, which can run any code
    the file contains. A missing, truncated or corrupt file raises ``InputError``.
    """
    path = Path(path)

    def load() -> object:
        if path.is_file() and path.stat().st_size == 0:
            raise _unreadable(path, "the file is empty")
        if trust:
            return joblib.load(path)
        with open(path, "rb") as raw:
            if _is_legacy_zfile(raw):
                raise _refused_legacy(path)
        with _decompressed(path) as stream:
            return _AllowListUnpickler(path, stream).load()

    return _guarded_read(path, load)


# ---------------------------------------------------------------------------------------------
# Listing globals without loading.
# ---------------------------------------------------------------------------------------------


class _Global(NamedTuple):
    module: str
    name: str


class _Opaque:
    """A value the scan does not evaluate (the result of a call, a persistent id, ...)."""


class _Built(_Opaque):
    """The result of calling ``what`` inside the stream: calling it in turn is refused at load."""

    def __init__(self, what: str) -> None:
        self.what = what


class _WrapperStub:
    """A joblib NumpyArrayWrapper under construction: its array bytes follow its BUILD."""


_OPAQUE = _Opaque()
_UFUNC_RECONSTRUCTORS = (
    _Global("numpy.core", "_ufunc_reconstruct"),
    _Global("numpy._core", "_ufunc_reconstruct"),
)
_MARK = object()
_NUMPY_ARRAY_WRAPPER = _Global("joblib.numpy_pickle", "NumpyArrayWrapper")
_LITERAL_OPS = frozenset(
    {
        "NONE", "NEWTRUE", "NEWFALSE", "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1",
        "LONG4", "FLOAT", "BINFLOAT", "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE",
        "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES",
        "BINBYTES8", "BYTEARRAY8",
    }
)  # fmt: skip
_CHUNK = 1 << 20


class _FramedReader:
    """Serves opcodes the way pickle's unframer does: from the current frame, then the file."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.frame: io.BytesIO | None = None

    def read(self, n: int) -> bytes:
        if self.frame is not None:
            data = self.frame.read(n)
            if data or n == 0:
                if len(data) < n:
                    raise pickle.UnpicklingError("pickle exhausted before end of frame")
                return data
            self.frame = None
        return self.raw.read(n)

    def readline(self) -> bytes:
        if self.frame is not None:
            data = self.frame.readline()
            if data:
                if not data.endswith(b"\n"):
                    raise pickle.UnpicklingError("pickle exhausted before end of frame")
                return data
            self.frame = None
        return self.raw.readline()

    def load_frame(self, size: int) -> None:
        if self.frame is not None and self.frame.read():
            raise pickle.UnpicklingError("beginning of a new frame before end of current frame")
        self.frame = io.BytesIO(self.raw.read(size))


def _is_literal(value: object) -> bool:
    if isinstance(value, str | bytes | int | float | bool | np.dtype) or value is None:
        return True
    if isinstance(value, tuple | list):
        return all(_is_literal(v) for v in value)
    if isinstance(value, dict):
        return all(_is_literal(k) and _is_literal(v) for k, v in value.items())
    return False


def _eval_dtype(args: object) -> object:
    """np.dtype(*args) for the literal arguments numpy pickles, always as a fresh copy."""
    if not isinstance(args, tuple) or not args or not _is_literal(args):
        return _OPAQUE
    try:
        return np.dtype(args[0], align=bool(args[1]) if len(args) > 1 else False, copy=True)
    except Exception:
        return _OPAQUE


class _Scanner:
    """Walks a pickle stream with pickletools.genops, tracking just enough of the stack to name
    every STACK_GLOBAL and to step over the raw array data joblib interleaves with it."""

    def __init__(
        self,
        raw: IO[bytes],
        found: dict[str, tuple[str, str] | None],
        *,
        joblib_arrays: bool,
        built_calls: dict[str, None],
    ) -> None:
        self.raw = raw
        self.found = found
        self.built_calls = built_calls
        self.joblib_arrays = joblib_arrays
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}
        self.proto = 0

    def _record(self, module: object, name: object) -> object:
        if not isinstance(module, str) or not isinstance(name, str):
            module_text = module if isinstance(module, str) else "?"
            self.found.setdefault(f"{module_text}.{name if isinstance(name, str) else '?'}", None)
            return _OPAQUE
        module, name = _normalize(module, name, self.proto)
        full = f"{module}.{name}"
        if self.found.setdefault(full, (module, name)) != (module, name):
            # The same dotted text split differently (module 'a', name 'b.c' after 'a.b', 'c'):
            # list it apart, in pickle's own 'module name' spelling, so each pair is judged.
            self.found.setdefault(f"{module} {name}", (module, name))
        return _Global(module, name)

    def _pop_mark(self) -> list[Any]:
        items: list[Any] = []
        while True:
            item = self.stack.pop()
            if item is _MARK:
                items.reverse()
                return items
            items.append(item)

    def _new(self, cls: object) -> object:
        return _WrapperStub() if cls == _NUMPY_ARRAY_WRAPPER else _OPAQUE

    def _check_callable(self, func: object) -> None:
        """Note a REDUCE/NEWOBJ/OBJ whose callable the stream built rather than imported by name."""
        if isinstance(func, _Built):
            self.built_calls[f"the result of {func.what}"] = None
        elif not isinstance(func, _Global):
            self.built_calls["an object the file built itself"] = None

    def run(self) -> None:
        reader = _FramedReader(self.raw)
        for opcode, arg, _ in pickletools.genops(reader):
            self._step(opcode, arg, reader)

    def _step(self, opcode: pickletools.OpcodeInfo, arg: Any, reader: _FramedReader) -> None:
        name, stack = opcode.name, self.stack
        if name in _LITERAL_OPS:
            stack.append(arg)
        elif name == "FRAME":
            reader.load_frame(arg)
        elif name == "PROTO":
            self.proto = arg
        elif name == "MARK":
            stack.append(_MARK)
        elif name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[len(self.memo) if name == "MEMOIZE" else arg] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(self.memo[arg])
        elif name == "GLOBAL":
            module, _, qualname = arg.partition(" ")
            stack.append(self._record(module, qualname))
        elif name == "INST":
            module, _, qualname = arg.partition(" ")
            self._pop_mark()
            stack.append(self._new(self._record(module, qualname)))
        elif name == "STACK_GLOBAL":
            qualname, module = stack.pop(), stack.pop()
            stack.append(self._record(module, qualname))
        elif name in ("EXT1", "EXT2", "EXT4"):
            key = copyreg._inverted_registry.get(arg)  # type: ignore[attr-defined]
            stack.append(self._record(*key) if key else self._record(None, f"<extension {arg}>"))
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = tuple(stack[-n:])
            del stack[-n:]
            stack.append(items)
        elif name == "TUPLE":
            stack.append(tuple(self._pop_mark()))
        elif name in ("EMPTY_LIST", "LIST"):
            stack.append([] if name == "EMPTY_LIST" else self._pop_mark())
        elif name in ("EMPTY_DICT", "DICT"):
            items = [] if name == "EMPTY_DICT" else self._pop_mark()
            stack.append(self._dict(items))
        elif name in ("APPEND", "APPENDS"):
            items = [stack.pop()] if name == "APPEND" else self._pop_mark()
            if isinstance(stack[-1], list):
                stack[-1].extend(items)
        elif name in ("SETITEM", "SETITEMS"):
            items = [stack.pop(-2), stack.pop()] if name == "SETITEM" else self._pop_mark()
            if isinstance(stack[-1], dict):
                stack[-1].update(self._dict(items))
        elif name == "REDUCE":
            args, func = stack.pop(), stack.pop()
            stack.append(self._reduce(func, args))
        elif name in ("NEWOBJ", "NEWOBJ_EX"):
            if name == "NEWOBJ_EX":
                stack.pop()
            stack.pop()
            cls = stack.pop()
            self._check_callable(cls)
            stack.append(self._new(cls))
        elif name == "OBJ":
            items = self._pop_mark()
            self._check_callable(items[0])
            stack.append(self._new(items[0]))
        elif name == "BUILD":
            self._build(stack.pop(), stack[-1])
        elif name == "DUP":
            stack.append(stack[-1])
        elif name == "POP":
            stack.pop()
        elif name == "POP_MARK":
            self._pop_mark()
        else:
            self._generic(opcode)

    def _generic(self, opcode: pickletools.OpcodeInfo) -> None:
        """Stack effect from pickletools' metadata; the pushed values are opaque."""
        before = opcode.stack_before
        if pickletools.markobject in before:
            self._pop_mark()
            before = before[: before.index(pickletools.markobject)]
        for _ in before:
            self.stack.pop()
        self.stack.extend(_OPAQUE for _ in opcode.stack_after)

    @staticmethod
    def _dict(items: list[Any]) -> dict[Any, Any]:
        try:
            return dict(zip(items[::2], items[1::2], strict=True))
        except (TypeError, ValueError):
            return {}

    def _reduce(self, func: object, args: object) -> object:
        self._check_callable(func)
        if func == _Global("numpy", "dtype"):
            return _eval_dtype(args)
        if func in _UFUNC_RECONSTRUCTORS and isinstance(args, tuple) and len(args) == 2:
            # numpy 1's _ufunc_reconstruct(module, name) imports module.name: list that name.
            module, name = args
            if isinstance(module, str) and isinstance(name, str):
                self.found.setdefault(f"{module}.{name}", (module, name))
                return _Global(module, name)
        if func == _Global("copyreg", "_reconstructor") and isinstance(args, tuple) and args:
            return self._new(args[0])
        return _Built(f"{func.module}.{func.name}(...)") if isinstance(func, _Global) else _OPAQUE

    def _build(self, state: object, inst: object) -> None:
        if isinstance(inst, np.dtype) and isinstance(state, tuple) and _is_literal(state):
            try:
                _check_dtype_state(inst, state)
                inst.__setstate__(state)
            except Exception:
                self.stack[-1] = _OPAQUE
        elif isinstance(inst, _WrapperStub) and self.joblib_arrays:
            if isinstance(state, tuple) and len(state) == 2:
                state = state[0]
            if not isinstance(state, dict):
                raise ValueError("joblib array header without a state")
            self._skip_array(state)
            self.stack[-1] = _OPAQUE

    def _skip_array(self, state: dict[Any, Any]) -> None:
        """Step over the data NumpyArrayWrapper.read_array would read after this BUILD."""
        dtype, shape = state.get("dtype"), state.get("shape")
        if not isinstance(dtype, np.dtype):
            raise ValueError("joblib array header with a dtype the scan cannot follow")
        if dtype.hasobject:
            _Scanner(self.raw, self.found, joblib_arrays=False, built_calls=self.built_calls).run()
            return
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise ValueError("joblib array header with a bad shape")
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = self.raw.read(1)
            if padding:
                self._skip(padding[0])
        self._skip(math.prod(shape) * dtype.itemsize)

    def _skip(self, size: int) -> None:
        while size > 0:
            chunk = self.raw.read(min(size, _CHUNK))
            if not chunk:
                raise EOFError("array data ends too early")
            size -= len(chunk)


class PickleListing(NamedTuple):
    """What a pickle stream asks for, found without loading it."""

    # Every 'module.qualname' it would import, in stream order.
    globals: list[str]
    # (module, qualname) of each of ``globals`` whose parts the stream wrote out as strings.
    parts: dict[str, tuple[str, str]]
    # Calls on objects the stream built itself rather than imported by name; the loader refuses them.
    built_calls: list[str]


def _listing(found: dict[str, tuple[str, str] | None], built_calls: dict[str, None]) -> PickleListing:
    parts = {full: pair for full, pair in found.items() if pair is not None}
    return PickleListing(list(found), parts, list(built_calls))


def list_pickle_stream(stream: IO[bytes]) -> PickleListing:
    """List a plain pickle stream (e.g. a member of a zip archive) without loading it.

    Raises whatever a malformed stream makes pickletools raise; callers turn that into InputError.
    """
    found: dict[str, tuple[str, str] | None] = {}
    built_calls: dict[str, None] = {}
    _Scanner(stream, found, joblib_arrays=False, built_calls=built_calls).run()
    return _listing(found, built_calls)


def list_pickle(path: Path) -> PickleListing:
    """What a pickle/joblib file would import and call, found without loading it.

    The (decompressed) stream is walked with ``pickletools.genops``, following joblib's array
    data and the nested pickles of its object arrays. Nothing is imported or called, apart from
    ``numpy.dtype`` on literal arguments to learn how many array bytes to step over. Names are
    normalised as Python 3 spells them; a STACK_GLOBAL whose operands were computed rather than
    written as strings shows '?' for the part that is unknown. Raises InputError for a missing
    or unreadable file.
    """
    path = Path(path)

    def scan() -> PickleListing:
        found: dict[str, tuple[str, str] | None] = {}
        built_calls: dict[str, None] = {}
        with open(path, "rb") as raw:
            if _is_legacy_zfile(raw):
                stream: IO[bytes] = io.BytesIO(read_zfile(raw))
                _Scanner(stream, found, joblib_arrays=False, built_calls=built_calls).run()
                return _listing(found, built_calls)
        with _decompressed(path) as stream:
            _Scanner(stream, found, joblib_arrays=True, built_calls=built_calls).run()
        return _listing(found, built_calls)

    return _guarded_read(path, scan)


def pickle_globals(path: Path) -> list[str]:
    """Every 'module.qualname' a pickle/joblib file would import, found without loading it.

    See ``list_pickle``, which also reports calls on objects the file built itself.
    """
    return list_pickle(path).globals
