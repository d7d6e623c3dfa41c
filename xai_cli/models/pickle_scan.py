"""List what a pickle or joblib file would import and call, without loading it.

The stream is walked with ``pickletools.genops``, tracking just enough of the stack to name every
global, to check the arguments of the guarded helpers the way the loader checks them
(``allowlist.guards``), to check every BUILD's keys against its class, to see what the file's top
object is, and to step over the raw array data joblib interleaves with the pickle. Nothing is loaded:
the only calls are imports of allowed modules and ``numpy.dtype`` on checked literal arguments. The
walk runs under the limits of ``pickle_budget``; shared structure is visited once.
"""

from __future__ import annotations

import copyreg
import io
import math
import pickle
import pickletools
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
from joblib.numpy_pickle_compat import read_zfile

from xai_cli.models import allowlist
from xai_cli.models.allowlist import guards, names
from xai_cli.models.pickle_budget import Budget
from xai_cli.models.pickle_checks import check_dtype_state
from xai_cli.models.pickle_files import decompressed, guarded_read, is_legacy_zfile


class _Global(NamedTuple):
    module: str
    name: str

    @property
    def full(self) -> str:
        return f"{self.module}.{self.name}"


class _Opaque:
    """A value the scan does not evaluate (the result of a call, a persistent id, ...)."""


class _Built(_Opaque):
    """The result of calling ``what`` inside the stream: calling it in turn is refused at load."""

    def __init__(self, what: str, func: _Global | None = None, method: str | None = None) -> None:
        self.what = what
        self.func = func
        self.method = method


class _Instance(_Opaque):
    """An instance of the allowed class ``cls`` (NEWOBJ, REDUCE on a class, a reconstructor)."""

    def __init__(self, cls: _Global) -> None:
        self.cls = cls


class _WrapperStub:
    """A joblib NumpyArrayWrapper under construction: its array bytes follow its BUILD."""


_OPAQUE = _Opaque()
_ARRAY = _Built("numpy.ndarray")
_UFUNC_RECONSTRUCTORS = frozenset({"numpy.core._ufunc_reconstruct", "numpy._core._ufunc_reconstruct"})
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
_SCALARS = (str, bytes, bytearray, int, float, bool, np.dtype, type(None))
_CHUNK = 1 << 20
_BUILTIN_BASES = frozenset(
    f"builtins.{name}" for name in ("object", "int", "float", "str", "bytes", "tuple", "list", "dict", "set")
)


@dataclass
class _Facts:
    """What one file's walk found, shared by the walks of joblib's nested pickles."""

    budget: Budget
    found: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    built_calls: dict[str, None] = field(default_factory=dict)
    refused_calls: dict[str, str] = field(default_factory=dict)
    checked: set[str] = field(default_factory=set)
    scorers: dict[int, tuple[_Instance, bool]] = field(default_factory=dict)
    # The instances each instance's BUILD state holds (what a placed scorer holds is placed with it).
    holds: dict[int, list[_Instance]] = field(default_factory=dict)
    keep: list[_Instance] = field(default_factory=list)  # keeps the ids of ``holds`` unique
    root: object = None


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


def is_literal(value: object, budget: Budget) -> bool:
    """``value`` is built of literals only (str, numbers, dtypes, tuples, lists, dicts of them).

    Each container is visited once, however often the memo shares it, and every item counts
    against the budget's work limit (a 200-byte file of shared nested lists took hours before).
    """
    seen: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        budget.spend()
        if isinstance(item, _SCALARS):
            continue
        if not isinstance(item, tuple | list | dict):
            return False
        if id(item) in seen:
            continue
        seen.add(id(item))
        stack.extend(item.items() if isinstance(item, dict) else item)
    return True


def _eval_dtype(args: object) -> object:
    """np.dtype(*args) for the arguments numpy pickles (checked first), always as a fresh copy."""
    if guards.dtype_args_problem(args) is not None:
        return _OPAQUE
    try:
        return np.dtype(args[0], align=bool(args[1]) if len(args) > 1 else False, copy=True)  # type: ignore[index]
    except Exception:
        return _OPAQUE


