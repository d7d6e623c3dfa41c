"""A fitted scikit-learn decision tree as conditions on the user's raw columns.

The tree splits on its own inputs (scaled numbers, one-hot or ordinal codes); each input ``j`` comes
from one raw column through a known function (``SplitFeature.forward``). A split
``float32(forward(x)) <= t`` becomes, on a numeric column, a threshold in the column's own units found by
bisection over float64 values (exact for any monotone encoding, not only scalers whose inverse we could
write down), and on a categorical column the set of categories that go left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xai_cli.methods.conditions import Condition, condition_mask, merge_conditions, set_condition

BISECTION_POINTS = 1023
SIGN_BIT = np.int64(np.iinfo(np.int64).min)
MAX_FLOAT = float(np.finfo(np.float64).max)


class NotMonotone(ValueError):
    """An encoded input is not a monotone function of its raw column, so thresholds cannot map back."""


@dataclass(frozen=True)
class SplitFeature:
    """Input ``j`` of a tree: the raw column it comes from and the function from raw values to it."""

    column: str
    categorical: bool
    forward: Callable[[np.ndarray], np.ndarray]


@dataclass
class TreeNode:
    """A node of the drawn tree; ``condition`` is the test that sends a row to the left child."""

    node_id: int
    depth: int
    condition: Condition | None
    left: int | None
    right: int | None
    rule_index: int | None
    n_rows: int


@dataclass
class TreePaths:
    """Every leaf of a tree as a merged conjunction of raw-column conditions, and the tree for drawing."""

    conditions: list[list[Condition]]
    leaf_nodes: list[int]
    leaf_values: list[np.ndarray]
    nodes: list[TreeNode] = field(default_factory=list)
    depth: int = 0


def tree_paths(tree: Any, features: list[SplitFeature], frame: pd.DataFrame) -> TreePaths:
    """Walk a fitted sklearn tree (``tree.tree_``) into one rule per leaf, on the raw columns of ``frame``.

    Raises NotMonotone when a numeric input does not map back to its column monotonically.
    """
    structure = tree.tree_
    categories = {f.column: _known_categories(frame[f.column]) for f in features if f.categorical}
    splitters: dict[int, tuple[Condition, Condition]] = {}
    node_rows: dict[int, np.ndarray] = {}
    conditions: list[list[Condition]] = []
    leaf_nodes: list[int] = []
    leaf_values: list[np.ndarray] = []
    nodes: list[TreeNode] = []
    depth_seen = 0

    def split_of(node: int) -> tuple[Condition, Condition]:
        if node not in splitters:
            feature = features[int(structure.feature[node])]
            threshold = float(structure.threshold[node])
            if feature.categorical:
                splitters[node] = categorical_split(feature, threshold, categories[feature.column])
            else:
                splitters[node] = numeric_split(feature, threshold, frame[feature.column])
        return splitters[node]

    def visit(node: int, path: list[Condition], depth: int, mask: np.ndarray) -> int:
        nonlocal depth_seen
        depth_seen = max(depth_seen, depth)
        left, right = int(structure.children_left[node]), int(structure.children_right[node])
        position = len(nodes)
        node_rows[node] = mask
        if left == -1:
            nodes.append(TreeNode(position, depth, None, None, None, len(conditions), int(mask.sum())))
            conditions.append(merge_conditions(path, categories))
            leaf_nodes.append(node)
            leaf_values.append(np.asarray(structure.value[node][0], dtype=float))
            return position
        go_left, go_right = split_of(node)
        left_mask = mask & condition_mask(go_left, frame[go_left.feature])
        entry = TreeNode(position, depth, go_left, None, None, None, int(mask.sum()))
        nodes.append(entry)
        entry.left = visit(left, [*path, go_left], depth + 1, left_mask)
        entry.right = visit(right, [*path, go_right], depth + 1, mask & ~left_mask)
        return position

    visit(0, [], 0, np.ones(len(frame), dtype=bool))
    return TreePaths(conditions, leaf_nodes, leaf_values, nodes, depth_seen)


def _known_categories(values: pd.Series) -> tuple[Any, ...]:
    """The categories of a column in DATA, sorted as text so reports do not depend on row order."""
    from xai_cli.models.base import to_json_scalar

    return tuple(sorted((to_json_scalar(v) for v in values.dropna().unique()), key=str))


def categorical_split(
    feature: SplitFeature, threshold: float, known: tuple[Any, ...]
) -> tuple[Condition, Condition]:
    """The categories whose encoding goes left (``<= threshold``), as ``in``/``not in`` conditions."""
    encoded = np.asarray(feature.forward(np.asarray(known, dtype=object)), dtype=float)
    goes_left = encoded.astype(np.float32).astype(np.float64) <= threshold
    left = {c for c, flag in zip(known, goes_left, strict=True) if flag}
    right = set(known) - left
    left_condition = set_condition(feature.column, left, known) or [Condition(feature.column, "not in", ())]
    right_condition = set_condition(feature.column, right, known) or [Condition(feature.column, "not in", ())]
    return left_condition[0], right_condition[0]


def numeric_split(feature: SplitFeature, threshold: float, values: pd.Series) -> tuple[Condition, Condition]:
    """The threshold in the column's own units that sends the same values left as the tree does.

    The value shown is the shortest decimal within the tree's own float32 precision of the exact boundary
    (so ``2.45``, not ``2.4500001668930054``) that sends every value of the data, and itself, the same way
    as the tree; otherwise the exact float64 boundary.
    """

    def goes_left(raw: np.ndarray) -> np.ndarray:
        encoded = np.asarray(feature.forward(np.asarray(raw, dtype=float)), dtype=float)
        return encoded.astype(np.float32).astype(np.float64) <= threshold

    observed = np.unique(values.dropna().to_numpy(dtype=float))
    if len(observed):
        sides = goes_left(observed)
        changes = np.count_nonzero(sides[1:] != sides[:-1])
        if changes > 1:
            raise NotMonotone(f"column {feature.column!r}: its encoding is not monotone")
    low, high = _bracket(goes_left, observed)
    low_side = bool(goes_left(np.array([low]))[0])
    high_side = bool(goes_left(np.array([high]))[0])
    if low_side == high_side:
        # Every finite value goes the same way: the split never separates anything.
        everything = Condition(feature.column, "<=", MAX_FLOAT)
        nothing = Condition(feature.column, ">", MAX_FLOAT)
        return (everything, nothing) if low_side else (nothing, everything)
    last_low, first_high = _bisect(goes_left, low, high, low_side)
    left_is_low = low_side
    exact_left = (
        Condition(feature.column, "<=", last_low)
        if left_is_low
        else Condition(feature.column, ">=", first_high)
    )
    expected = goes_left(observed) if len(observed) else np.array([], dtype=bool)
    observed_series = pd.Series(observed)
    boundary = last_low if left_is_low else first_high
    left = exact_left
    for readable in _readable_boundaries(boundary, _float32_width(feature, boundary, threshold)):
        # The operator is chosen by where the tree sends the rounded value itself, so the condition is
        # exact at it and only differs from the tree strictly between it and the exact boundary.
        lands_left = bool(goes_left(np.array([readable]))[0])
        if left_is_low:
            candidate = Condition(feature.column, "<=" if lands_left else "<", readable)
        else:
            candidate = Condition(feature.column, ">=" if lands_left else ">", readable)
        if np.array_equal(condition_mask(candidate, observed_series), expected):
            left = candidate
            break
    return left, _complement(left)


def _complement(condition: Condition) -> Condition:
    flipped = {"<=": ">", ">": "<=", "<": ">=", ">=": "<"}[condition.op]
    return Condition(condition.feature, flipped, condition.value)


def _float32_width(feature: SplitFeature, boundary: float, threshold: float) -> float:
    """How far, in the column's units, the tree's float32 view of its input blurs values near the boundary."""
    step = max(abs(boundary), 1.0) * 1e-4
    with np.errstate(all="ignore"):
        ends = np.asarray(feature.forward(np.array([boundary - step, boundary + step])), dtype=float)
    slope = abs(float(ends[1] - ends[0])) / (2 * step)
    raw_width = float(np.spacing(np.float32(abs(boundary))))
    if not np.isfinite(slope) or slope == 0.0:
        return 4 * raw_width
    return 4 * max(raw_width, float(np.spacing(np.float32(abs(threshold)))) / slope)


def _readable_boundaries(boundary: float, tolerance: float) -> list[float]:
    """Decimals within ``tolerance`` of ``boundary``, shortest first."""
    found: list[float] = []
    for digits in range(1, 16):
        rounded = float(f"{boundary:.{digits}g}")
        if abs(rounded - boundary) <= tolerance and rounded not in found:
            found.append(rounded)
    return found


def _bracket(goes_left: Callable[[np.ndarray], np.ndarray], observed: np.ndarray) -> tuple[float, float]:
    """Two values, low < high, that the split sends to different sides where possible."""
    if len(observed) == 0:
        return -MAX_FLOAT, MAX_FLOAT
    sides = goes_left(observed)
    if sides.any() and not sides.all():
        flips = np.flatnonzero(sides[1:] != sides[:-1])
        return float(observed[flips[0]]), float(observed[flips[0] + 1])
    span = max(float(np.ptp(observed)), abs(float(observed[0])), 1.0)
    outward = np.array([observed[0] - span * 2.0**k for k in range(0, 1000, 8)] + [-MAX_FLOAT])
    inward = np.array([observed[-1] + span * 2.0**k for k in range(0, 1000, 8)] + [MAX_FLOAT])
    outward, inward = outward[np.isfinite(outward)], inward[np.isfinite(inward)]
    with np.errstate(all="ignore"):
        below = goes_left(outward)
        above = goes_left(inward)
    if (below != sides[0]).any():
        return float(outward[np.argmax(below != sides[0])]), float(observed[0])
    if (above != sides[0]).any():
        return float(observed[-1]), float(inward[np.argmax(above != sides[0])])
    return -MAX_FLOAT, MAX_FLOAT


def _float_key(value: float) -> int:
    """An integer that orders float64 values like the numbers themselves (adjacent floats differ by 1)."""
    bits = int(np.array([value], dtype=np.float64).view(np.int64)[0])
    return bits if bits >= 0 else -(bits & 0x7FFFFFFFFFFFFFFF)


def _key_floats(keys: list[int]) -> np.ndarray:
    as_int = np.array(keys, dtype=np.int64)
    bits = np.where(as_int < 0, (-as_int) | SIGN_BIT, as_int)
    return bits.view(np.float64)


def _bisect(
    goes_left: Callable[[np.ndarray], np.ndarray], low: float, high: float, low_side: bool
) -> tuple[float, float]:
    """Adjacent float64 values ``(a, b)`` with ``a`` on the low side of the split and ``b`` past it.

    Each round tests 1023 evenly spaced floats at once, so about seven vectorised calls reach adjacency.
    """
    a, b = _float_key(low), _float_key(high)
    while b - a > 1:
        count = min(b - a - 1, BISECTION_POINTS)
        keys = [a + (b - a) * (i + 1) // (count + 1) for i in range(count)]
        with np.errstate(all="ignore"):
            same = goes_left(_key_floats(keys)) == low_side
        beyond = np.flatnonzero(~same)
        if len(beyond) == 0:
            a = keys[-1]
        else:
            first = int(beyond[0])
            b = keys[first]
            if first > 0:
                a = keys[first - 1]
    return float(_key_floats([a])[0]), float(_key_floats([b])[0])
