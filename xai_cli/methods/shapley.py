"""Interventional Shapley values of a black-box function over groups of columns, in plain numpy.

Written here rather than taken from ``shap.KernelExplainer`` / ``shap.ExactExplainer`` because we need
(a) players that are groups of encoded columns (one raw column = its one-hot block), so a Pipeline is
explained in its raw columns while the encoder runs once, (b) the coalitions of many rows evaluated in
a few large vectorised calls (shap calls the model once per explained row), and (c) exact additivity by
construction for the sampled estimator. The value of a coalition S for row x is
``v(S) = mean_b f(x_S, b_rest)`` over the background rows b.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import factorial

import numpy as np

Evaluate = Callable[[np.ndarray], np.ndarray]

# Cells (rows x encoded columns) of float64 handed to the model in one call: about 48 MB, large enough
# to amortise per-call overhead (measured: sklearn models reach their full rows/s from ~10^4 rows),
# small enough to stay well inside memory next to the model's own temporaries.
EVAL_BATCH_CELLS = 6_000_000


@dataclass
class ShapleyValues:
    """``values[r, i, k]``: attribution of player i for output k on row r; ``base[k] = E_b f(b)``."""

    values: np.ndarray
    base: np.ndarray
    prediction: np.ndarray
    standard_error: np.ndarray | None = None
    permutations: np.ndarray | None = None  # sampled algorithms: orders each row used
    relative_error: np.ndarray | None = None  # and each row's relative standard error (see below)


def player_of_columns(groups: Sequence[np.ndarray], n_columns: int) -> np.ndarray:
    """For each encoded column, the player (group) it belongs to; ``len(groups)`` for none."""
    owner = np.full(n_columns, len(groups), dtype=np.intp)
    for player, columns in enumerate(groups):
        owner[np.asarray(columns, dtype=np.intp)] = player
    return owner


def _column_masks(player_masks: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Player masks (..., M) -> column masks (..., C); a column of no player stays from the background."""
    padded = np.concatenate([player_masks, np.zeros((*player_masks.shape[:-1], 1), dtype=bool)], axis=-1)
    return padded[..., owner]