def _class_of(cls: _Global) -> type | None:
    try:
        admitted = allowlist.admit(cls.module, cls.name)
    except allowlist.Unresolvable:
        return None
    return admitted.obj if admitted is not None and isinstance(admitted.obj, type) else None


def _is_class_global(value: object) -> bool:
    return isinstance(value, _Global) and _class_of(value) is not None


def _random_problem(full: str, args: tuple[Any, ...]) -> str | None:
    if len(args) > (1 if full == guards.BIT_GENERATOR_CTOR else 2):
        return "arguments numpy's pickles never pass"
    if args:
        first = args[0]
        if isinstance(first, str):
            if first not in guards.bit_generator_names():
                return "a bit-generator name numpy does not have"
        elif isinstance(first, _Global):
            if first.full not in names.BIT_GENERATORS:
                return f"a '{first.full}' where a bit-generator name belongs"
        elif full == guards.BIT_GENERATOR_CTOR or not (
            (isinstance(first, _Built) and first.func == _Global(*guards._split(guards.BIT_GENERATOR_CTOR)))
            or (isinstance(first, _Instance) and first.cls.full in names.BIT_GENERATORS)
        ):
            return "a value that is not a bit-generator name, class or instance"
    if len(args) == 2 and not (isinstance(args[1], _Global) and args[1].full == guards.BIT_GENERATOR_CTOR):
        return "a bit-generator constructor that is not numpy's own"
    return None


def _class_maker_problem(full: str, args: tuple[Any, ...]) -> str | None:
    cls = args[0] if args else None
    if not _is_class_global(cls):
        return "a value that is not an allowed class"
    if full in guards.NEW_OBJ_CLASSES:
        return None if cls.full == guards.NEW_OBJ_CLASSES[full] else f"the class '{cls.full}'"
    if full.startswith("sklearn.metrics._dist_metrics."):
        return None if cls.module == "sklearn.metrics._dist_metrics" else f"the class '{cls.full}'"
    if full == "copyreg._reconstructor":
        base = args[1] if len(args) == 3 else None
        if not (isinstance(base, _Global) and base.full in _BUILTIN_BASES):
            return "a base class that pickle never writes"
        return None if base.full != "builtins.object" or args[2] is None else "a state pickle never writes"
    module, name = guards._split(full)
    wanted = f"{module}.{name.removeprefix('__pyx_unpickle_')}"
    return None if cls.full == wanted else f"the class '{cls.full}'"


def guard_problem(full: str, args: object) -> str | None:
    """Why the scan's view of a call to guarded ``full`` is not one the loader admits (None: it is)."""
    if not isinstance(args, tuple):
        return "arguments the scan cannot follow"
    if full == "numpy.dtype":
        return guards.dtype_args_problem(args)
    if full in guards.RANDOM_CTORS:
        return _random_problem(full, args)
    if full == "functools.partial":
        target = args[0] if len(args) == 1 else None
        ok = isinstance(target, _Global) and target.full in guards.PARTIAL_TARGETS
        return None if ok else "a target other than check_array"
    if full == "builtins.getattr":
        owner, name = (*args, None, None)[:2]
        ok = isinstance(owner, _Instance) and (owner.cls.full, name) in names.GETATTR_ALLOWED
        return None if ok else "an object and name no fitted model stores"
    if full == "_codecs.encode":
        ok = 1 <= len(args) <= 2 and isinstance(args[0], str) and args[1:] in ((), ("latin1",), ("latin-1",))
        return None if ok else "an encoding other than latin1"
    if full in _UFUNC_RECONSTRUCTORS:
        return None  # the name it imports is listed and judged as a global
    return _class_maker_problem(full, args)


def _is_plain_value(value: object) -> bool:
    items = value if isinstance(value, list | tuple) and len(value) <= 16 else [value]
    return all(isinstance(item, _SCALARS) or _is_class_global(item) for item in items)


