"""Deletion and insertion curves (Petsiuk et al., RISE, 2018): does the map rank the pixels that matter?

Pixels are taken in the order of the map, most important first. Deletion replaces them with black in
``steps`` equal stages and follows the target's probability down; insertion pastes them into a blurred
copy of the image and follows it up. Each curve's area (x from 0 to 1) is its AUC: a faithful map has a
low deletion AUC and a high insertion AUC. The same curves for a random ranking of the pixels give the
baseline to compare with (``random_deletion_auc``, ``random_insertion_auc``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from xai_cli.methods.perturbation import broadcast_mask, spatial_size

Scores = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Faithfulness:
    """AUCs of one image's deletion and insertion curves, for its map and for a random ranking."""

    deletion_auc: float
    insertion_auc: float
    random_deletion_auc: float
    random_insertion_auc: float

    def as_dict(self) -> dict[str, float]:
        """JSON-ready, rounded to 6 decimals."""
        return {
            "deletion_auc": round(self.deletion_auc, 6),
            "insertion_auc": round(self.insertion_auc, 6),
            "random_deletion_auc": round(self.random_deletion_auc, 6),
            "random_insertion_auc": round(self.random_insertion_auc, 6),
        }


def curve_inputs(
    one_input: np.ndarray, start: np.ndarray, end: np.ndarray, order: np.ndarray, steps: int, layout: str
) -> np.ndarray:
    """Inputs (steps + 1) that move from ``start`` to ``end`` pixel by pixel in ``order``.

    Stage ``j`` holds ``end`` at the first ``round(j / steps * n_pixels)`` pixels of ``order`` and
    ``start`` elsewhere.
    """
    height, width = spatial_size(one_input, layout)
    n_pixels = height * width
    rank = np.empty(n_pixels, dtype=np.int64)
    rank[order] = np.arange(n_pixels)
    counts = np.round(np.linspace(0, n_pixels, steps + 1)).astype(np.int64)
    masks = rank.reshape(1, height, width) < counts.reshape(-1, 1, 1)
    return np.where(broadcast_mask(masks, layout), end[None], start[None]).astype(one_input.dtype)


def area(curve: np.ndarray) -> float:
    """Trapezoid area under a curve sampled at equal steps over x in [0, 1]."""
    return float((curve[:-1] + curve[1:]).sum() / (2.0 * (len(curve) - 1)))


def deletion_insertion(
    probability: Scores,
    one_input: np.ndarray,
    saliency: np.ndarray,
    black: np.ndarray,
    blurred_input: np.ndarray,
    layout: str,
    steps: int,
    rng: np.random.Generator,
) -> Faithfulness:
    """The four AUCs of one image. ``probability(batch)`` gives the target's probability per input."""
    order = np.argsort(-saliency.reshape(-1), kind="stable")
    random_order = rng.permutation(order.size)
    black_input = np.broadcast_to(black, one_input.shape).astype(one_input.dtype)
    curves = []
    for ranking in (order, random_order):
        curves.append(curve_inputs(one_input, one_input, black_input, ranking, steps, layout))
        curves.append(curve_inputs(one_input, blurred_input, one_input, ranking, steps, layout))
    values = probability(np.concatenate(curves)).reshape(4, steps + 1)
    return Faithfulness(
        deletion_auc=area(values[0]),
        insertion_auc=area(values[1]),
        random_deletion_auc=area(values[2]),
        random_insertion_auc=area(values[3]),
    )