def _batch_rows(n_columns: int) -> int:
    return max(1, EVAL_BATCH_CELLS // max(1, n_columns))


def coalition_values(
    evaluate: Evaluate,
    rows: np.ndarray,
    background: np.ndarray,
    masks: np.ndarray,
    groups: Sequence[np.ndarray],
) -> np.ndarray:
    """v(S) for every row and player mask: (n_rows, n_masks, K).

    The (row, coalition) pairs of all rows are packed into as few model calls as fit in
    ``EVAL_BATCH_CELLS``, so many small rows share one call and one large row is split over several.
    """
    owner = player_of_columns(groups, background.shape[1])
    column_masks = _column_masks(masks, owner)
    n_background, n_columns = background.shape
    pairs_per_call = max(1, _batch_rows(n_columns) // n_background)
    row_index = np.repeat(np.arange(len(rows)), len(masks))
    mask_index = np.tile(np.arange(len(masks)), len(rows))
    results = []
    for start in range(0, len(row_index), pairs_per_call):
        rows_part = rows[row_index[start : start + pairs_per_call]]
        masks_part = column_masks[mask_index[start : start + pairs_per_call]]
        hybrid = np.where(masks_part[:, None, :], rows_part[:, None, :], background[None, :, :])
        out = evaluate(hybrid.reshape(-1, n_columns))
        results.append(out.reshape(len(rows_part), n_background, -1).mean(axis=1))
    return np.concatenate(results, axis=0).reshape(len(rows), len(masks), -1)


def _exact_weights(n_players: int) -> tuple[np.ndarray, np.ndarray]:
    """All 2^M coalition masks and the (M, 2^M) matrix W with phi = W @ v."""
    codes = np.arange(2**n_players)
    masks = ((codes[:, None] >> np.arange(n_players)[None, :]) & 1).astype(bool)
    sizes = masks.sum(axis=1)
    weight = np.array(
        [factorial(s) * factorial(n_players - s - 1) / factorial(n_players) for s in range(n_players)]
    )
    with_player = weight[np.clip(sizes - 1, 0, n_players - 1)]
    without_player = weight[np.clip(sizes, 0, n_players - 1)]
    matrix = np.where(masks, with_player[:, None], -without_player[:, None]).T
    return masks, matrix


def exact_shapley(
    evaluate: Evaluate, rows: np.ndarray, background: np.ndarray, groups: Sequence[np.ndarray]
) -> ShapleyValues:
    """Exact Shapley values by enumerating all 2^M coalitions of the M groups (M up to ~14)."""
    masks, weights = _exact_weights(len(groups))
    v = coalition_values(evaluate, rows, background, masks, groups)
    values = np.einsum("ms,rsk->rmk", weights, v)
    return ShapleyValues(values, v[0, 0].copy(), v[:, -1].copy())


def additive_shapley(
    evaluate: Evaluate, rows: np.ndarray, background: np.ndarray, groups: Sequence[np.ndarray]
) -> ShapleyValues:
    """Closed form for functions additive over the groups (linear models): phi_i = v({i}) - v({}).

    Exact when f(x) = sum_i h_i(x_i) + c, which holds for a linear model after column-wise encoding.
    """
    n_players = len(groups)
    masks = np.vstack(
        [
            np.zeros((1, n_players), dtype=bool),
            np.eye(n_players, dtype=bool),
            np.ones((1, n_players), dtype=bool),
        ]
    )
    v = coalition_values(evaluate, rows, background, masks, groups)
    return ShapleyValues(v[:, 1:-1] - v[:, :1], v[0, 0].copy(), v[:, -1].copy())


def pairs_per_background_row(n_permutations: int, n_background: int) -> int:
    """Antithetic pairs of orders per background row that ``n_permutations`` orders per row come to."""
    return max(1, round(n_permutations / (2 * n_background)))


# Background rows that get a second antithetic pair in the first round, so that the first round already
# measures the sampling spread: a model with at most pairwise interactions, whose every pair is exact,
# then stops there, at (B + 16) pairs instead of the 2B that two pairs everywhere would cost.
PROBE_BACKGROUND_ROWS = 16
# Each later round asks for the pairs its predicted need comes to, times this margin, and at least
# doubles the row's pairs, so a row takes few rounds (few, large model calls).
ROUND_MARGIN = 1.15
# Float cells of the running sums kept per block of explained rows (rows x background x players x
# outputs x 3): about 64 MB. Rows are explained block by block, so memory does not grow with the rows.
ACCUMULATOR_CELLS = 8_000_000


@dataclass
class _WalkSums:
    """Running sums of the pair means of a block of rows: per (row, background row), their count, and
    the sum and sum of squares of their differences from that group's first pair mean (shifted, so that
    identical pairs, as a pairwise model gives, add up to a spread of exactly zero)."""

    count: np.ndarray  # (R, B)
    shift: np.ndarray  # (R, B, M, K)
    total: np.ndarray  # (R, B, M, K)
    squares: np.ndarray  # (R, B, M, K)

    @classmethod
    def empty(cls, n_rows: int, n_background: int, n_players: int, n_outputs: int) -> _WalkSums:
        shape = (n_rows, n_background, n_players, n_outputs)
        count = np.zeros((n_rows, n_background), dtype=np.int64)
        return cls(count, np.zeros(shape), np.zeros(shape), np.zeros(shape))

    def add(self, groups: np.ndarray, means: np.ndarray, fresh: np.ndarray) -> None:
        """Fold in pair means (U, M, K) whose (row, background row) groups are ``groups`` (flat indices,
        each group's units contiguous); ``fresh[g]`` is True for a group with no pair folded in yet."""
        run_starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        runs = groups[run_starts]
        shift = self.shift.reshape(-1, *self.shift.shape[2:])
        new = fresh[runs]
        shift[runs[new]] = means[run_starts[new]]
        fresh[runs] = False
        offsets = means - shift[groups]
        self.total.reshape(shift.shape)[runs] += np.add.reduceat(offsets, run_starts, axis=0)
        self.squares.reshape(shift.shape)[runs] += np.add.reduceat(offsets * offsets, run_starts, axis=0)

    def estimate(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Row ``row``'s values (M, K): the mean over background rows of each one's mean pair; and the
        standard error of that stratified mean, from the spread of the pairs within each background row
        (a background row with one pair takes the mean spread of those with more). With one pair
        everywhere, the spread across background rows bounds the error from above."""
        count = self.count[row].astype(float)[:, None, None]
        mean_offset = self.total[row] / count
        per_reference = self.shift[row] + mean_offset
        values = per_reference.mean(axis=0)
        n_background = len(count)
        several = self.count[row] >= 2
        if several.any():
            within = np.zeros_like(per_reference)
            within[several] = np.maximum(
                self.squares[row][several] - self.total[row][several] * mean_offset[several], 0.0
            ) / (count[several] - 1)
            within[~several] = within[several].mean(axis=0)
            error = np.sqrt((within / count).sum(axis=0)) / n_background
        elif n_background > 1:
            error = per_reference.std(axis=0, ddof=1) / np.sqrt(n_background)
        else:
            error = np.zeros_like(values)
        return values, error


# Units whose hybrid rows are blended together: 512 units x 30 columns of int64 (~120 KB) stay in the
# CPU cache through the few passes of the blend.
BLEND_UNITS = 512


def walk_hybrids(
    column_rank: np.ndarray, explained: np.ndarray, reference: np.ndarray, out: np.ndarray
) -> None:
    """Fill ``out`` (2, M - 1, U, C) with each unit's walk rows: ``out[0, k - 1, u]`` takes from
    ``explained[u]`` the columns whose player comes before step k (``column_rank[u, c] < k``) and the
    rest from ``reference[u]``; ``out[1, k - 1, u]`` is the reverse walk's step k, the complement of the
    forward coalition of size M - k, i.e. the same choice with the two rows swapped.

    A branch-free blend of the float bits, ``b ^ ((x ^ b) & mask)``, slab by slab of BLEND_UNITS units:
    bit-exact, and about 4x faster than ``np.where`` (whose data-dependent branch mispredicts on random
    masks: measured 8 ns against 2 ns a cell on 30 columns).
    """
    n_steps = out.shape[1]
    out_bits = out.view(np.int64)
    for first in range(0, column_rank.shape[0], BLEND_UNITS):
        part = slice(first, first + BLEND_UNITS)
        x_bits = explained[part].view(np.int64)
        b_bits = reference[part].view(np.int64)
        differ = x_bits ^ b_bits
        rank = column_rank[part]
        chosen = np.empty_like(differ)
        for k in range(1, n_steps + 1):
            np.subtract(rank, k, out=chosen)
            np.right_shift(chosen, 63, out=chosen)  # all ones where rank < k
            np.bitwise_and(chosen, differ, out=chosen)
            np.bitwise_xor(chosen, b_bits, out=out_bits[0, k - 1, part])
            np.bitwise_xor(chosen, x_bits, out=out_bits[1, n_steps - k, part])


class _Walker:
    """Walks sampled orders from background rows to explained rows, in few large model calls.

    A unit is one order, walked from its background row b to its explained row x one player at a time,
    and its reverse walked the same way: 2 (M - 1) model rows (the end points f(b) and f(x) are known).
    """

    def __init__(
        self,
        evaluate: Evaluate,
        rows: np.ndarray,
        background: np.ndarray,
        owner: np.ndarray,
        n_players: int,
        row_out: np.ndarray,
        background_out: np.ndarray,
    ) -> None:
        self.evaluate, self.n_players = evaluate, n_players
        # Contiguous float64 rows, so their bits can be blended.
        self.rows = np.ascontiguousarray(rows, dtype=np.float64)
        self.background = np.ascontiguousarray(background, dtype=np.float64)
        self.row_out, self.background_out = row_out, background_out
        self.owner = owner  # a column of no player has owner n_players, whose rank never is below a step
        self.units_per_call = max(1, _batch_rows(background.shape[1]) // (2 * max(1, n_players - 1)))
        self._buffer: np.ndarray | None = None  # one call's hybrid rows, reused: no new pages to fault in

    def walk(self, forward: np.ndarray, row_of: np.ndarray, reference_of: np.ndarray) -> np.ndarray:
        """Mean contribution of each player over each unit's two walks: (U, M, K)."""
        n_units, n_players = forward.shape
        rank = np.empty((n_units, n_players + 1), dtype=np.int64)
        rank[:, n_players] = n_players
        np.put_along_axis(rank, forward, np.arange(n_players)[None, :], axis=1)  # rank[u, p]: p's step
        n_columns = self.rows.shape[1]
        cells = 2 * (n_players - 1) * n_units * n_columns
        if self._buffer is None or len(self._buffer) < cells:
            self._buffer = np.empty(cells)
        hybrid = self._buffer[:cells].reshape(2, n_players - 1, n_units, n_columns)
        walk_hybrids(rank[:, self.owner], self.rows[row_of], self.background[reference_of], hybrid)
        inner = self.evaluate(hybrid.reshape(-1, n_columns))
        n_outputs = inner.shape[-1]
        inner = inner.reshape(2, n_players - 1, n_units, n_outputs).transpose(2, 0, 1, 3)
        start = np.broadcast_to(
            self.background_out[reference_of][:, None, None, :], (n_units, 2, 1, n_outputs)
        )
        end = np.broadcast_to(self.row_out[row_of][:, None, None, :], (n_units, 2, 1, n_outputs))
        gains = np.diff(np.concatenate([start, inner, end], axis=2), axis=2)  # (U, 2, M, K) by step
        # Player p is added at forward step rank[p] and at reverse step M - 1 - rank[p].
        by_forward_step = (gains[:, 0] + gains[:, 1, ::-1]) / 2
        return np.take_along_axis(by_forward_step, rank[:, :n_players, None], axis=1)


@dataclass
class _RoundRequest:
    """The pairs one explained row asks for in a round, per background row."""

    row: int  # within the block
    rng: np.random.Generator
    pairs: np.ndarray  # (B,)


def _run_round(walker: _Walker, sums: _WalkSums, first_row: int, requests: list[_RoundRequest]) -> None:
    """Draw the requested orders (each row from its own generator, background row by background row),
    walk them in calls of ``walker.units_per_call`` units, and fold each (row, background row)'s pair
    means into ``sums``."""
    n_background = sums.count.shape[1]
    n_players = walker.n_players
    forward_parts, group_parts = [], []
    for request in requests:
        n_units = int(request.pairs.sum())
        forward_parts.append(request.rng.permuted(np.tile(np.arange(n_players), (n_units, 1)), axis=1))
        group_parts.append(request.row * n_background + np.repeat(np.arange(n_background), request.pairs))
    forward, group = np.concatenate(forward_parts), np.concatenate(group_parts)
    fresh = np.zeros(sums.count.size, dtype=bool)
    touched = np.unique(group)
    fresh[touched] = sums.count.ravel()[touched] == 0
    for request in requests:
        sums.count[request.row] += request.pairs
    for start in range(0, len(forward), walker.units_per_call):
        part = slice(start, start + walker.units_per_call)
        here = group[part]
        means = walker.walk(forward[part], first_row + here // n_background, here % n_background)
        sums.add(here, means, fresh)


def _probe_rows(n_background: int) -> np.ndarray:
    """Background rows (spread over the background) that get a second pair in the first round."""
    return np.unique(
        np.linspace(0, n_background - 1, min(n_background, PROBE_BACKGROUND_ROWS)).round()
    ).astype(int)


def _relative_error(values: np.ndarray, error: np.ndarray, floor: np.ndarray, outputs: np.ndarray) -> float:
    """Mean standard error over mean |value| (at least ``floor``), the largest over ``outputs``."""
    worst = 0.0
    for k in outputs:
        mean_error = float(error[:, k].mean())
        if mean_error > 0:
            worst = max(worst, mean_error / max(float(np.abs(values[:, k]).mean()), float(floor[k])))
    return worst


def permutation_shapley(
    evaluate: Evaluate,
    rows: np.ndarray,
    background: np.ndarray,
    groups: Sequence[np.ndarray],
    n_permutations: int,
    seeds: Sequence[int],
    tolerance: float | None = None,
    targets: Sequence[int] | None = None,
) -> ShapleyValues:
    """Antithetic permutation sampling, stratified over the background rows, until precise enough.

    Orders of the players are sampled per explained row x, spread evenly over the background rows, each
    paired with its reverse. Each order is walked from its background row b to x one player at a time:
    one model row per step, the change at each step being that player's marginal contribution in the
    single-reference game ``f(x_S, b_rest)``. The mean over b of these games is the interventional game,
    so the estimate is unbiased; each walk's contributions sum to f(x) - f(b), so it is exactly additive;
    and a pair (order, reverse) is exact for any function with at most pairwise interactions (Mitchell et
    al., "Sampling permutations for Shapley value estimation", JMLR 2022). Cost: ``M - 1`` model rows per
    order, whatever the background size.

    ``n_permutations`` caps the orders per row. With ``tolerance``, each row is sampled in rounds and
    stops as soon as its relative standard error (mean standard error over mean |value| of the
    ``targets[r]`` output, or of every output; the mean is floored at the background's mean absolute
    deviation of the output over M) is at most ``tolerance``: the first round walks one pair per
    background row and a second pair for up to 16 of them, which measures the spread, and each later
    round asks for what the measured spread predicts is still needed. A model with at most pairwise
    interactions stops after the first round, exact. Without ``tolerance``, every row gets the whole
    budget in one round.

    ``standard_error`` is the standard error of the estimate, ``permutations`` the orders each row used
    and ``relative_error`` each row's relative standard error as defined above.
    ``seeds[r]`` seeds row r's orders, so a row's values do not depend on which other rows are explained.
    """
    n_rows, n_players = len(rows), len(groups)
    n_background, n_columns = background.shape
    max_pairs = pairs_per_background_row(n_permutations, n_background)
    owner = player_of_columns(groups, n_columns)
    background_out = evaluate(background)
    row_out = evaluate(rows)
    n_outputs = background_out.shape[1]
    base = background_out.mean(axis=0)
    if n_players == 1:
        values = (row_out - base)[:, None, :]
        zero = np.zeros(n_rows)
        return ShapleyValues(values, base, row_out, np.zeros_like(values), zero.astype(np.int64), zero)
    floor = np.abs(background_out - base).mean(axis=0) / n_players
    walker = _Walker(evaluate, rows, background, owner, n_players, row_out, background_out)
    values = np.zeros((n_rows, n_players, n_outputs))
    errors = np.zeros_like(values)
    used = np.zeros(n_rows, dtype=np.int64)
    relative = np.zeros(n_rows)
    adaptive = tolerance is not None and tolerance > 0 and max_pairs >= 2
    first_pairs = np.full(n_background, 1 if adaptive else max_pairs, dtype=np.int64)
    if adaptive:
        first_pairs[_probe_rows(n_background)] += 1
    block = max(1, ACCUMULATOR_CELLS // (3 * n_background * n_players * n_outputs))
    for first in range(0, n_rows, block):
        block_rows = range(first, min(n_rows, first + block))
        sums = _WalkSums.empty(len(block_rows), n_background, n_players, n_outputs)
        requests = [
            _RoundRequest(i, np.random.default_rng(seeds[r]), first_pairs) for i, r in enumerate(block_rows)
        ]
        while requests:
            _run_round(walker, sums, first, requests)
            next_round = []
            for request in requests:
                i, r = request.row, first + request.row
                used[r] = 2 * int(sums.count[i].sum())
                values[r], errors[r] = sums.estimate(i)
                outputs = np.arange(n_outputs) if targets is None else np.array([targets[r]])
                relative[r] = _relative_error(values[r], errors[r], floor, outputs)
                more = _next_round(relative[r], sums.count[i], max_pairs, tolerance) if adaptive else None
                if more is not None:
                    next_round.append(_RoundRequest(i, request.rng, more))
            requests = next_round
    return ShapleyValues(values, base, row_out, errors, used, relative)


def _next_round(
    relative: float, count: np.ndarray, max_pairs: int, tolerance: float | None
) -> np.ndarray | None:
    """Pairs to add per background row in a row's next round; None when the row is done."""
    if tolerance is None or count.min() >= max_pairs or relative <= tolerance:
        return None
    have = float(count.mean())
    # The standard error falls as 1/sqrt(pairs).
    wanted = int(np.ceil(max(2 * have, have * (relative / tolerance) ** 2 * ROUND_MARGIN)))
    return np.clip(min(wanted, max_pairs) - count, 0, None)