def _partial_state_problem(state: object) -> str | None:
    if not isinstance(state, tuple) or len(state) != 4:
        return "a state that is not (func, args, keywords, attributes)"
    func, args, keywords, namespace = state
    if not (isinstance(func, _Global) and func.full in guards.PARTIAL_TARGETS):
        return "a target other than check_array"
    if args not in ((), None) or namespace not in (None, {}):
        return "positional arguments or attributes of its own"
    if keywords is not None and not (
        isinstance(keywords, dict)
        and all(isinstance(k, str) and _is_plain_value(v) for k, v in keywords.items())
    ):
        return "keyword arguments that are not plain values"
    return None


class _Scanner:
    """Walks one pickle stream, noting into ``facts`` what it imports, calls and builds."""

    def __init__(self, raw: IO[bytes], facts: _Facts, *, joblib_arrays: bool) -> None:
        self.raw = raw
        self.facts = facts
        self.budget = facts.budget
        self.joblib_arrays = joblib_arrays
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}
        self.marks = 0
        self.proto = 0

    def run(self) -> None:
        reader = _FramedReader(self.raw)
        for opcode, arg, _ in pickletools.genops(reader):
            self._step(opcode, arg, reader)
            self.budget.opcode(len(self.stack), len(self.memo), self.marks)

    def _record(self, module: object, name: object) -> object:
        found = self.facts.found
        if not isinstance(module, str) or not isinstance(name, str):
            module_text = module if isinstance(module, str) else "?"
            found.setdefault(f"{module_text}.{name if isinstance(name, str) else '?'}", None)
            return _OPAQUE
        from xai_cli.models.safe_pickle import _normalize

        module, name = _normalize(module, name, self.proto)
        full = f"{module}.{name}"
        if found.setdefault(full, (module, name)) != (module, name):
            # The same dotted text split differently (module 'a', name 'b.c' after 'a.b', 'c'):
            # list it apart, in pickle's own 'module name' spelling, so each pair is judged.
            found.setdefault(f"{module} {name}", (module, name))
        return _Global(module, name)

    def _pop_mark(self) -> list[Any]:
        stack = self.stack
        for index in range(len(stack) - 1, -1, -1):
            if stack[index] is _MARK:
                items = stack[index + 1 :]
                del stack[index:]
                self.marks -= 1
                self.budget.spend(len(items) + 1)
                return items
        raise IndexError("no mark on the stack")

    def _new(self, cls: object) -> object:
        if cls == _NUMPY_ARRAY_WRAPPER:
            return _WrapperStub()
        return self._instance(cls) if isinstance(cls, _Global) else _OPAQUE

    def _instance(self, cls: _Global) -> _Instance:
        instance = _Instance(cls)
        if cls.full in allowlist.POSITIONAL:
            self.facts.scorers[id(instance)] = (instance, False)
        return instance

    def _check_callable(self, func: object) -> None:
        """Note a REDUCE/NEWOBJ/OBJ whose callable the stream built rather than imported by name."""
        if isinstance(func, _Built):
            self.facts.built_calls[f"the result of {func.what}"] = None
        elif not isinstance(func, _Global):
            self.facts.built_calls["an object the file built itself"] = None

    def _refuse_call(self, full: str, detail: str) -> None:
        self.facts.refused_calls.setdefault(full, detail)

    def _step(self, opcode: pickletools.OpcodeInfo, arg: Any, reader: _FramedReader) -> None:
        name, stack = opcode.name, self.stack
        if name in _LITERAL_OPS:
            stack.append({"NEWTRUE": True, "NEWFALSE": False}.get(name, arg))
        elif name == "FRAME":
            reader.load_frame(arg)
        elif name == "PROTO":
            self.proto = arg
        elif name == "MARK":
            stack.append(_MARK)
            self.marks += 1
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
            if stack.pop() is _MARK:
                self.marks -= 1
        elif name == "POP_MARK":
            self._pop_mark()
        elif name == "STOP":
            self.facts.root = stack[-1] if stack else None
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
        if not isinstance(func, _Global):
            return _OPAQUE
        full = func.full
        if guards.is_guarded(full):
            problem = guard_problem(full, args)
            if problem:
                self._refuse_call(full, problem)
            else:
                self.facts.checked.add(full)
            return self._guarded_result(func, args, ok=problem is None)
        cls = _class_of(func)
        if cls is not None:
            return self._instance(func)
        if self._reference_only(func):
            self._refuse_call(full, "a function a model may hold as a value but never calls while loading")
        return _Built(f"{full}(...)", func)

    @staticmethod
    def _reference_only(func: _Global) -> bool:
        try:
            admitted = allowlist.admit(func.module, func.name)
        except allowlist.Unresolvable:
            return False
        return admitted is not None and not admitted.callable_at_load

    def _guarded_result(self, func: _Global, args: Any, *, ok: bool) -> object:
        full = func.full
        if full == "numpy.dtype":
            return _eval_dtype(args)
        if full in _UFUNC_RECONSTRUCTORS and isinstance(args, tuple) and len(args) == 2:
            # numpy 1's _ufunc_reconstruct(module, name) imports module.name: list that name.
            module, name = args
            if isinstance(module, str) and isinstance(name, str):
                self.facts.found.setdefault(f"{module}.{name}", (module, name))
                return _Global(module, name)
        if ok and (full == "copyreg._reconstructor" or full.endswith(".newObj") or "__pyx_unpickle_" in full):
            return self._new(args[0])
        method = args[1] if full == "builtins.getattr" and ok else None
        return _Built(f"{full}(...)", func, method)

    def _build(self, state: object, inst: object) -> None:
        if isinstance(inst, np.dtype):
            # What the loader refuses (ValueError: exit 3) the scan cannot read either.
            if not is_literal(state, self.budget):
                raise ValueError("a numpy dtype state that is not made of literals")
            check_dtype_state(inst, state)
            inst.__setstate__(state)  # type: ignore[misc]
        elif isinstance(inst, _WrapperStub) and self.joblib_arrays:
            if isinstance(state, tuple) and len(state) == 2:
                state = state[0]
            if not isinstance(state, dict):
                raise ValueError("joblib array header without a state")
            self._skip_array(state)
            self.stack[-1] = _ARRAY
        elif isinstance(inst, _Built) and inst.func == _Global("functools", "partial"):
            problem = _partial_state_problem(state)
            if problem:
                self._refuse_call("functools.partial", problem)
        elif isinstance(inst, _Instance):
            self._build_instance(inst, state)

    def _build_instance(self, inst: _Instance, state: object) -> None:
        """The keys a BUILD sets on an allowed class, as the loader checks them; scorers it places."""
        cls = _class_of(inst.cls)
        if cls is None:
            return
        parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
        if not cls.__dictoffset__:
            parts = parts[1:] if len(parts) == 2 else ()
        for part in parts:
            if not isinstance(part, dict):
                continue
            plain = {
                key: None
                for key, value in part.items()
                if not (isinstance(value, _Built) and value.method is not None and value.method == key)
            }
            problem = allowlist.state_problem(cls, plain)
            if problem:
                self._refuse_call(inst.cls.full, f"a state that {problem}")
            if allowlist.is_estimator_name(inst.cls.full):
                self._place_scorers(part)
            else:
                if id(inst) not in self.facts.holds:
                    self.facts.keep.append(inst)
                self.facts.holds.setdefault(id(inst), []).extend(self._instances_in(part))

    def _instances_in(self, value: object) -> list[_Instance]:
        """The instances inside ``value`` (through containers, each once); they are held by it."""
        found, seen, stack = [], set(), [value]
        while stack:
            item = stack.pop()
            self.budget.spend()
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, _Instance):
                found.append(item)
            elif isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list | tuple):
                stack.extend(item)
        return found

    def _place_scorers(self, state: dict[Any, Any]) -> None:
        """Scorers and Bunches under the attribute names an estimator may hold them at are placed."""
        for key, value in state.items():
            for candidate in value.values() if isinstance(value, dict) else (value,):
                entry = self.facts.scorers.get(id(candidate))
                if entry is not None and key in allowlist.POSITIONAL[entry[0].cls.full]:
                    self.facts.scorers[id(candidate)] = (entry[0], True)

    def _skip_array(self, state: dict[Any, Any]) -> None:
        """Step over the data NumpyArrayWrapper.read_array would read after this BUILD."""
        dtype, shape = state.get("dtype"), state.get("shape")
        if not isinstance(dtype, np.dtype):
            raise ValueError("joblib array header with a dtype the scan cannot follow")
        if dtype.hasobject:
            _Scanner(self.raw, self.facts, joblib_arrays=False).run()
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
    # Calls of allowed names with arguments the loader refuses, and BUILDs it refuses: name -> why.
    refused_calls: dict[str, str] = {}  # noqa: RUF012
    # Names allowed only with checked arguments (builtins.getattr) whose every call was checked.
    checked: frozenset[str] = frozenset()
    # The file's top object, when it is not a fitted estimator: (its type or what built it, why).
    refused_root: tuple[str, str] | None = None
    # The work the walk counted.
    budget: Budget | None = None


