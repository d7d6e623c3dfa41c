"""The post-load audit: walk the object graph a model file built and refuse what no fitted model holds.

The allow-list decides which names a file may import; the audit decides what the built objects may
be, before any method of them is called. It walks every attribute, container item and object-array
item once (shared structure is walked once, by id; the walk is bounded by ``MAX_AUDIT_OBJECTS``) and
refuses, with one line naming the file and the type:

- a root that is not an estimator (a DataFrame, a dict, a partial, a numpy Generator, a scorer ...);
- any object whose type no fitted model contains (the derived ``GRAPH_TYPES`` and the allow-list's
  classes), a class or function that is not on the allow-list;
- an instance attribute that shadows a method, property or class attribute of its class;
- a ``functools.partial`` whose target is not a pure allowed function, or that carries attributes;
- a scorer anywhere but as the ``scorer_`` of a fitted search (where nothing in xai calls it).
"""

from __future__ import annotations

import collections
import functools
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from xai_cli.errors import InputError, UnsafeModelError
from xai_cli.models.allowlist.guards import partial_state_problem

MAX_AUDIT_OBJECTS = 2_000_000
_PLACED = "<placed>"
TRUST_HINT = "if you trust this file, pass --trust-model (or set XAI_TRUST_MODEL=1)"
_PLAIN_ROOTS = (dict, list, tuple, set, frozenset, str, bytes, int, float, bool, type(None), np.ndarray)
_LEAVES = (str, bytes, bytearray, int, float, complex, bool, type(None), range, slice)
_FUNCTIONS = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, np.ufunc)


def children(obj: object) -> Iterator[object]:
    """The objects ``obj`` holds: container items, object-array items, attributes, partial parts."""
    if isinstance(obj, dict):
        yield from obj.keys()
        yield from obj.values()
    elif isinstance(obj, list | tuple | set | frozenset):
        yield from obj
    elif isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            yield from obj.ravel(order="K").tolist()
    elif isinstance(obj, functools.partial):
        yield obj.func
        yield obj.args
        yield obj.keywords
        yield from vars(obj).values()
    elif isinstance(obj, (*_LEAVES, type, *_FUNCTIONS)):
        return
    else:
        state = getattr(obj, "__dict__", None)
        if isinstance(state, dict):
            yield state


def _name(kind: type) -> str:
    return f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', '?')}"


