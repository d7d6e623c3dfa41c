"""The Shapley engine against brute force and closed forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from xai_cli.methods.shapley import additive_shapley, exact_shapley, permutation_shapley

RNG = np.random.default_rng(0)
M = 5
WEIGHTS = RNG.normal(size=M)
PAIRS = RNG.normal(size=(M, M))
ROWS = RNG.normal(size=(3, M))
BACKGROUND = RNG.normal(size=(9, M))
GROUPS = [np.array([i]) for i in range(M)]


def higher_order(Z: np.ndarray) -> np.ndarray:
    return (np.sin(Z) @ WEIGHTS + np.prod(Z[:, :3], axis=1))[:, None]


def pairwise(Z: np.ndarray) -> np.ndarray:
    return (Z @ WEIGHTS + np.einsum("ni,ij,nj->n", Z, PAIRS, Z))[:, None]


def linear(Z: np.ndarray) -> np.ndarray:
    return np.stack([Z @ WEIGHTS + 1.0, -(Z @ WEIGHTS)], axis=1)


def brute_force(function, x: np.ndarray) -> np.ndarray:
    def value(coalition: tuple[int, ...]) -> float:
        mixed = BACKGROUND.copy()
        mixed[:, list(coalition)] = x[list(coalition)]
        return float(function(mixed)[:, 0].mean())

    phi = np.zeros(M)
    for i in range(M):
        others = [j for j in range(M) if j != i]
        for size in range(M):
            weight = math.factorial(size) * math.factorial(M - size - 1) / math.factorial(M)
            for subset in itertools.combinations(others, size):
                phi[i] += weight * (value((*subset, i)) - value(subset))
    return phi


def test_exact_equals_brute_force() -> None:
    result = exact_shapley(higher_order, ROWS, BACKGROUND, GROUPS)
    expected = np.stack([brute_force(higher_order, x) for x in ROWS])
    np.testing.assert_allclose(result.values[:, :, 0], expected, atol=1e-12)
    np.testing.assert_allclose(result.base, higher_order(BACKGROUND).mean(axis=0))


def test_one_antithetic_pair_is_exact_for_pairwise_interactions() -> None:
    result = permutation_shapley(pairwise, ROWS, BACKGROUND, GROUPS, n_permutations=2, seeds=[1, 2, 3])
    expected = np.stack([brute_force(pairwise, x) for x in ROWS])
    np.testing.assert_allclose(result.values[:, :, 0], expected, atol=1e-10)


def test_permutation_is_additive_and_converges() -> None:
    result = permutation_shapley(higher_order, ROWS, BACKGROUND, GROUPS, n_permutations=400, seeds=[1, 2, 3])
    np.testing.assert_allclose(result.values.sum(axis=1) + result.base, result.prediction, atol=1e-12)
    expected = np.stack([brute_force(higher_order, x) for x in ROWS])
    error = np.abs(result.values[:, :, 0] - expected)
    assert error.max() < 4 * result.standard_error[:, :, 0].max() + 1e-9


def test_permutation_is_deterministic_per_seed() -> None:
    a = permutation_shapley(higher_order, ROWS, BACKGROUND, GROUPS, 16, seeds=[5, 6, 7])
    b = permutation_shapley(higher_order, ROWS[1:], BACKGROUND, GROUPS, 16, seeds=[6, 7])
    np.testing.assert_array_equal(a.values[1:], b.values)


def test_additive_closed_form_on_a_linear_function() -> None:
    result = additive_shapley(linear, ROWS, BACKGROUND, GROUPS)
    exact = exact_shapley(linear, ROWS, BACKGROUND, GROUPS)
    np.testing.assert_allclose(result.values, exact.values, atol=1e-12)
    np.testing.assert_allclose(result.values[:, :, 0], WEIGHTS * (ROWS - BACKGROUND.mean(axis=0)), atol=1e-12)


@pytest.mark.parametrize("engine", [exact_shapley, additive_shapley])
def test_grouped_columns_act_as_one_player(engine) -> None:
    """Two encoded columns of one raw column move together: its Shapley value covers both."""
    groups = [np.array([0, 1]), np.array([2]), np.array([3, 4])]
    result = engine(linear, ROWS, BACKGROUND, groups)
    per_column = WEIGHTS * (ROWS - BACKGROUND.mean(axis=0))
    np.testing.assert_allclose(result.values[:, 0, 0], per_column[:, 0] + per_column[:, 1], atol=1e-12)


def pairwise_closed_form(
    weights: np.ndarray, pairs: np.ndarray, rows: np.ndarray, background: np.ndarray
) -> np.ndarray:
    """Interventional Shapley values of f(z) = w.z + 1/2 z'Az (A symmetric, zero diagonal).

    Per background row b the term a_ij z_i z_j is a two-player game whose Shapley split gives player i
    a_ij/2 [(x_i b_j - b_i b_j) + (x_i x_j - b_i x_j)]; the mean over b is the interventional value.
    """
    mean_b = background.mean(axis=0)
    second = background.T @ background / len(background)  # E[b_i b_j]
    phi = weights * (rows - mean_b)
    for r, x in enumerate(rows):
        terms = np.outer(x, x) - second + np.outer(x, mean_b) - np.outer(mean_b, x)
        phi[r] += 0.5 * (pairs * terms).sum(axis=1)
    return phi


def quadratic(weights: np.ndarray, pairs: np.ndarray):
    def f(Z: np.ndarray) -> np.ndarray:
        return (Z @ weights + 0.5 * np.einsum("ni,ij,nj->n", Z, pairs, Z))[:, None]

    return f


def symmetric_pairs(rng: np.random.Generator, n: int) -> np.ndarray:
    upper = np.triu(rng.normal(size=(n, n)), 1)
    return upper + upper.T


def test_pairwise_closed_form_equals_exact_enumeration() -> None:
    rng = np.random.default_rng(4)
    n = 8
    weights, pairs = rng.normal(size=n), symmetric_pairs(rng, n)
    rows, background = rng.normal(size=(3, n)), rng.normal(size=(11, n))
    groups = [np.array([i]) for i in range(n)]
    exact = exact_shapley(quadratic(weights, pairs), rows, background, groups)
    expected = pairwise_closed_form(weights, pairs, rows, background)
    np.testing.assert_allclose(exact.values[:, :, 0], expected, atol=1e-10)


def test_permutation_is_exact_on_30_columns_with_pairwise_interactions() -> None:
    """An antithetic pair per background row already gives the exact values of a pairwise model; with
    two pairs per background row the standard error (their spread) says so."""
    rng = np.random.default_rng(5)
    n = 30
    weights, pairs = rng.normal(size=n), symmetric_pairs(rng, n)
    rows, background = rng.normal(size=(4, n)), rng.normal(size=(20, n))
    groups = [np.array([i]) for i in range(n)]
    f, expected = quadratic(weights, pairs), pairwise_closed_form(weights, pairs, rows, background)
    one_pair = permutation_shapley(f, rows, background, groups, 40, seeds=[1, 2, 3, 4])
    np.testing.assert_allclose(one_pair.values[:, :, 0], expected, atol=1e-9)
    two_pairs = permutation_shapley(f, rows, background, groups, 80, seeds=[1, 2, 3, 4])
    np.testing.assert_allclose(two_pairs.values[:, :, 0], expected, atol=1e-9)
    np.testing.assert_allclose(two_pairs.standard_error, 0.0, atol=1e-9)


def test_batching_does_not_change_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows packed into one model call, or one row split over many calls: the same values."""
    import xai_cli.methods.shapley as shapley

    seeds = [5, 6, 7]
    whole = permutation_shapley(higher_order, ROWS, BACKGROUND, GROUPS, 36, seeds)
    exact_whole = exact_shapley(higher_order, ROWS, BACKGROUND, GROUPS)
    calls: list[int] = []

    def counted(Z: np.ndarray) -> np.ndarray:
        calls.append(len(Z))
        return higher_order(Z)

    monkeypatch.setattr(shapley, "EVAL_BATCH_CELLS", 7 * M)  # 7 model rows per call
    split = permutation_shapley(counted, ROWS, BACKGROUND, GROUPS, 36, seeds)
    assert max(calls[2:]) <= 8 and len(calls) > 3 * 18  # each row's 18 pairs went over several calls
    np.testing.assert_allclose(split.values, whole.values, atol=1e-14)
    np.testing.assert_allclose(split.standard_error, whole.standard_error, atol=1e-14)
    exact_split = exact_shapley(higher_order, ROWS, BACKGROUND, GROUPS)
    np.testing.assert_allclose(exact_split.values, exact_whole.values, atol=1e-14)


