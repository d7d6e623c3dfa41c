"""The hand-kept part of the allow-list: numpy, scipy, joblib and Python names, exactly as pickle writes
them (after the Python 2 name mapping that protocols 0-2 apply), never whole packages.

The scikit-learn part (estimators, their internals, scorers) and the XGBoost/LightGBM/CatBoost
wrappers come from scripts/derive_allowlist.py, in ``sklearn_internal``.
"""

from __future__ import annotations

# numpy arrays, dtypes and array scalars as numpy's own __reduce__ writes them. numpy 2 names, plus the
# numpy 1 ``numpy.core`` spellings (numpy 2 still resolves them through a shim) so that models saved
# under numpy 1 load. ``_frombuffer`` is what protocol 5 uses for arrays.
NUMPY_CORE: frozenset[str] = frozenset(
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
NUMPY_MASKED: frozenset[str] = frozenset(
    {"numpy.ma.MaskedArray", "numpy.ma.core.MaskedArray", "numpy.ma.core._mareconstruct"}
)

# Scalar types: estimators keep them as parameters (OneHotEncoder(dtype=np.float64)) and HGB stores one
# in its state. Calling one only makes a number.
NUMPY_SCALAR_TYPES: frozenset[str] = frozenset(
    f"numpy.{name}"
    for name in (
        "bool", "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "float32", "float64", "longdouble", "complex64", "complex128", "clongdouble",
        "object_", "str_", "bytes_", "datetime64", "timedelta64",
    )
)  # fmt: skip

# dtype classes (np.dtypes.Float64DType, ...), for estimators that keep a dtype class as a parameter.
NUMPY_DTYPE_CLASSES: frozenset[str] = frozenset(
    f"numpy.dtypes.{name}"
    for name in (
        "BoolDType", "Int32DType", "Int64DType", "Float32DType", "Float64DType", "ObjectDType", "StrDType",
    )
)  # fmt: skip

# The bit-generator classes numpy's pickle helpers may build (numpy.random._pickle.BitGenerators).
BIT_GENERATORS: frozenset[str] = frozenset(
    {
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "numpy.random._pcg64.PCG64DXSM",
        "numpy.random._philox.Philox",
        "numpy.random._sfc64.SFC64",
    }
)

# random_state=np.random.RandomState(...) / Generator objects kept by fitted estimators (HistGradient-
# Boosting keeps a Generator with its SeedSequence). The three constructors call their second
# argument: they are guarded (see guards.py), the argument must be numpy's own bit-generator constructor.
NUMPY_RANDOM: frozenset[str] = BIT_GENERATORS | frozenset(
    {
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
        "numpy.random.bit_generator.SeedSequence",
    }
)

# joblib.dump replaces every array by this placeholder; the array bytes follow it in the file.
JOBLIB: frozenset[str] = frozenset({"joblib.numpy_pickle.NumpyArrayWrapper"})

# Sparse matrices (a fitted TfidfVectorizer's idf diagonal, sparse coef_) and SplineTransformer's splines.
SCIPY: frozenset[str] = frozenset(
    {
        "scipy.sparse._csr.csr_matrix",
        "scipy.sparse._csc.csc_matrix",
        "scipy.sparse._csr.csr_array",
        "scipy.sparse._csc.csc_array",
        "scipy.interpolate._bsplines.BSpline",
    }
)

# Builtin containers and types. ``copyreg._reconstructor`` (protocols 0-1) and ``functools.partial``
# are guarded: see guards.py.
PYTHON: frozenset[str] = frozenset(
    {
        "builtins.slice", "builtins.set", "builtins.frozenset", "builtins.complex",
        "builtins.bytearray", "builtins.object", "builtins.float", "builtins.int", "builtins.list",
        "builtins.dict", "builtins.tuple", "builtins.str", "builtins.bytes", "builtins.bool",
        "builtins.range", "collections.OrderedDict", "collections.defaultdict",
    }
)  # fmt: skip

# pandas' missing-value singleton (an OrdinalEncoder's categories_ can hold it). No DataFrame, Series or
# Index: no fitted model holds one (scripts/derive_allowlist.py), and their state takes any attribute.
PANDAS: frozenset[str] = frozenset({"pandas.NA", "pandas._libs.missing.NA"})

# Functions fitted models hold as values and never call while loading (FeatureAgglomeration's
# pooling_func, BSpline's _asarray, the interp1d IsotonicRegression rebuilds in its __setstate__). The
# file may name them; calling one inside the stream is refused.
REFERENCE_FUNCTIONS: frozenset[str] = frozenset(
    {
        "numpy.mean",
        "scipy._lib.array_api_compat.numpy._aliases.asarray",
        "scipy.interpolate._interpolate.interp1d._call_linear_np",
        "scipy.interpolate._interpolate.interp1d._call_linear",
    }
)

# Names that are only safe with some arguments: find_class hands out a checking wrapper instead of the
# real object (guards.py), and the scan checks the same arguments.
GUARDED: frozenset[str] = frozenset(
    {
        "_codecs.encode",
        "numpy.dtype",
        "numpy.core._ufunc_reconstruct",
        "numpy._core._ufunc_reconstruct",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
        "copyreg._reconstructor",
        "functools.partial",
        "sklearn.neighbors._kd_tree.newObj",
        "sklearn.neighbors._ball_tree.newObj",
        "sklearn.metrics._dist_metrics.newObj",
    }
)

# Guarded names whose name alone is not enough: the scan reports them allowed only where it checked
# every call (HistGradientBoosting with a scorer pickles getattr(itself, '_raw_predict')).
CHECKED_ONLY: frozenset[str] = frozenset({"builtins.getattr"})

# (class, attribute) pairs that getattr may read: the bound methods real fitted models store.
_HGB = "sklearn.ensemble._hist_gradient_boosting.gradient_boosting"
GETATTR_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        (f"{_HGB}.HistGradientBoostingClassifier", "_raw_predict"),
        (f"{_HGB}.HistGradientBoostingRegressor", "_raw_predict"),
    }
)

# numpy 2 pickles a ufunc (FunctionTransformer(np.log1p)) by name: 'numpy.log1p',
# 'scipy.special._special_ufuncs.expit'. Allowed only when the attribute really is an np.ufunc.
UFUNC_MODULES: frozenset[str] = frozenset(
    {"numpy", "scipy.special", "scipy.special._ufuncs", "scipy.special._special_ufuncs"}
)

LEGACY_WRAPPERS: frozenset[str] = frozenset(
    f"{module}.{cls}"
    for module in ("joblib.numpy_pickle", "joblib.numpy_pickle_compat")
    for cls in ("NDArrayWrapper", "ZNDArrayWrapper")
)

EXACT: frozenset[str] = (
    NUMPY_CORE | NUMPY_MASKED | NUMPY_SCALAR_TYPES | NUMPY_DTYPE_CLASSES | NUMPY_RANDOM | JOBLIB | SCIPY
    | PYTHON | PANDAS
)  # fmt: skip


def printable(text: str, limit: int = 200) -> str:
    """``text`` with control characters escaped, so a hostile name cannot drive the terminal."""
    from xai_cli.textsafe import terminal_safe

    return terminal_safe(text, limit)
