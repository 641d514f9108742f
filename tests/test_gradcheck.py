"""The finite-difference checker on functions whose gradients are known."""

import numpy as np
import pytest

from nbengine.gradcheck import (
    GradCheck,
    check_gradients,
    compare,
    numerical_gradient,
    spot_check_gradients,
    spot_entries,
)
from nbengine.testing import assert_close, assert_gradients_pass


def test_numerical_gradient_of_sum_of_cubes():
    p = np.random.default_rng(0).uniform(-2, 2, size=(3, 4))
    g = numerical_gradient(lambda: np.sum(p**3), p)
    assert g.shape == p.shape and g.dtype == np.float64
    assert_close("d/dp sum p^3", g, 3 * p**2, atol=1e-8, rtol=1e-8)


def test_numerical_gradient_restores_the_parameter_exactly():
    p = np.random.default_rng(1).standard_normal(7)
    before = p.copy()
    numerical_gradient(lambda: np.sum(np.sin(p)), p)
    assert np.array_equal(p, before)


def test_numerical_gradient_of_a_zero_dimensional_parameter():
    p = np.array(1.5)
    g = numerical_gradient(lambda: float(p) ** 2, p)
    assert g.shape == ()
    assert abs(float(g) - 3.0) < 1e-8


def test_numerical_gradient_at_some_entries_is_the_whole_gradient_there_in_their_order():
    p = np.random.default_rng(4).uniform(-2, 2, size=(3, 5))
    whole = numerical_gradient(lambda: np.sum(p**3), p)
    entries = np.array([14, 0, 7])
    some = numerical_gradient(lambda: np.sum(p**3), p, entries=entries)
    assert some.shape == (3,)
    assert np.array_equal(some, whole.reshape(-1)[entries])


def test_spot_entries_takes_the_largest_gradients_then_distinct_random_ones():
    g = np.array([[0.1, -5.0, 0.2], [3.0, 0.0, -0.3]])
    picks = spot_entries(g, np.random.default_rng(0), largest=2, random=3)
    assert picks[:2].tolist() == [1, 3]  # |-5| then |3|
    assert len(set(picks[2:].tolist())) == 3 and all(0 <= k < g.size for k in picks)
    assert sorted(spot_entries(g, np.random.default_rng(0), largest=0, random=10).tolist()) == list(
        range(6)
    )


def test_spot_check_catches_a_wrong_gradient_where_it_is_largest():
    rng = np.random.default_rng(5)
    p = rng.uniform(0.5, 2, size=(20, 20))
    right = 3 * p**2
    (ok,) = spot_check_gradients(
        lambda: np.sum(p**3), {"W": p}, {"W": right}, np.random.default_rng(1)
    )
    assert ok.passed and ok.name.startswith("W[") and ok.analytic.shape == (5,)
    wrong = right.copy()
    # one entry off: the largest, which is always checked
    wrong.reshape(-1)[np.argmax(right)] *= 1.01
    (bad,) = spot_check_gradients(
        lambda: np.sum(p**3), {"W": p}, {"W": wrong}, np.random.default_rng(1), largest=1, random=0
    )
    assert not bad.passed


def test_check_gradients_passes_correct_and_fails_wrong_gradients():
    rng = np.random.default_rng(2)
    p = rng.uniform(0.5, 2, size=5)
    q = rng.uniform(0.5, 2, size=5)

    def f():
        return float(np.sum(p**2 * q))

    right = {"p": 2 * p * q, "q": p**2}
    results = check_gradients(f, {"p": p, "q": q}, right)
    assert [r.name for r in results] == ["p", "q"]
    assert all(isinstance(r, GradCheck) for r in results)
    assert all(r.passed for r in results)
    assert max(r.max_rel for r in results) < 1e-8
    assert_gradients_pass(results)

    wrong = {"p": 2 * p * q, "q": 2 * p}  # q's gradient is wrong
    results = check_gradients(f, {"p": p, "q": q}, wrong)
    assert [r.passed for r in results] == [True, False]
    with pytest.raises(AssertionError) as err:
        assert_gradients_pass(results)
    assert "q: max abs" in str(err.value) and "p: max abs" not in str(err.value)


