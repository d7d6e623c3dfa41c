"""Conditions on raw columns (``income <= 52000``, ``region in [north, east]``): evaluating and merging."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

NUMERIC_OPS = ("<=", "<", ">", ">=", "==", "!=")
SET_OPS = ("in", "not in")
OPS = NUMERIC_OPS + SET_OPS


@dataclass(frozen=True)
class Condition:
    """One test on one column of the user's file: ``feature op value``.

    ``value`` is a number for the comparison operators and a tuple of category values for ``in`` and
    ``not in``.
    """

    feature: str
    op: str
    value: Any

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"feature", "op", "value"}`` (a list for set operators)."""
        value = list(self.value) if self.op in SET_OPS else self.value
        return {"feature": self.feature, "op": self.op, "value": value}


def condition_mask(condition: Condition, values: pd.Series) -> np.ndarray:
    """Which of ``values`` satisfy the condition (a missing value satisfies no comparison)."""
    op, value = condition.op, condition.value
    if op == "in":
        return values.isin(list(value)).to_numpy()
    if op == "not in":
        return (~values.isin(list(value))).to_numpy()
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        if op == "<=":
            return numbers <= value
        if op == "<":
            return numbers < value
        if op == ">":
            return numbers > value
        if op == ">=":
            return numbers >= value
        if op == "==":
            return numbers == value
        if op == "!=":
            return numbers != value
    raise ValueError(f"unknown operator {op!r}")


def rule_mask(conditions: list[Condition], frame: pd.DataFrame) -> np.ndarray:
    """Rows of ``frame`` that satisfy every condition."""
    mask = np.ones(len(frame), dtype=bool)
    for condition in conditions:
        mask &= condition_mask(condition, frame[condition.feature])
    return mask


def merge_conditions(conditions: list[Condition], categories: dict[str, tuple[Any, ...]]) -> list[Condition]:
    """The tightest equivalent conjunction: one lower and one upper bound per numeric column, one set
    test per categorical column (over ``categories[column]``, the column's known categories).

    Columns keep the order of their first condition, so a rule reads from the root of the tree down.
    """
    order: list[str] = []
    lower: dict[str, tuple[float, bool]] = {}
    upper: dict[str, tuple[float, bool]] = {}
    allowed: dict[str, set[Any]] = {}
    for condition in conditions:
        name = condition.feature
        if name not in order:
            order.append(name)
        if condition.op in SET_OPS:
            current = allowed.setdefault(name, set(categories[name]))
            chosen = set(condition.value)
            allowed[name] = current & chosen if condition.op == "in" else current - chosen
        elif condition.op in (">", ">="):
            strict = condition.op == ">"
            bound = lower.get(name)
            if bound is None or condition.value > bound[0] or (condition.value == bound[0] and strict):
                lower[name] = (condition.value, strict)
        elif condition.op in ("<", "<="):
            strict = condition.op == "<"
            bound = upper.get(name)
            if bound is None or condition.value < bound[0] or (condition.value == bound[0] and strict):
                upper[name] = (condition.value, strict)
        else:
            raise ValueError(f"cannot merge operator {condition.op!r}")
    merged: list[Condition] = []
    for name in order:
        if name in allowed:
            merged.extend(set_condition(name, allowed[name], categories[name]))
        if name in lower:
            value, strict = lower[name]
            merged.append(Condition(name, ">" if strict else ">=", value))
        if name in upper:
            value, strict = upper[name]
            merged.append(Condition(name, "<" if strict else "<=", value))
    return merged


def set_condition(feature: str, allowed: set[Any], known: tuple[Any, ...]) -> list[Condition]:
    """``in`` the allowed categories, or ``not in`` the others when that list is shorter.

    No condition when every known category is allowed.
    """
    chosen = tuple(c for c in known if c in allowed)
    excluded = tuple(c for c in known if c not in allowed)
    if not excluded:
        return []
    if len(excluded) < len(chosen):
        return [Condition(feature, "not in", excluded)]
    return [Condition(feature, "in", chosen)]