def test_standard_error_predicts_the_error_on_12_columns() -> None:
    """Against exact enumeration of a function with high-order interactions, the reported standard
    error is the size of the actual error (within a factor that a 3-row sample allows)."""
    rng = np.random.default_rng(6)
    n = 12
    weights = rng.normal(size=n)
    rows, background = rng.normal(size=(3, n)), rng.normal(size=(6, n))

    def f(Z: np.ndarray) -> np.ndarray:
        # Each row's sum on its own: BLAS's Z @ weights rounds a row differently with the batch around it
        # (OpenBLAS's Haswell kernel), and the tests below compare rows explained in different batches.
        return np.tanh((Z * weights).sum(axis=1) + Z[:, 0] * Z[:, 1] * Z[:, 2])[:, None]

    groups = [np.array([i]) for i in range(n)]
    exact = exact_shapley(f, rows, background, groups).values[:, :, 0]
    result = permutation_shapley(f, rows, background, groups, 240, seeds=[1, 2, 3])
    error = np.abs(result.values[:, :, 0] - exact)
    standard_error = result.standard_error[:, :, 0]
    assert error.mean() < 2.0 * standard_error.mean()
    assert error.max() < 5.0 * standard_error.max()
    np.testing.assert_allclose(result.values.sum(axis=1) + result.base, result.prediction, atol=1e-12)


