"""The lane kernels' arithmetic and layout: exp, log and softmaxes against libm, the skewed tables by hand."""
import math

import numpy as np
import pytest
from numba import njit

from bench.align._lanes import (
    EXP_MIN,
    diagonal_span,
    exp_nonpositive,
    from_lanes,
    lane_table,
    log_1_to_4,
    softmax2,
    softmax3,
    softmax_with_zero,
    to_lanes,
)


@njit
def _exp_all(x):
    return np.array([exp_nonpositive(v) for v in x])


@njit
def _log_all(s):
    return np.array([log_1_to_4(v) for v in s])


@njit
def _softmax_all(args, which):
    out = np.empty((len(args), 4))
    for r in range(len(args)):
        a, b, c = args[r]
        if which == 2:
            out[r, 0], out[r, 1], out[r, 2] = softmax2(a, b)
            out[r, 3] = 0.0
        elif which == 3:
            out[r] = softmax3(a, b, c)
        else:
            out[r] = softmax_with_zero(a, b, c)
    return out


def test_exp_matches_libm_to_a_few_ulp():
    rng = np.random.default_rng(0)
    x = np.concatenate([-rng.random(20000) * 708, -rng.random(5000) * 1e-3, [0.0, -0.0, EXP_MIN, -1e-300,
                                                                            -math.log(2) / 2, -math.log(2)]])
    want = np.exp(x)
    got = _exp_all(x)
    assert got[x == 0].tolist() == [1.0, 1.0]  # exact: the largest softmax term must weigh exactly 1
    np.testing.assert_allclose(got, want, rtol=8e-16, atol=0)


def test_exp_below_the_range_is_zero_and_nan_stays_nan():
    got = _exp_all(np.array([-708.5, -745.0, -1e300, -np.inf, np.nan]))
    assert got[:4].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert math.isnan(got[4])


def test_log_matches_libm_on_one_to_four():
    rng = np.random.default_rng(1)
    s = np.concatenate([1 + 3 * rng.random(20000), [1.0, 1.5, np.nextafter(1.5, 2), 2.0, 3.0, 3.0000001, 4.0]])
    np.testing.assert_allclose(_log_all(s), np.log(s), rtol=0, atol=4.5e-16)
    assert _log_all(np.array([1.0]))[0] == 0.0
    assert math.isnan(_log_all(np.array([np.nan]))[0])


def _direct_softmax(args):
    """(lse, weights...) by the formula, with libm."""
    args = np.asarray(args, dtype=float)
    top = args.max()
    total = np.exp(args - top).sum()
    lse = top + math.log(total)
    return lse, np.exp(args - lse)


@pytest.mark.parametrize("which", [2, 3, 4])
def test_softmaxes_equal_the_direct_formula(which):
    rng = np.random.default_rng(which)
    args = rng.normal(0, 3, (3000, 3))
    # ties, equal to the zero term, far apart, and -inf (never all of them)
    args[:50, 1] = args[:50, 0]
    args[50:100, 2] = args[50:100, 0]
    args[100:150] = 0.0
    args[150:200, 0] = -1e4
    args[200:250, 1] = -np.inf
    args[250:300, 0] = -np.inf
    args[250:300, 2] = -np.inf if which != 2 else args[250:300, 2]
    got = _softmax_all(args, which)
    for r in range(len(args)):
        inputs = {2: args[r, :2], 3: args[r], 4: np.concatenate([[0.0], args[r]])}[which]
        lse, weights = _direct_softmax(inputs)
        weights = weights[1:] if which == 4 else weights
        np.testing.assert_allclose(got[r, 0], lse, rtol=1e-15, atol=1e-15)
        np.testing.assert_allclose(got[r, 1:1 + len(weights)], weights, rtol=1e-14, atol=1e-300)


def test_largest_softmax_term_weighs_one_before_normalising():
    # equal arguments: exactly uniform weights, whatever the order of the comparisons
    got = _softmax_all(np.array([[2.5, 2.5, 2.5]]), 3)[0]
    assert got[1:].tolist() == [1 / 3] * 3
    got = _softmax_all(np.array([[0.0, 0.0, 0.0]]), 4)[0]
    assert got[1:].tolist() == [0.25] * 3


def test_diagonal_span_by_hand():
    # a 3 x 2 table, 2 lanes: diagonal 2 is cell (1, 1), 3 is (1, 2), (2, 1), 5 is (3, 2)
    assert diagonal_span(2, 3, 2, 2) == (2, 4)
    assert diagonal_span(3, 3, 2, 2) == (2, 6)
    assert diagonal_span(4, 3, 2, 2) == (4, 8)
    assert diagonal_span(5, 3, 2, 2) == (6, 8)


def test_to_lanes_and_back_by_hand():
    values = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    values[1, 2, :] = np.nan  # past pair 1's rows
    lengths_x, lengths_y = np.array([3, 2]), np.array([2, 2])
    table = lane_table(3, 2, 2)
    to_lanes(values, lengths_x, lengths_y, 10.0, -7.0, table)
    assert table.shape == (3 + 2 + 3, 3 + 2, 2)
    assert table[2, 1].tolist() == [0.0, 60.0]  # cell (1, 1) of both pairs
    assert table[3, 1].tolist() == [10.0, 70.0]  # cell (1, 2)
    assert table[3, 2].tolist() == [20.0, 80.0]  # cell (2, 1)
    assert table[5, 3].tolist() == [50.0, -7.0]  # cell (3, 2): padding for pair 1
    out = np.empty((2, 3, 2))
    from_lanes(table, lengths_x, lengths_y, np.array([0.1, 1.0]), -1.0, out)
    want = np.where(np.isnan(values), -1.0, values * np.array([1.0, 10.0])[:, None, None])
    np.testing.assert_allclose(out, want)
