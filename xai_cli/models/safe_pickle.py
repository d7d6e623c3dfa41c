"""Load pickled and joblib-saved models through an allow-list, and list what a file would import.

Unpickling runs whatever callables the file names. ``load_pickle`` therefore resolves every global
through the allow-list of ``xai_cli.models.allowlist`` (estimators of scikit-learn's registry, the
internals fitted models pickle, exact numpy/scipy/Python names) and refuses anything else before it is
imported or called. Guarded helpers get their arguments checked (``allowlist.guards``), functions the
file may only hold as values cannot be called, every BUILD is checked against its target's class, and
the whole read runs under the opcode, memo, stack and nesting limits of ``pickle_budget``.
``list_pickle`` (``pickle_scan``) walks the opcode stream without loading anything.
"""

from __future__ import annotations

import _compat_pickle
import copyreg
import functools
import inspect
import pickle
import struct
import types
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import joblib
import numpy as np
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler
from joblib.numpy_pickle_compat import NDArrayWrapper, ZNDArrayWrapper
from joblib.numpy_pickle_utils import _ensure_native_byte_order

from xai_cli.errors import UnsafeModelError
from xai_cli.models.allowlist import admit, is_allowed, names, state_problem
from xai_cli.models.allowlist.guards import check_partial_build, guard, is_guarded
from xai_cli.models.allowlist.names import printable
from xai_cli.models.pickle_budget import Budget
from xai_cli.models.pickle_checks import check_array_state, check_dtype_state
from xai_cli.models.pickle_files import (
    TRUST_HINT,
    decompressed,
    guarded_read,
    is_legacy_zfile,
    unreadable,
)
from xai_cli.models.pickle_scan import PickleListing, list_pickle, list_pickle_stream, pickle_globals

__all__ = [
    "PickleListing",
    "is_allowed",
    "list_pickle",
    "list_pickle_stream",
    "load_pickle",
    "pickle_globals",
]

_ALLOWED_EXACT = names.EXACT
_CHUNK = 1 << 20


def _normalize(module: str, name: str, proto: int) -> tuple[str, str]:
    """Apply the Python 2 -> 3 renaming that ``pickle.Unpickler(fix_imports=True)`` applies."""
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            return _compat_pickle.NAME_MAPPING[(module, name)]
        if module in _compat_pickle.IMPORT_MAPPING:
            return _compat_pickle.IMPORT_MAPPING[module], name
    return module, name


def _refused(path: Path, what: str) -> UnsafeModelError:
    return UnsafeModelError(
        f"{path}: refused to load: the file asks for '{printable(what)}', which is not on the "
        f"allow-list of model classes; {TRUST_HINT}"
    )


def _refused_legacy(path: Path) -> UnsafeModelError:
    return UnsafeModelError(
        f"{path}: refused to load: the file uses the joblib < 0.10 array format "
        f"(NDArrayWrapper), which reads companion files and cannot be checked; {TRUST_HINT}"
    )


def _is_routine_or_class(obj: object) -> bool:
    return isinstance(obj, type | types.ModuleType | np.ufunc) or inspect.isroutine(obj)


