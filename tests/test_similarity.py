"""Decomposition similarity (Figure 2), component splits (Tables 12-13) and pseudo-Fisher cosines (Table 11)."""
import numpy as np
import pytest

from npeff.analysis.similarity import (abs_cosine_pairs, cosine_matrix, decomposition_similarity, match_splits,
                                       predicted_tuning, preserved_tuning)


def test_similarity_is_one_for_a_permuted_rescaled_copy_and_symmetric():
    rng = np.random.default_rng(0)
    W = rng.random((50, 6))
    copy = W[:, rng.permutation(6)] * rng.uniform(0.5, 3.0, size=6)
    assert decomposition_similarity(W, copy) == pytest.approx(1.0)
    other = rng.random((50, 4))
    assert decomposition_similarity(W, other) == pytest.approx(decomposition_similarity(other, W))
    assert decomposition_similarity(W, other) < 1.0


def test_similarity_matches_a_brute_force_loop():
    rng = np.random.default_rng(1)
    A, B = rng.random((30, 3)), rng.random((30, 5))

    def cos(a, b):
        return a @ b / np.linalg.norm(a) / np.linalg.norm(b)

    best = [max(cos(A[:, i], B[:, j]) for j in range(5)) for i in range(3)]
    best += [max(cos(A[:, i], B[:, j]) for i in range(3)) for j in range(5)]
    assert decomposition_similarity(A, B) == pytest.approx(np.mean(best))
    np.testing.assert_allclose(cosine_matrix(A, B)[1, 2], cos(A[:, 1], B[:, 2]))


def test_planted_splits_are_matched_to_their_parent():
    """Fine components that each cover half of a coarse component's examples map back to it."""
    m = 80
    coarse = np.zeros((m, 2))
    coarse[:40, 0], coarse[40:, 1] = 1.0, 1.0
    fine = np.zeros((m, 4))
    for j, rows in enumerate([slice(0, 20), slice(20, 40), slice(40, 60), slice(60, 80)]):
        fine[rows, j] = 1.0
    np.testing.assert_array_equal(match_splits(coarse, fine), [0, 0, 1, 1])


def test_preserved_tuning_counts_fine_matches_that_keep_the_prediction():
    m, k = 80, 8
    preds = np.zeros(m, dtype=int)
    preds[40:] = 1
    preds[60:] = 2  # the second coarse component's top examples are mixed only when it reaches past 60
    coarse = np.zeros((m, 2))
    coarse[:40, 0] = np.linspace(2, 1, 40)
    coarse[40:, 1] = np.linspace(2, 1, 40)
    fine = np.zeros((m, 4))
    for j, rows in enumerate([slice(0, 20), slice(20, 40), slice(40, 60), slice(60, 80)]):
        fine[rows, j] = np.linspace(2, 1, 20)
    np.testing.assert_array_equal(predicted_tuning(coarse, preds, k), [0, 1])
    np.testing.assert_array_equal(predicted_tuning(fine, preds, k), [0, 0, 1, 2])
    result = preserved_tuning(coarse, fine, preds, k)
    # fine 0, 1 keep prediction 0; fine 2 keeps 1; fine 3 is tuned to 2 although its parent is tuned to 1
    assert (result["n_matches"], result["n_preserved"]) == (4, 3)
    assert result["percent"] == pytest.approx(75.0)


def test_abs_cosine_pairs_are_the_upper_triangle():
    H = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]])
    np.testing.assert_allclose(sorted(abs_cosine_pairs(H)), sorted([0.0, 1 / np.sqrt(2), 1 / np.sqrt(2)]))
    assert abs_cosine_pairs(np.random.default_rng(0).normal(size=(6, 10))).shape == (15,)