def _root_problem(facts: _Facts) -> tuple[str, str] | None:
    root = facts.root
    if isinstance(root, _Instance):
        if allowlist.is_estimator_name(root.cls.full):
            return None
        return root.cls.full, "the file's top object, which must be a fitted estimator or Pipeline"
    if isinstance(root, tuple | list | dict | set | frozenset | str | bytes | int | float | type(None)):
        return None  # plain data: safe to load, and the loader says it is no model (exit 3)
    what = root.func.full if isinstance(root, _Built) and root.func else type(root).__name__
    return what, "the file's top object, which must be a fitted estimator or Pipeline"


def _listing(facts: _Facts, *, file_level: bool) -> PickleListing:
    parts = {full: pair for full, pair in facts.found.items() if pair is not None}
    refused = dict(facts.refused_calls)
    queue = [instance for instance, placed in facts.scorers.values() if placed]
    while queue:
        for held in facts.holds.get(id(queue.pop()), []):
            entry = facts.scorers.get(id(held))
            if entry is not None and not entry[1]:
                facts.scorers[id(held)] = (entry[0], True)
            if entry is None or not entry[1]:
                queue.append(held)
    for instance, placed in facts.scorers.values():
        if not placed:
            where = " or ".join(sorted(allowlist.POSITIONAL[instance.cls.full]))
            refused.setdefault(instance.cls.full, f"a type a model holds only as an estimator's {where}")
    checked = frozenset(name for name in facts.checked if name not in refused)
    root = _root_problem(facts) if file_level else None
    return PickleListing(
        list(facts.found), parts, list(facts.built_calls), refused, checked, root, facts.budget
    )