class _AllowListMixin:
    """find_class and the opcode guards shared by the outer (joblib) and the nested unpickler."""

    path: Path
    proto: int
    stack: list[Any]
    metastack: list[Any]
    memo: dict[int, Any]
    append: Callable[[Any], None]
    budget: Budget
    # Every object find_class handed out as callable, by id; only these may be called by REDUCE,
    # NEWOBJ and OBJ (pickle would otherwise call any callable built inside the stream).
    _callables: dict[int, object]
    # The names of the checking wrappers find_class handed out for guarded names, by id.
    _guard_names: dict[int, str]

    def find_class(self, module: str, name: str) -> Any:
        module, name = _normalize(module, name, self.proto)
        full = f"{module}.{name}"
        if full in names.LEGACY_WRAPPERS:
            raise _refused_legacy(self.path)
        if is_guarded(full):
            obj: object = guard(
                full, functools.partial(self._refuse_call, full), functools.partial(_refused, self.path),
                self._callables,  # type: ignore[arg-type]
            )  # fmt: skip
            self._callables[id(obj)] = obj
            self._guard_names[id(obj)] = full
            return obj
        admitted = admit(module, name)
        if admitted is None:
            raise _refused(self.path, full)
        if admitted.callable_at_load:
            self._callables[id(admitted.obj)] = admitted.obj
        return admitted.obj

    def _refuse_call(self, full: str, detail: str) -> UnsafeModelError:
        return UnsafeModelError(
            f"{self.path}: refused to load: the file calls '{full}' with {printable(detail)}, "
            f"which is not on the allow-list of model classes; {TRUST_HINT}"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeModelError(
            f"{self.path}: refused to load: the file asks for an external object through a "
            f"persistent id ({printable(repr(pid), 60)}), which is not on the allow-list of model "
            f"classes; {TRUST_HINT}"
        )

    def get_extension(self, code: int) -> None:
        # pickle's own version returns objects cached by earlier (unrestricted) loads in this
        # process without asking find_class; always go through find_class instead.
        key = copyreg._inverted_registry.get(code)  # type: ignore[attr-defined]
        if not key:
            raise pickle.UnpicklingError(f"unregistered extension code {code}")
        self.append(self.find_class(*key))

    def load(self) -> Any:
        """pickle._Unpickler.load, with every opcode counted against the budget."""
        self._unframer = pickle._Unframer(self._file_read, self._file_readline)  # type: ignore[attr-defined]
        self.read = self._unframer.read
        self.readinto = self._unframer.readinto
        self.readline = self._unframer.readline
        self.metastack = []
        self.stack = []
        self.append = self.stack.append
        self.proto = 0
        read, dispatch, budget = self.read, self.dispatch, self.budget  # type: ignore[attr-defined]
        try:
            while True:
                key = read(1)
                if not key:
                    raise EOFError
                dispatch[key[0]](self)
                budget.opcode(len(self.stack), len(self.memo), len(self.metastack))
        except pickle._Stop as stop:  # type: ignore[attr-defined]
            return stop.value

    def _check_callable(self, func: object) -> None:
        if self._callables.get(id(func)) is not func:
            if _is_routine_or_class(func):
                what = f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}"
                raise UnsafeModelError(
                    f"{self.path}: refused to load: the file calls '{printable(what)}', which a model "
                    f"may hold as a value but never calls while loading; {TRUST_HINT}"
                )
            raise UnsafeModelError(
                f"{self.path}: refused to load: the file calls a '{printable(type(func).__qualname__)}' "
                f"object it built itself, not an allow-listed class or function; {TRUST_HINT}"
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
        target, state = self.stack[-2], self.stack[-1]
        # BUILD sets attributes on the object under the state; aimed at a class or function it
        # would monkeypatch sklearn/numpy for the rest of the process. Real pickles never do that.
        if _is_routine_or_class(target):
            what = self._guard_names.get(id(target)) or (
                f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"
            )
            raise UnsafeModelError(
                f"{self.path}: refused to load: the file tries to overwrite attributes of "
                f"'{printable(what)}', which is a class or function, not a model; {TRUST_HINT}"
            )
        if isinstance(target, np.ndarray):
            check_array_state(state)
        elif isinstance(target, np.dtype):
            check_dtype_state(target, state)
        elif isinstance(target, functools.partial):
            check_partial_build(target, state, functools.partial(self._refuse_call, "functools.partial"))
        else:
            self._check_instance_state(target, state)
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]

    def _check_instance_state(self, target: object, state: object) -> None:
        """A state that lands in the instance dict may set only names its class does not define."""
        parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
        if not isinstance(getattr(target, "__dict__", None), dict):
            parts = parts[1:] if len(parts) == 2 else ()  # only the slot state lands in attributes
        problem = next(
            (
                found
                for part in parts
                if isinstance(part, dict) and (found := state_problem(type(target), part))
            ),
            None,
        )
        if problem:
            kind = f"{type(target).__module__}.{type(target).__qualname__}"
            raise UnsafeModelError(
                f"{self.path}: refused to load: the state of a '{printable(kind)}' {problem}, which no "
                f"fitted model does; {TRUST_HINT}"
            )

    # The 8-byte length opcodes: pickle allocates (and for BYTEARRAY8 zero-fills) the whole length
    # the file claims before reading; a damaged length of many GB took minutes or all memory. Read
    # in chunks instead, so only data that is really there is ever held.
    def _read_exactly(self, size: int) -> bytes:
        chunks: list[bytes] = []
        while size > 0:
            chunk = self.read(min(size, _CHUNK))
            if not chunk:
                raise EOFError("pickle data was truncated")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _length8(self) -> int:
        data = self.read(8)
        if len(data) != 8:
            raise EOFError("pickle data was truncated")
        return struct.unpack("<Q", data)[0]

    def load_bytearray8(self) -> None:
        self.append(bytearray(self._read_exactly(self._length8())))

    def load_binbytes8(self) -> None:
        self.append(self._read_exactly(self._length8()))

    def load_binunicode8(self) -> None:
        self.append(str(self._read_exactly(self._length8()), "utf-8", "surrogatepass"))


class _NestedUnpickler(_AllowListMixin, pickle._Unpickler):  # type: ignore[name-defined,misc]
    """Reads the pickle that joblib writes for an object-dtype array inside a joblib file."""

    def __init__(
        self, path: Path, file_handle: IO[bytes], callables: dict[int, object], budget: Budget
    ) -> None:
        super().__init__(file_handle)
        self.path = path
        self._callables = callables
        self._guard_names = {}
        self.budget = budget


class _AllowListUnpickler(_AllowListMixin, NumpyUnpickler):
    """joblib's NumpyUnpickler with every global resolved through the allow-list."""

    def __init__(self, path: Path, file_handle: IO[bytes], budget: Budget | None = None) -> None:
        super().__init__(str(path), file_handle, ensure_native_byte_order=True, mmap_mode=None)
        self.path = path
        self._callables = {}
        self._guard_names = {}
        self.budget = budget or Budget()

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
        array = _NestedUnpickler(self.path, self.file_handle, self._callables, self.budget).load()
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


def load_pickle(path: Path, *, trust: bool = False, budget: Budget | None = None) -> object:
    """Load a pickle or joblib file (plain or joblib-compressed: zlib, gzip, bz2, xz/lzma).

    With ``trust=False`` (the default) every class or function the file asks for is checked
    against the allow-list before it is imported; anything else raises ``UnsafeModelError``, and a
    file that needs more work than the limits of ``pickle_budget`` allow raises ``InputError``
    (``budget``, if given, receives the counts). With ``trust=True`` the file is loaded with plain
    ``joblib.load``, which can run any code the file contains. A missing, truncated or corrupt file
    raises ``InputError``.
    """
    path = Path(path)

    def load() -> object:
        if path.is_file() and path.stat().st_size == 0:
            raise unreadable(path, "the file is empty")
        if trust:
            return joblib.load(path)
        with open(path, "rb") as raw:
            if is_legacy_zfile(raw):
                raise _refused_legacy(path)
        with decompressed(path) as stream:
            return _AllowListUnpickler(path, stream, budget).load()

    return guarded_read(path, load)
