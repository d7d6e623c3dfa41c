"""What a counterfactual may change: checked constraints, each column's allowed values, and a checker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xai_cli.data.constraints import ConstraintSpec
from xai_cli.errors import InputError
from xai_cli.models.base import to_json_scalar


@dataclass(frozen=True)
class Constraints:
    """Validated constraints on the model's input columns.

    ``ranges`` bounds the values a changed numeric column may take (None: the data's observed bound).
    """

    immutable: frozenset[str] = frozenset()
    increase_only: frozenset[str] = frozenset()
    decrease_only: frozenset[str] = frozenset()
    ranges: tuple[tuple[str, float | None, float | None], ...] = ()

    def range_of(self, column: str) -> tuple[float | None, float | None]:
        """The user's bounds for ``column`` (the tightest when given several times)."""
        low: float | None = None
        high: float | None = None
        for name, lo, hi in self.ranges:
            if name == column:
                low = lo if low is None or (lo is not None and lo > low) else low
                high = hi if high is None or (hi is not None and hi < high) else high
        return low, high

    def describe(self) -> dict[str, Any]:
        """The ``constraints`` block of the report."""
        columns = sorted({name for name, _, _ in self.ranges})
        return {
            "immutable": sorted(self.immutable),
            "increase_only": sorted(self.increase_only),
            "decrease_only": sorted(self.decrease_only),
            "ranges": {c: list(self.range_of(c)) for c in columns},
        }


@dataclass(frozen=True)
class ColumnSpace:
    """One input column: its kind, the values a counterfactual may give it, and its distance unit."""

    name: str
    categorical: bool
    integer: bool
    scale: float
    observed: np.ndarray
    grid: np.ndarray
    low: float
    high: float


def build_constraints(spec: ConstraintSpec, frame: pd.DataFrame, categorical: frozenset[str]) -> Constraints:
    """Check every named column exists and every constraint can hold; raise InputError naming the source."""
    columns = list(frame.columns)
    known = ", ".join(columns)

    def check(name: str, origin: str) -> str:
        if name not in columns:
            raise InputError(f"{origin}: {name!r} is not an input column of the model (columns: {known})")
        return name

    def is_categorical(name: str) -> bool:
        return name in categorical or not pd.api.types.is_numeric_dtype(frame[name])

    immutable = {check(n, o) for n, o in spec.immutable}
    increase = {check(n, o) for n, o in spec.increase_only}
    decrease = {check(n, o) for n, o in spec.decrease_only}
    for name, origin in spec.increase_only + spec.decrease_only:
        if is_categorical(name):
            raise InputError(
                f"{origin}: {name!r} is a categorical column; it has no order to increase or decrease"
            )
    both = sorted(increase & decrease)
    if both:
        raise InputError(
            f"{both[0]!r} is both increase-only and decrease-only, which no change can satisfy; "
            "use --immutable to keep it fixed"
        )
    ranges = []
    for name, low, high, origin in spec.ranges:
        check(name, origin)
        if is_categorical(name):
            raise InputError(
                f"{origin}: {name!r} is a categorical column; a range applies to numeric columns"
            )
        if low is not None and high is not None and low > high:
            raise InputError(f"{origin}: the range of {name!r} is empty ({low:g} > {high:g})")
        ranges.append((name, low, high))
    constraints = Constraints(frozenset(immutable), frozenset(increase), frozenset(decrease), tuple(ranges))
    for name in {n for n, _, _ in ranges}:
        low, high = constraints.range_of(name)
        if low is not None and high is not None and low > high:
            raise InputError(f"the ranges given for {name!r} do not overlap: nothing is allowed")
    if immutable >= set(columns):
        raise InputError("every column is immutable: no counterfactual can change anything")
    return constraints


def column_spaces(
    frame: pd.DataFrame, categorical: frozenset[str], constraints: Constraints, grid_size: int = 24
) -> list[ColumnSpace]:
    """Per column: observed values (or categories), a grid of ``grid_size`` quantiles of the data (real
    observed values), the allowed interval, and the distance unit.

    The unit of a numeric column is its median absolute deviation (MAD) in the data, as in Wachter et al.
    (2017) and DiCE; when the MAD is 0 (a mostly-constant column) its standard deviation, else 1. A changed
    category counts 1.
    """
    spaces = []
    for name in frame.columns:
        values = frame[name].dropna()
        if name in categorical or not pd.api.types.is_numeric_dtype(frame[name]):
            observed = np.asarray(sorted({to_json_scalar(v) for v in values.unique()}, key=str), dtype=object)
            spaces.append(ColumnSpace(name, True, False, 1.0, observed, observed, np.nan, np.nan))
            continue
        numbers = values.to_numpy(dtype=float)
        integer = pd.api.types.is_integer_dtype(frame[name]) or pd.api.types.is_bool_dtype(frame[name])
        median = float(np.median(numbers))
        mad = float(np.median(np.abs(numbers - median)))
        scale = mad if mad > 0 else (float(np.std(numbers)) or 1.0)
        low, high = constraints.range_of(name)
        spaces.append(
            ColumnSpace(
                name,
                False,
                integer,
                scale,
                np.unique(numbers),
                np.unique(np.quantile(numbers, np.linspace(0, 1, grid_size), method="nearest")),
                float(numbers.min()) if low is None else low,
                float(numbers.max()) if high is None else high,
            )
        )
    return spaces


def violations(
    original: dict[str, Any], values: dict[str, Any], constraints: Constraints, spaces: list[ColumnSpace]
) -> list[str]:
    """Every way ``values`` breaks a constraint relative to ``original`` (empty when it keeps them all)."""
    problems = []
    for space in spaces:
        before, after = original[space.name], values[space.name]
        if after == before:
            continue
        name = space.name
        if name in constraints.immutable:
            problems.append(f"{name} is immutable but changed")
        if space.categorical:
            if after not in set(space.observed.tolist()):
                problems.append(f"{name} = {after!r} is not a category seen in the data")
            continue
        if not isinstance(after, int | float) or isinstance(after, bool) or not np.isfinite(after):
            problems.append(f"{name} = {after!r} is not a finite number")
            continue
        if space.integer and float(after) != int(after):
            problems.append(f"{name} = {after!r} is not an integer")
        if not space.low <= after <= space.high:
            problems.append(f"{name} = {after!r} is outside [{space.low:g}, {space.high:g}]")
        if name in constraints.increase_only and not after > before:
            problems.append(f"{name} may only increase")
        if name in constraints.decrease_only and not after < before:
            problems.append(f"{name} may only decrease")
    return problems
