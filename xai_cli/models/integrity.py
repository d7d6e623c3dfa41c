"""Checks on the tree structures that scikit-learn's compiled code follows without bounds checks.

The allow-list decides which classes a pickle may build, not what their arrays hold. A decision
tree's child and feature indices, and a HistGradientBoosting predictor's nodes, are followed by
Cython code that trusts them: a damaged or hostile file with a child index out of range reads
outside the arrays (the process crashes), one that points back up the tree loops for ever, and a
wrong ``max_depth`` overflows the buffers of shap's TreeSHAP. ``check_model_integrity`` walks a
loaded model and refuses such structures before anything predicts with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from xai_cli.errors import InputError

TREE_LEAF = -1
_MAX_OBJECTS = 1_000_000


def check_model_integrity(model: object, path: Path) -> None:
    """Raise InputError naming ``path`` if any tree inside ``model`` is malformed."""
    try:
        for obj in _objects(model):
            kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
            if kind == "sklearn.tree._tree.Tree":
                check_tree(obj)
            elif kind == "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor":
                check_predictor(obj)
            elif hasattr(obj, "_predictors") and hasattr(obj, "n_features_in_"):
                _check_predictor_features(obj)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise InputError(
            f"{path}: not a usable model: {exc}; the file is damaged or was altered, save the model again"
        ) from exc


def check_tree(tree: Any) -> None:
    """A scikit-learn Tree: children inside the tree and after their parent, features in range,
    ``max_depth`` the real depth."""
    count = int(tree.node_count)
    left = np.asarray(tree.children_left)
    right = np.asarray(tree.children_right)
    feature = np.asarray(tree.feature)
    if count < 1 or len(left) < count or len(right) < count or len(feature) < count:
        raise ValueError(f"a decision tree with {count} nodes but shorter node arrays")
    left, right, feature = left[:count], right[:count], feature[:count]
    _check_children(left, right, count, "a decision tree")
    inner = left != TREE_LEAF
    if np.any((feature[inner] < 0) | (feature[inner] >= int(tree.n_features))):
        raise ValueError("a decision tree that splits on a feature it does not have")
    n_classes = np.asarray(tree.n_classes)
    value = np.asarray(tree.value)
    if value.shape[0] < count or (n_classes.size and value.shape[-1] < int(n_classes.max())):
        raise ValueError("a decision tree whose leaf values do not match its nodes")
    if int(tree.max_depth) != _depth(left, right):
        raise ValueError("a decision tree whose recorded depth is not its depth")


def check_predictor(predictor: Any) -> None:
    """A HistGradientBoosting TreePredictor: children inside the tree and after their parent,
    category bitsets that exist."""
    nodes = predictor.nodes
    for field in ("left", "right", "is_leaf", "feature_idx", "is_categorical", "bitset_idx"):
        if nodes.dtype.names is None or field not in nodes.dtype.names:
            raise ValueError("a gradient-boosting tree with an unknown node layout")
    count = len(nodes)
    inner = nodes["is_leaf"] == 0
    left = np.where(inner, nodes["left"].astype(np.int64), TREE_LEAF)
    right = np.where(inner, nodes["right"].astype(np.int64), TREE_LEAF)
    if count < 1:
        raise ValueError("a gradient-boosting tree without nodes")
    _check_children(left, right, count, "a gradient-boosting tree")
    if np.any(nodes["feature_idx"][inner] < 0):
        raise ValueError("a gradient-boosting tree that splits on a negative feature")
    categorical = inner & (nodes["is_categorical"] != 0)
    for name in ("binned_left_cat_bitsets", "raw_left_cat_bitsets"):
        bitsets = getattr(predictor, name)
        if np.any(nodes["bitset_idx"][categorical] >= len(bitsets)):
            raise ValueError("a gradient-boosting tree that uses a category set it does not have")


def _check_predictor_features(estimator: Any) -> None:
    n_features = int(estimator.n_features_in_)
    for stage in estimator._predictors:
        for predictor in stage:
            nodes = predictor.nodes
            inner = nodes["is_leaf"] == 0
            if np.any(nodes["feature_idx"][inner] >= n_features):
                raise ValueError("a gradient-boosting tree that splits on a feature the model does not have")


def _check_children(left: np.ndarray, right: np.ndarray, count: int, what: str) -> None:
    index = np.arange(count)
    leaf = left == TREE_LEAF
    if np.any(leaf != (right == TREE_LEAF)):
        raise ValueError(f"{what} with a node that has only one child")
    inner = ~leaf
    for children in (left, right):
        if np.any((children[inner] <= index[inner]) | (children[inner] >= count)):
            raise ValueError(f"{what} whose node links point outside it or back up")


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    """Depth of a tree whose children always come after their parent."""
    depth = np.zeros(len(left), dtype=np.int64)
    for node in range(len(left)):
        if left[node] != TREE_LEAF:
            depth[left[node]] = depth[right[node]] = depth[node] + 1
    return int(depth.max())


def _objects(root: object) -> Iterator[object]:
    """Every object reachable from ``root`` through containers and instance attributes."""
    seen: set[int] = set()
    stack = [root]
    while stack and len(seen) < _MAX_OBJECTS:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, str | bytes | int | float | bool | type):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                stack.extend(obj.ravel().tolist())
        elif hasattr(obj, "__dict__") and type(obj).__module__.split(".")[0] in (
            "sklearn",
            "xgboost",
            "lightgbm",
        ):
            stack.extend(vars(obj).values())
