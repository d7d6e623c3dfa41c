"""Model-agnostic pieces that only run the model: occlusion maps, and masking inputs in the model's layout.

Occlusion is written here in numpy rather than taken from captum: it is the method for ONNX models,
which run without torch (a dependency of hundreds of MB that onnxruntime users need not install), and
it is a short loop: slide a window of the black baseline over the image and record how far the target's
score falls, averaged over the windows that cover each pixel (Zeiler & Fergus, 2014).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Scores = Callable[[np.ndarray], np.ndarray]


def spatial_axes(layout: str) -> tuple[int, int]:
    """Axes of height and width in one input (without the batch axis)."""
    return (1, 2) if layout == "NCHW" else (0, 1)


def spatial_size(one_input: np.ndarray, layout: str) -> tuple[int, int]:
    """(height, width) of one input in its layout."""
    height_axis, width_axis = spatial_axes(layout)
    return int(one_input.shape[height_axis]), int(one_input.shape[width_axis])


def broadcast_mask(mask: np.ndarray, layout: str) -> np.ndarray:
    """A (..., H, W) spatial mask broadcastable against inputs laid out as ``layout``."""
    return mask[..., None, :, :] if layout == "NCHW" else mask[..., :, :, None]


def window_positions(length: int, window: int, stride: int) -> list[int]:
    """Start offsets of a window sliding over ``length`` cells, the last one flush with the end."""
    starts = list(range(0, max(length - window, 0) + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


def occlusion(
    scores: Scores,
    one_input: np.ndarray,
    fill: np.ndarray,
    layout: str,
    window: tuple[int, int],
    stride: tuple[int, int],
    batch_size: int,
) -> np.ndarray:
    """The occlusion map (H, W) of one input: mean drop of the score over the windows covering a pixel.

    ``scores(batch)`` returns the target's score for each input of a batch; ``fill`` is the baseline
    (broadcastable to one input) that a window is replaced with.
    """
    height, width = spatial_size(one_input, layout)
    window_h, window_w = min(window[0], height), min(window[1], width)
    cells = [
        (top, left)
        for top in window_positions(height, window_h, stride[0])
        for left in window_positions(width, window_w, stride[1])
    ]
    base = float(scores(one_input[None])[0])
    total = np.zeros((height, width), dtype=np.float64)
    count = np.zeros((height, width), dtype=np.float64)
    filled = np.broadcast_to(fill, one_input.shape).astype(one_input.dtype)
    for start in range(0, len(cells), batch_size):
        chunk = cells[start : start + batch_size]
        masks = np.zeros((len(chunk), height, width), dtype=bool)
        for k, (top, left) in enumerate(chunk):
            masks[k, top : top + window_h, left : left + window_w] = True
        perturbed = np.where(broadcast_mask(masks, layout), filled[None], one_input[None])
        drops = base - scores(perturbed)
        total += np.tensordot(drops, masks, axes=1)
        count += masks.sum(axis=0)
    return (total / np.maximum(count, 1.0)).astype(np.float32)


def blurred(batch: np.ndarray, layout: str) -> np.ndarray:
    """Each input blurred over its height and width (Gaussian, sigma = 1/16 of the smaller side)."""
    from scipy.ndimage import gaussian_filter

    height, width = spatial_size(batch[0], layout)
    sigma = max(1.0, min(height, width) / 16.0)
    sigmas = (0.0, 0.0, sigma, sigma) if layout == "NCHW" else (0.0, sigma, sigma, 0.0)
    return gaussian_filter(batch.astype(np.float32), sigma=sigmas, mode="nearest").astype(np.float32)