def test_tolerance_stops_a_pairwise_model_after_the_first_round() -> None:
    """With a tolerance, a pairwise model's first round (one pair per background row, a second for up
    to 16 of them) already shows no spread: every row stops there, exact, far below its budget."""
    rng = np.random.default_rng(8)
    n = 30
    weights, pairs = rng.normal(size=n), symmetric_pairs(rng, n)
    rows, background = rng.normal(size=(3, n)), rng.normal(size=(40, n))
    groups = [np.array([i]) for i in range(n)]
    f, expected = quadratic(weights, pairs), pairwise_closed_form(weights, pairs, rows, background)
    result = permutation_shapley(f, rows, background, groups, 4000, seeds=[1, 2, 3], tolerance=0.01)
    np.testing.assert_allclose(result.values[:, :, 0], expected, atol=1e-9)
    np.testing.assert_allclose(result.standard_error, 0.0, atol=1e-12)
    assert result.permutations.tolist() == [2 * (40 + 16)] * 3


def tanh_model(n: int, seed: int):
    weights = np.random.default_rng(seed).normal(size=n)

    def f(Z: np.ndarray) -> np.ndarray:
        # Each row's sum on its own: BLAS's Z @ weights rounds a row differently with the batch around it
        # (OpenBLAS's Haswell kernel), and the tests below compare rows explained in different batches.
        return np.tanh((Z * weights).sum(axis=1) + Z[:, 0] * Z[:, 1] * Z[:, 2])[:, None]

    return f


def test_tolerance_is_met_and_the_error_agrees_with_it() -> None:
    """A model with high-order interactions over 12 columns: each row samples until its relative
    standard error is at most the tolerance, within its budget, and against exact enumeration the
    error is of the size the standard error says."""
    rng = np.random.default_rng(6)
    n = 12
    f = tanh_model(n, 6)
    rows, background = rng.normal(size=(3, n)), rng.normal(size=(6, n))
    groups = [np.array([i]) for i in range(n)]
    exact = exact_shapley(f, rows, background, groups).values[:, :, 0]
    result = permutation_shapley(f, rows, background, groups, 100_000, seeds=[1, 2, 3], tolerance=0.02)
    values, errors = result.values[:, :, 0], result.standard_error[:, :, 0]
    relative = errors.mean(axis=1) / np.abs(values).mean(axis=1)
    assert (relative <= 0.02).all()
    assert (result.permutations < 100_000).all() and (result.permutations > 2 * (6 + 6)).all()
    error = np.abs(values - exact)
    assert error.mean() < 2.0 * errors.mean()
    assert error.mean() / np.abs(exact).mean() < 0.04


