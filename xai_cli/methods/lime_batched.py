"""lime's tabular algorithm (``LimeTabularExplainer.explain_instance``, quartile discretizer), batched.

lime explains one row per call: ~2M small random draws (M columns), one model call on ``num_samples``
rows and one or two scikit-learn Ridge fits. For a fast model most of its time is that per-row overhead
(profiled: 52% drawing samples, mostly scipy's truncnorm argument checks; 27% the model call; the rest
Ridge fits). Here lime's own fitted explainer supplies every statistic (quartile bins, per-bin means and
standard deviations, bin frequencies, kernel); each row's draws come from the same ``RandomState`` in
the same order as in lime, with scipy's truncated-normal quantile function applied to all rows' draws
at once; the model is called on the samples of many rows together; and the weighted ridge fits are
solved in numpy. The same seed gives the same samples as lime, so the same explanation up to floating
point rounding (tests/test_lime_batched.py compares the two).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]

# Cells (sampled rows x columns) of one batch of rows: bounds the memory of the samples and the model call.
BATCH_CELLS = 1_500_000
# Beyond this many standard deviations a bin's normal probabilities underflow; scipy takes those bins.
TAIL_LIMIT = 30.0
# Threads drawing rows' samples: drawing is numpy and scipy ufunc work, which releases the GIL.
DRAW_THREADS = 2
# lime's 'auto' feature selection: forward selection up to this many features, highest weights beyond.
FORWARD_SELECTION_MAX = 6


@dataclass
class LocalModel:
    """A row's weighted linear model over the binary 'same bin as the row' features."""

    intercept: float
    weights: np.ndarray  # (M,), zero for features the model does not use
    used: np.ndarray  # feature indices in the order lime reports them (strongest first)
    score: float  # weighted R^2 on the samples
    local_prediction: float


