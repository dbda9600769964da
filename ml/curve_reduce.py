"""Keyframe reduction for linearly interpolated curves under an absolute error tolerance.

Pure numpy, so the bake can drop redundant keys before anything reaches Blender.
"""
from __future__ import annotations

import numpy as np


def reduce_linear(times, values, tol: float) -> np.ndarray:
    """Boolean mask [T, K] of the samples to keep as keys (a [T] values array gives [T]).

    Linear interpolation through the kept samples of each channel stays within `tol` of
    every original sample; the first and last samples are always kept. A balanced
    Douglas-Peucker run on all channels and segments at once: each pass splits every
    segment that has samples off by more than `tol` at its worst one.
    """
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    single = v.ndim == 1
    v = np.ascontiguousarray(np.atleast_2d(v.T))  # [K, T]: each channel's samples contiguous
    k, n = v.shape
    if t.shape != (n,):
        raise ValueError(f"times has shape {t.shape}, expected ({n},) to match values")
    if not (np.isfinite(t).all() and np.isfinite(v).all()):
        raise ValueError("times and values must be finite")
    if n == 0:
        raise ValueError("no samples to reduce")
    if not (np.diff(t) > 0).all():
        raise ValueError("times must be strictly increasing")
    if tol < 0:
        raise ValueError(f"tolerance must be >= 0, got {tol}")

    keep = np.zeros((k, n), dtype=bool)
    keep[:, [0, -1]] = True
    flat_keep = keep.reshape(-1)  # a view: setting it sets keep
    cols = np.broadcast_to(np.arange(n), (k, n))
    while True:
        prev = np.maximum.accumulate(np.where(keep, cols, 0), axis=1)
        nxt = np.minimum.accumulate(np.where(keep, cols, n - 1)[:, ::-1], axis=1)[:, ::-1]
        t0, t1 = t[prev], t[nxt]
        v0 = np.take_along_axis(v, prev, axis=1)
        v1 = np.take_along_axis(v, nxt, axis=1)
        span = t1 - t0
        frac = np.divide(t - t0, span, out=np.zeros_like(span), where=span > 0)
        err = np.abs(v0 + (v1 - v0) * frac - v).reshape(-1)
        bad = err > tol
        if not bad.any():
            break
        # Prefer the worst sample of a segment's middle half: splits stay balanced, so the
        # pass count stays near log2(T) even on curves with many equal peaks.
        central = ((frac >= 0.25) & (frac <= 0.75)).reshape(-1) & bad
        score = err + central * err.max()
        # Segments are the runs starting at each kept sample in the flattened [K, T] layout
        # (every channel starts with a kept sample, so no run crosses channels).
        starts = np.flatnonzero(flat_keep)
        seg_max = np.maximum.reduceat(score, starts)
        seg_max = np.repeat(seg_max, np.diff(np.append(starts, err.size)))
        hits = np.flatnonzero((score == seg_max) & bad)
        seg = np.cumsum(flat_keep)[hits]
        first = np.concatenate(([True], seg[1:] != seg[:-1]))  # one key per segment
        flat_keep[hits[first]] = True
    return keep[0] if single else keep.T
