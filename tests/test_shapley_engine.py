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