def list_pickle_stream(stream: IO[bytes], budget: Budget | None = None) -> PickleListing:
    """List a plain pickle stream (e.g. a member of a zip archive) without loading it.

    Raises whatever a malformed stream makes pickletools raise, and ``BudgetExceeded`` past the limits
    of ``pickle_budget``; callers turn those into InputError. The top object is not judged.
    """
    facts = _Facts(budget or Budget())
    _Scanner(stream, facts, joblib_arrays=False).run()
    return _listing(facts, file_level=False)


def list_pickle(path: Path, budget: Budget | None = None) -> PickleListing:
    """What a pickle/joblib file would import and call, found without loading it.

    The (decompressed) stream is walked with ``pickletools.genops``, following joblib's array data and
    the nested pickles of its object arrays. Nothing is imported but allowed modules, nothing is
    called but ``numpy.dtype`` on checked literal arguments. Names are normalised as Python 3 spells
    them; a STACK_GLOBAL whose operands were computed rather than written as strings shows '?' for the
    part that is unknown. The file's top object must be an estimator (``refused_root`` says when it is
    not). Raises InputError for a missing or unreadable file, or one past the work limits.
    """
    path = Path(path)

    def scan() -> PickleListing:
        facts = _Facts(budget or Budget())
        with open(path, "rb") as raw:
            if is_legacy_zfile(raw):
                _Scanner(io.BytesIO(read_zfile(raw)), facts, joblib_arrays=False).run()
                return _listing(facts, file_level=True)
        with decompressed(path) as stream:
            _Scanner(stream, facts, joblib_arrays=True).run()
        return _listing(facts, file_level=True)

    return guarded_read(path, scan)


def pickle_globals(path: Path) -> list[str]:
    """Every 'module.qualname' a pickle/joblib file would import, found without loading it.

    See ``list_pickle``, which also reports calls on objects the file built itself.
    """
    return list_pickle(path).globals