class _Audit:
    def __init__(self, path: Path) -> None:
        from xai_cli.models import allowlist

        self.path = path
        self.allowlist = allowlist
        self.seen: set[int] = set()

    def refuse(self, what: str, where: str) -> UnsafeModelError:
        from xai_cli.models.allowlist.names import printable

        place = f" at {printable(where, 120)}" if where else ""
        return UnsafeModelError(
            f"{self.path}: refused to load: the model holds {printable(what)}{place}, which no fitted "
            f"model contains; {TRUST_HINT}"
        )

    def run(self, root: object) -> None:
        kind = type(root)
        if kind in _PLAIN_ROOTS:
            # Harmless data, only not a model (the allow-list built nothing but builtins and arrays).
            raise InputError(
                f"{self.path}: the file holds a {kind.__name__}, not a model with a predict method; "
                "save the fitted estimator or Pipeline itself"
            )
        if not self.allowlist.is_estimator_class(kind):
            raise UnsafeModelError(
                f"{self.path}: refused to load: the file holds a '{_name(kind)}', not a fitted "
                f"estimator or Pipeline; {TRUST_HINT}"
            )
        # (object, where it sits, the attribute name of the estimator it hangs from, if any)
        stack: list[tuple[object, str, str | None]] = [(root, "", None)]
        placed: set[int] = set()
        pending: dict[int, tuple[type, str]] = {}
        while stack:
            obj, where, attribute = stack.pop()
            if type(obj) in _LEAVES:
                continue
            allowed_at = self.allowlist.positional_attributes(type(obj))
            if allowed_at is not None:
                # A scorer or Bunch may be reached first by another path: judge it by every path.
                if attribute in allowed_at or attribute == _PLACED:
                    placed.add(id(obj))
                    pending.pop(id(obj), None)
                elif id(obj) not in placed:
                    pending.setdefault(id(obj), (type(obj), where))
            if id(obj) in self.seen:
                continue
            self.seen.add(id(obj))
            if len(self.seen) > MAX_AUDIT_OBJECTS:
                raise InputError(
                    f"{self.path}: the model holds more than {MAX_AUDIT_OBJECTS} objects (the audit's "
                    "limit); no fitted model is that large, the file is damaged or hostile"
                )
            self.check(obj, where)
            owner_is_estimator = self.allowlist.is_estimator_class(type(obj))
            for label, key, child in self.labelled(obj):
                if (allowed_at is not None and id(obj) in placed) or (
                    attribute == _PLACED and not owner_is_estimator
                ):
                    context: str | None = _PLACED  # what a placed scorer holds is placed with it
                elif owner_is_estimator:
                    context = key
                else:
                    context = attribute if isinstance(obj, dict | list | tuple) else None
                stack.append((child, f"{where}{label}", context))
        for kind, where in pending.values():
            raise self.refuse(f"a '{_name(kind)}', which a model holds only as {_places(kind)}", where)

    @staticmethod
    def labelled(obj: object) -> Iterator[tuple[str, object, object]]:
        """(label, attribute name or None, child) for each child of ``obj``."""
        if isinstance(obj, dict):
            for key, value in obj.items():
                yield "[key]", None, key
                yield (f"[{key!r}]" if isinstance(key, str) else "[...]"), None, value
            if isinstance(obj, collections.defaultdict):
                yield ".default_factory", None, obj.default_factory
            return
        if isinstance(obj, (*_FUNCTIONS, type)) or _name(type(obj)) == "numpy._ArrayFunctionDispatcher":
            return
        state = None if isinstance(obj, functools.partial) else getattr(obj, "__dict__", None)
        if isinstance(state, dict):
            for key, value in state.items():
                yield "[key]", None, key
                yield f".{key}", key, value
            return
        for child in children(obj):
            yield "[...]", None, child

    def check(self, obj: object, where: str) -> None:
        """Refuse ``obj`` unless it is what a fitted model holds at ``where``."""
        allowlist = self.allowlist
        kind = type(obj)
        if isinstance(obj, type):
            if not allowlist.is_allowed_class(obj):
                raise self.refuse(f"the class '{_name(obj)}'", where)
            return
        if isinstance(obj, functools.partial):
            problem = partial_state_problem(obj.func, obj.args, obj.keywords, vars(obj))
            if problem:
                raise self.refuse(f"a partial of {problem}", where)
            return
        if isinstance(obj, _FUNCTIONS) or _name(kind) == "numpy._ArrayFunctionDispatcher":
            if not allowlist.is_reference(obj):
                raise self.refuse(f"the function '{_name(obj)}'", where)
            return
        if allowlist.positional_attributes(kind) is None and not allowlist.is_graph_type(kind):
            raise self.refuse(f"a '{_name(kind)}'", where)
        state = getattr(obj, "__dict__", None)
        if isinstance(state, dict) and not isinstance(obj, dict):
            problem = allowlist.state_problem(kind, state)
            if problem:
                raise self.refuse(f"a '{_name(kind)}' whose state {problem}", where)


def _places(kind: type) -> str:
    from xai_cli.models.allowlist import positional_attributes

    return " or ".join(f"an estimator's {name}" for name in sorted(positional_attributes(kind) or ()))


def audit_model(model: object, path: Path) -> None:
    """Raise UnsafeModelError (one line naming ``path`` and the type) unless ``model``'s whole object
    graph is made of what fitted models contain; InputError if the graph exceeds the audit's bound."""
    _Audit(path).run(model)
