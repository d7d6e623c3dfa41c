"""How far two global-importance rankings moved: rank correlation, top-k changes, largest change."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImportanceDrift:
    """The comparison of a base and a new global importance over the same columns."""

    rank_correlation: float
    top_k: int
    top_base: list[str]
    top_new: list[str]
    entered: list[str]
    left: list[str]
    largest_change_feature: str
    largest_change_base: float
    largest_change_new: float

    @property
    def top_k_changes(self) -> int:
        """Columns that left the top k (as many entered)."""
        return len(self.left)

    @property
    def largest_change(self) -> float:
        """New minus base mean |attribution| of the column that moved most."""
        return self.largest_change_new - self.largest_change_base

    def as_json(self) -> dict[str, Any]:
        """The comparison as it appears in ``xai diff --format json``."""
        return {
            "rank_correlation": self.rank_correlation,
            "top_k": self.top_k,
            "top_k_base": self.top_base,
            "top_k_new": self.top_new,
            "entered_top_k": self.entered,
            "left_top_k": self.left,
            "top_k_changes": self.top_k_changes,
            "largest_change": {
                "feature": self.largest_change_feature,
                "base": self.largest_change_base,
                "new": self.largest_change_new,
                "change": self.largest_change,
            },
        }


def ranked(importance: dict[str, float]) -> list[str]:
    """Columns strongest first; ties keep the report's order."""
    order = list(importance)
    return sorted(order, key=lambda name: (-importance[name], order.index(name)))


def compare_importance(base: dict[str, float], new: dict[str, float], top_k: int) -> ImportanceDrift:
    """Compare two global importances over the same set of columns (the caller checks the sets match).

    ``rank_correlation`` is Spearman's rho of the two importance vectors (ties get average ranks). When a
    vector is constant rho is undefined: it is 1.0 if both are constant (nothing moved) and 0.0 if only
    one is (the ranking appeared or vanished), so a gate on it fails safe.
    """
    from scipy.stats import spearmanr

    names = list(base)
    base_values = [float(base[name]) for name in names]
    new_values = [float(new[name]) for name in names]
    base_constant = len(set(base_values)) <= 1
    new_constant = len(set(new_values)) <= 1
    if base_constant or new_constant:
        correlation = 1.0 if base_constant and new_constant else 0.0
    else:
        correlation = float(spearmanr(base_values, new_values).statistic)
        if math.isnan(correlation):
            correlation = 0.0
    k = min(top_k, len(names))
    top_base, top_new = ranked(base)[:k], ranked(new)[:k]
    changes = {name: abs(new[name] - base[name]) for name in names}
    moved = max(names, key=lambda name: (changes[name], -names.index(name)))
    return ImportanceDrift(
        rank_correlation=correlation,
        top_k=k,
        top_base=top_base,
        top_new=top_new,
        entered=[name for name in top_new if name not in top_base],
        left=[name for name in top_base if name not in top_new],
        largest_change_feature=moved,
        largest_change_base=float(base[moved]),
        largest_change_new=float(new[moved]),
    )
