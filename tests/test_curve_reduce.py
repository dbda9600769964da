"""Keyframe reduction: the kept keys reproduce every sample within the tolerance."""
import numpy as np
import pytest

from faceforge.ml.curve_reduce import reduce_linear


def _max_error(t, v, keep):
    return max(np.abs(np.interp(t, t[keep[:, k]], v[keep[:, k], k]) - v[:, k]).max()
               for k in range(v.shape[1]))


@pytest.mark.parametrize("tol", [1e-4, 1e-3, 1e-2, 0.1])
def test_error_within_tolerance_and_fewer_keys(tol):
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 20, 600))
    v = np.column_stack([np.sin(t * f) for f in (0.3, 1.0, 3.0)]
                        + [np.cumsum(rng.normal(0, 0.01, t.size))])
    keep = reduce_linear(t, v, tol)
    assert keep.shape == v.shape and keep.dtype == bool
    assert keep[[0, -1]].all()
    assert _max_error(t, v, keep) <= tol
    assert keep.sum() < v.size


def test_linear_and_constant_channels_keep_only_ends():
    t = np.linspace(0, 1, 50)
    keep = reduce_linear(t, np.column_stack([2 * t + 1, np.full(50, 0.3)]), 1e-9)
    assert keep.sum(axis=0).tolist() == [2, 2]


def test_zero_tolerance_keeps_every_corner():
    t = np.arange(7.0)
    v = np.array([0, 1, 0, 0, 0, 2, 2], dtype=float)
    assert reduce_linear(t, v, 0.0).tolist() == [True, True, True, False, True, True, True]


def test_one_dimensional_and_tiny_inputs():
    assert reduce_linear([0.0], [5.0], 0.1).tolist() == [True]
    assert reduce_linear([0.0, 1.0], [[1.0, 2.0], [3.0, 4.0]], 0.1).all()


def test_many_equal_peaks():
    """Long periodic curves (many equal peaks) at a full bake's size: the regression case
    for passes piling up when splits land at segment ends."""
    t = np.arange(10_000) / 60
    v = np.sin(t[:, None] * np.linspace(0.5, 5, 52))
    keep = reduce_linear(t, v, 1e-2)
    assert _max_error(t, v, keep) <= 1e-2
    assert keep.sum() < 0.25 * v.size


@pytest.mark.parametrize("args", [
    ([0.0, 1.0], [1.0, np.nan], 0.1),
    ([0.0, 0.0], [1.0, 2.0], 0.1),
    ([0.0, 1.0, 2.0], [1.0, 2.0], 0.1),
    ([0.0, 1.0], [1.0, 2.0], -1.0),
])
def test_bad_input_raises(args):
    with pytest.raises(ValueError):
        reduce_linear(*args)