class TruncatedNormalBins:
    """Standard normals truncated to [low_k, high_k], one per bin k, sampled by inverse CDF.

    The same quantile function as ``scipy.stats.truncnorm.ppf``, which computes it in log space at ~1 us
    a value: here z = Phi^-1(A_k + B_k u) with A_k, B_k precomputed per bin, i.e. Phi^-1(Phi(low) + u *
    mass) for bins left of 0 and its mirror image through the upper tail for the others, so no precision
    is lost near 1 (the mass is computed on the side where it is small). Bins lying wholly beyond
    TAIL_LIMIT standard deviations, where these probabilities underflow, go to scipy. Agrees with scipy
    to ~1e-15 (tests/test_lime_batched.py).
    """

    def __init__(self, low: np.ndarray, high: np.ndarray) -> None:
        from scipy.special import ndtr

        self.low, self.high = low, high
        left = low < 0
        mass = np.where(left, ndtr(high) - ndtr(low), ndtr(-low) - ndtr(-high))
        self.offset = np.where(left, ndtr(low), ndtr(-high) + mass)
        self.slope = np.where(left, mass, -mass)
        self.sign = np.where(left, 1.0, -1.0)
        self.far = np.where(left, high < -TAIL_LIMIT, low > TAIL_LIMIT)

    def quantile(self, bins: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
        """The ``uniforms`` quantile of each listed bin's truncated normal, in z units."""
        return self.scaled_quantile(bins, uniforms, np.ones_like(self.low), np.zeros_like(self.low))

    def scaled_quantile(
        self, bins: np.ndarray, uniforms: np.ndarray, scale: np.ndarray, shift: np.ndarray
    ) -> np.ndarray:
        """``shift_k + scale_k * quantile``: values of a normal with that mean and standard deviation."""
        from scipy.special import ndtri

        z = ndtri(np.take(self.offset, bins) + np.take(self.slope, bins) * uniforms)
        values = z * np.take(scale * self.sign, bins) + np.take(shift, bins)
        if self.far.any():
            far = np.take(self.far, bins)
            if far.any():
                from scipy.stats import truncnorm

                values[far] = shift[bins[far]] + scale[bins[far]] * truncnorm.ppf(
                    uniforms[far], self.low[bins[far]], self.high[bins[far]]
                )
        return values


@dataclass(frozen=True)
class _Tables:
    """The explainer's fitted statistics as padded arrays.

    Per column: the values ``choice`` draws from and their cumulative frequencies (padded with +inf, so
    a padded entry never counts). Per continuous column and bin, flattened (bin b of the k-th continuous
    column is entry k * width + b): its truncated normal, mean, standard deviation and whether it has
    width at all (lime keeps the lower z-bound where it has not).
    """

    values: np.ndarray  # (M, L)
    cdf: np.ndarray  # (M, L)
    continuous: np.ndarray  # indices of the discretized columns
    width: int
    normal: TruncatedNormalBins
    mean: np.ndarray
    std: np.ndarray
    has_width: np.ndarray
    every_bin_has_width: bool


def _tables(explainer: Any) -> _Tables:
    discretizer = explainer.discretizer
    n_columns = len(explainer.feature_values)
    longest = max(len(explainer.feature_values[c]) for c in range(n_columns))
    values = np.zeros((n_columns, longest))
    cdf = np.full((n_columns, longest), np.inf)
    for c in range(n_columns):
        # numpy's legacy RandomState.choice(values, p=...): cumulative sum, normalised by its last entry.
        cumulative = np.asarray(explainer.feature_frequencies[c], dtype=float).cumsum()
        cdf[c, : len(cumulative)] = cumulative / cumulative[-1]
        values[c, : len(cumulative)] = explainer.feature_values[c]
    continuous = np.array(list(discretizer.means), dtype=int)
    width = max((len(discretizer.means[f]) for f in continuous), default=1)

    def table(source: dict[int, list[float]]) -> np.ndarray:
        out = np.ones((len(continuous), width))
        for k, f in enumerate(continuous):
            out[k, : len(source[f])] = source[f]
        return out.ravel()

    mins, maxs = table(discretizer.mins), table(discretizer.maxs)
    mean, std = table(discretizer.means), table(discretizer.stds)
    low, high = (mins - mean) / std, (maxs - mean) / std
    real = np.zeros((len(continuous), width), dtype=bool)
    for k, f in enumerate(continuous):
        real[k, : len(discretizer.means[f])] = True
    has_width = low != high
    every = bool(has_width[real.ravel()].all())
    normal = TruncatedNormalBins(low, high)
    return _Tables(values, cdf, continuous, width, normal, mean, std, has_width, every)


def _draw(
    tables: _Tables, discretizer: Any, row: np.ndarray, num_samples: int, state: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """lime's ``__data_inverse`` with the discretizer: (binary, inverse), drawn from ``state`` in lime's
    order (one ``choice`` of ``num_samples`` per column, then one truncated normal per continuous column
    for the samples whose bin has width; here as two ``random_sample`` calls, the same stream).
    Works column-major (columns x samples) and returns samples x columns."""
    n_columns = len(row)
    first_row = discretizer.discretize(row)
    uniforms = state.random_sample(n_columns * num_samples).reshape(n_columns, num_samples)
    index = np.zeros((n_columns, num_samples), dtype=np.intp)
    for k in range(tables.cdf.shape[1]):  # searchsorted(cdf, u, 'right') = how many cdf entries <= u
        index += uniforms >= tables.cdf[:, k : k + 1]
    inverse = np.take_along_axis(tables.values, index, axis=1)  # (M, n)
    binary = (inverse == first_row[:, None]).astype(float)
    binary[:, 0] = 1.0
    cont = tables.continuous
    # A discretized column's sampled values are its bin numbers (not always 0..n-1: a bin may be empty).
    bins = inverse[cont, 1:].astype(np.intp) + (np.arange(len(cont)) * tables.width)[:, None]
    if tables.every_bin_has_width:
        uniforms = state.random_sample(bins.size).reshape(bins.shape)
        drawn = tables.normal.scaled_quantile(bins, uniforms, tables.std, tables.mean)
    else:
        width = np.take(tables.has_width, bins)
        picked = bins[width]
        # lime keeps the lower z-bound (not a value) where a bin has no width; so do we.
        drawn = np.take(tables.normal.low, bins)
        uniforms = state.random_sample(len(picked))
        drawn[width] = tables.normal.scaled_quantile(picked, uniforms, tables.std, tables.mean)
    inverse[cont, 1:] = drawn
    inverse[:, 0] = row
    return binary.T, inverse.T


def _centered(
    data: np.ndarray, target: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """scikit-learn Ridge's preprocessing: weighted centering, then rows scaled by sqrt(weight)."""
    data_offset = np.average(data, axis=0, weights=weights)
    target_offset = float(np.average(target, weights=weights))
    root = np.sqrt(weights)
    return (data - data_offset) * root[:, None], (target - target_offset) * root, data_offset, target_offset


def _solve(gram: np.ndarray, moment: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge normal equations (Cholesky, as scikit-learn), least squares if singular."""
    import scipy.linalg

    system = gram + alpha * np.eye(len(gram))
    try:
        return scipy.linalg.solve(system, moment, assume_a="pos")
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        return np.linalg.lstsq(gram, moment, rcond=None)[0]


def _r2(target: np.ndarray, fitted: np.ndarray, weights: np.ndarray) -> float:
    """Weighted R^2 as ``sklearn.metrics.r2_score`` computes it."""
    residual = float(np.sum(weights * (target - fitted) ** 2))
    total = float(np.sum(weights * (target - np.average(target, weights=weights)) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def _select(data: np.ndarray, target: np.ndarray, weights: np.ndarray, num_features: int) -> np.ndarray:
    """lime's 'auto' feature selection (forward selection up to 6 features, else highest weights)."""
    scaled, scaled_target, _, _ = _centered(data, target, weights)
    gram, moment = scaled.T @ scaled, scaled.T @ scaled_target
    if num_features > FORWARD_SELECTION_MAX:
        coef = _solve(gram, moment, 0.01)
        # lime ranks coef * data[0]; the row's own sample is all ones. Stable sort, as lime's sorted().
        return np.argsort(-np.abs(coef * data[0]), kind="stable")[:num_features]
    total = float(scaled_target @ scaled_target)
    used: list[int] = []
    for _ in range(min(num_features, data.shape[1])):
        best, best_score = 0, -100000000.0
        for feature in range(data.shape[1]):
            if feature in used:
                continue
            subset = [*used, feature]
            coef = _solve(gram[np.ix_(subset, subset)], moment[subset], 0.0)
            residual = total - 2 * coef @ moment[subset] + coef @ gram[np.ix_(subset, subset)] @ coef
            score = 1.0 - residual / total if total > 0 else (1.0 if residual <= 0 else 0.0)
            if score > best_score:
                best, best_score = feature, score
        used.append(best)
    return np.array(used)


def fit_local_model(
    data: np.ndarray, target: np.ndarray, weights: np.ndarray, num_features: int
) -> LocalModel:
    """lime's ``explain_instance_with_data``: feature selection, then Ridge(alpha=1) with sample weights."""
    n_features = data.shape[1]
    used = (
        np.arange(n_features) if num_features >= n_features else _select(data, target, weights, num_features)
    )
    chosen = data[:, used]
    scaled, scaled_target, data_offset, target_offset = _centered(chosen, target, weights)
    coef = _solve(scaled.T @ scaled, scaled.T @ scaled_target, 1.0)
    intercept = target_offset - float(data_offset @ coef)
    fitted = chosen @ coef + intercept
    order = np.argsort(-np.abs(coef), kind="stable")
    weights_by_feature = np.zeros(n_features)
    weights_by_feature[used] = coef
    return LocalModel(
        intercept=intercept,
        weights=weights_by_feature,
        used=used[order],
        score=_r2(target, fitted, weights),
        local_prediction=float(intercept + chosen[0] @ coef),
    )


def explain_rows(
    explainer: Any,
    rows: np.ndarray,
    predict: Predict,
    labels: Sequence[int],
    states: Sequence[np.random.RandomState],
    num_samples: int,
    num_features: int,
) -> list[LocalModel]:
    """One local model per row, ``labels[r]`` being the output column fitted for row r.

    Rows go in batches; while the model runs on one batch's samples (in a worker thread: scikit-learn's
    trees, numpy and BLAS release the GIL), two threads draw the next batch's samples (each row from its
    own generator, so in any order the same draws) and this thread fits the previous batch's local
    models. One model call at a time, so a model's own threads are not oversubscribed; every draw and
    fit is the same as in order, so the results are too.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    rows_per_batch = max(1, BATCH_CELLS // (num_samples * max(1, rows.shape[1])))
    tables = _tables(explainer)
    models: list[LocalModel] = []

    def draw(r: int) -> tuple[np.ndarray, np.ndarray]:
        return _draw(tables, explainer.discretizer, rows[r], num_samples, states[r])

    def fit(batch: range, draws: list[tuple[np.ndarray, np.ndarray]], outputs: Future[np.ndarray]) -> None:
        predicted = outputs.result()
        for offset, (r, (binary, _)) in enumerate(zip(batch, draws, strict=True)):
            distances = np.sqrt(binary.shape[1] - binary.sum(axis=1))
            weights = explainer.base.kernel_fn(distances)
            target = predicted[offset * num_samples : (offset + 1) * num_samples, labels[r]]
            models.append(fit_local_model(binary, target, weights, num_features))

    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="xai-lime-model") as model_pool,
        ThreadPoolExecutor(max_workers=DRAW_THREADS, thread_name_prefix="xai-lime-draw") as draw_pool,
    ):
        waiting: tuple[range, list[tuple[np.ndarray, np.ndarray]], Future[np.ndarray]] | None = None
        for start in range(0, len(rows), rows_per_batch):
            batch = range(start, min(len(rows), start + rows_per_batch))
            draws = list(draw_pool.map(draw, batch))
            samples = np.concatenate([inverse for _, inverse in draws])  # C-contiguous copy
            submitted = model_pool.submit(predict, samples)
            if waiting is not None:
                fit(*waiting)
            waiting = (batch, draws, submitted)
        if waiting is not None:
            fit(*waiting)
    return models
