"""Checks on numpy array and dtype states, before numpy's own ``__setstate__`` sees them.

numpy trusts some parts of a pickled state that a hostile or damaged file controls: an object array's
item list shorter than its shape, dtype flags that contradict the dtype. Both crashed the interpreter.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

# numpy's dtype flag NPY_LIST_PICKLE: arrays of this dtype pickle their items as a list.
_LIST_PICKLE = 0x02


def check_array_state(state: object) -> None:
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


def check_dtype_state(target: np.dtype, state: object) -> None:
    """Refuse a dtype state that numpy would accept but that contradicts the dtype it describes.

    ``dtype.__setstate__`` takes the flags, item size and alignment from the file as they are.
    Flags that say "holds no Python objects" on an object dtype (or the reverse) make numpy read
    raw bytes as object pointers or look for loops that do not exist: the process crashes, and a
    shared dtype such as ``dtype('complex64')`` stays broken for everything after. Real pickles
    set the state of a fresh copy (``numpy.dtype(code, align, True)``) to what numpy's own
    constructors make of it; anything else is refused.
    """
    check_dtype_state_layout(target, state)
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


def check_dtype_state_layout(target: np.dtype, state: object) -> None:
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