def test_a_looser_tolerance_costs_fewer_orders_and_the_budget_caps_them() -> None:
    rng = np.random.default_rng(9)
    n = 12
    f = tanh_model(n, 9)
    rows, background = rng.normal(size=(4, n)), rng.normal(size=(8, n))
    groups = [np.array([i]) for i in range(n)]
    seeds = [1, 2, 3, 4]
    tight = permutation_shapley(f, rows, background, groups, 50_000, seeds, tolerance=0.01)
    loose = permutation_shapley(f, rows, background, groups, 50_000, seeds, tolerance=0.05)
    assert (loose.permutations < tight.permutations).all()
    capped = permutation_shapley(f, rows, background, groups, 160, seeds, tolerance=0.001)
    assert (capped.permutations <= 160).all() and (capped.permutations > 100).all()


def test_adaptive_rows_do_not_depend_on_each_other_or_on_batching(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each row's rounds depend on its own samples alone: explaining it with other rows, in tiny model
    calls, or in blocks of one row gives the same values and the same number of orders."""
    import xai_cli.methods.shapley as shapley

    rng = np.random.default_rng(10)
    n = 12
    f = tanh_model(n, 10)
    rows, background = rng.normal(size=(3, n)), rng.normal(size=(5, n))
    groups = [np.array([i]) for i in range(n)]
    whole = permutation_shapley(f, rows, background, groups, 5000, [4, 5, 6], tolerance=0.03)
    alone = permutation_shapley(f, rows[1:2], background, groups, 5000, [5], tolerance=0.03)
    np.testing.assert_array_equal(alone.values[0], whole.values[1])
    assert alone.permutations[0] == whole.permutations[1]
    monkeypatch.setattr(shapley, "EVAL_BATCH_CELLS", 5 * n)
    monkeypatch.setattr(shapley, "ACCUMULATOR_CELLS", 1)
    split = permutation_shapley(f, rows, background, groups, 5000, [4, 5, 6], tolerance=0.03)
    np.testing.assert_allclose(split.values, whole.values, atol=1e-14)
    np.testing.assert_array_equal(split.permutations, whole.permutations)


def test_walk_rows_equal_a_plain_selection_with_grouped_and_unowned_columns() -> None:
    """The bit-blended walk rows are exactly what np.where would pick, for players owning several
    columns and for a column that belongs to no player (it keeps the background's value)."""
    from xai_cli.methods.shapley import walk_hybrids

    rng = np.random.default_rng(11)
    n_units, n_players = 700, 4  # more units than one blend slab
    owner = np.array([0, 0, 1, 2, 4, 3, 3])  # column 4 has no player
    rank = rng.permuted(np.tile(np.arange(n_players), (n_units, 1)), axis=1)
    column_rank = np.concatenate([rank, np.full((n_units, 1), n_players)], axis=1)[:, owner]
    explained = rng.normal(size=(n_units, len(owner)))
    reference = rng.normal(size=(n_units, len(owner)))
    reference[:, 2] = -0.0  # signed zeros and equal values survive the bit blend
    explained[:5, 2] = 0.0
    out = np.empty((2, n_players - 1, n_units, len(owner)))
    walk_hybrids(column_rank, explained, reference, out)
    for k in range(1, n_players):
        forward = column_rank < k
        np.testing.assert_array_equal(out[0, k - 1], np.where(forward, explained, reference))
        reverse = column_rank < n_players - k
        np.testing.assert_array_equal(out[1, k - 1], np.where(reverse, reference, explained))
    assert np.signbit(out[0, 0, :, 2]).any() and (out[0, :, :, 4] == reference[:, 4]).all()


def test_a_row_short_of_its_tolerance_spends_its_whole_budget() -> None:
    """Two pairs per background row allowed: the first round gives the probed rows their second pair,
    the next round the others theirs, so every row ends on exactly its budget."""
    rng = np.random.default_rng(13)
    n = 12
    f = tanh_model(n, 13)
    rows, background = rng.normal(size=(2, n)), rng.normal(size=(40, n))
    groups = [np.array([i]) for i in range(n)]
    result = permutation_shapley(f, rows, background, groups, 4 * 40, [1, 2], tolerance=1e-6)
    assert result.permutations.tolist() == [4 * 40, 4 * 40]