def test_sum_of_cubes_with_a_factor_off_by_one_percent_fails():
    p = np.random.default_rng(3).uniform(-2, 2, size=6)
    (r,) = check_gradients(lambda: np.sum(p**3), {"p": p}, {"p": 1.01 * 3 * p**2})
    assert not r.passed
    assert r.max_rel == pytest.approx(0.01 / 1.01, rel=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64])
def test_non_float64_parameters_are_rejected(dtype):
    p = np.ones(3, dtype)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: float(np.sum(p)), p)
    with pytest.raises(TypeError):
        check_gradients(lambda: float(np.sum(p)), {"p": p}, {"p": np.ones(3)})


def test_parameter_that_cannot_be_flattened_in_place_is_rejected():
    big = np.ones((4, 6))
    p = big[:, :2]
    with pytest.raises(ValueError, match="contiguous"):
        numerical_gradient(lambda: float(np.sum(p**2)), p)


def test_strided_parameter_that_flattens_to_a_view_is_perturbed_in_place():
    big = np.arange(24, dtype=np.float64).reshape(4, 6)
    p = big[:, ::2]  # uniform stride once flattened, so reshape(-1) is a view
    g = numerical_gradient(lambda: float(np.sum(p**2)), p)
    assert_close("2p", g, 2 * p, atol=1e-6)


def test_compare_both_zero_has_zero_relative_error():
    r = compare("z", np.zeros(4), np.zeros(4))
    assert r.max_abs == 0.0 and r.max_rel == 0.0 and r.passed


def test_compare_empty_arrays():
    r = compare("e", np.zeros(0), np.zeros(0))
    assert r.max_abs == 0.0 and r.max_rel == 0.0 and r.passed


def test_compare_relative_error_is_per_entry_over_the_larger_magnitude():
    r = compare("w", np.array([100.0, 1.0]), np.array([100.0, 1.5]))
    assert r.max_abs == pytest.approx(0.5)
    assert r.max_rel == pytest.approx(0.5 / 1.5)
    assert not r.passed
    # symmetric in its two arguments
    s = compare("w", np.array([100.0, 1.5]), np.array([100.0, 1.0]))
    assert (s.max_abs, s.max_rel, s.passed) == (r.max_abs, r.max_rel, r.passed)


def test_compare_tolerances():
    # within rtol
    assert compare("a", np.array([1.0]), np.array([1.0 + 5e-7])).passed
    # beyond rtol
    assert not compare("a", np.array([1.0]), np.array([1.0 + 5e-6])).passed
    assert compare("a", np.array([1.0]), np.array([1.0 + 5e-6]), rtol=1e-5).passed
    # tiny values differ completely in relative terms but are within atol
    r = compare("t", np.array([1e-12]), np.array([0.0]))
    assert r.max_rel == 1.0 and r.max_abs == 1e-12 and r.passed
    assert not compare("t", np.array([1e-12]), np.array([0.0]), atol=0.0).passed
    # one side zero, the other not, beyond atol: relative error 1
    r = compare("t", np.array([0.0, 0.0]), np.array([0.0, 1e-3]))
    assert r.max_rel == 1.0 and not r.passed


def test_compare_nan_fails():
    r = compare("n", np.array([1.0, np.nan]), np.array([1.0, 1.0]))
    assert not r.passed


def test_compare_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        compare("s", np.zeros(3), np.zeros(4))


def test_compare_converts_float32_analytic_to_float64():
    r = compare("f", np.array([0.1], np.float32), np.array([0.1]))
    assert r.analytic.dtype == np.float64
    assert r.max_abs == pytest.approx(abs(float(np.float32(0.1)) - 0.1))
