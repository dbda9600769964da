"""Pose, scale and identity normalisation of MediaPipe landmarks for the FACS regressor:
landmarks -> a metric frame (X right, Y away from the camera, Z up, image-height units),
a weighted similarity fit to a canonical neutral template (head rotation, scale,
position), and the aligned shape relative to the template and to a causal running
neutral of the clip. Shared by training (torch), the numpy runtime and the baseline."""
from __future__ import annotations

import numpy as np

FEATURE_SCALE = 100.0   # template metres -> centimetres: feature values of order one
NEUTRAL_PRIOR = 15.0    # frames of template weight in the running neutral


def to_metric(landmarks: np.ndarray, aspect: float) -> np.ndarray:
    """[...,478,3] MediaPipe-normalised (x, y down, z toward the back on x's scale) ->
    points in image-height units, X right, Y away from the camera, Z up."""
    x, y, z = np.moveaxis(landmarks, -1, 0)
    return np.stack([(x - 0.5) * aspect, z * aspect, 0.5 - y], axis=-1)


def similarity(points: np.ndarray, template: np.ndarray, weights: np.ndarray):
    """Per-frame (R [T,3,3], s [T], t [T,3]) with points ~ s R template + t, fitted on the
    weighted (stable) landmarks (Umeyama); reflections excluded."""
    w = weights / weights.sum()
    pc = w @ template
    qc = np.tensordot(points, w, axes=([1], [0]))            # [T,3]
    p0, q0 = template - pc, points - qc[:, None]
    s = np.sqrt((q0 ** 2).sum(-1) @ w / (w @ (p0 ** 2).sum(-1)))
    # [T,3,3] template x points covariance, one GEMM over all frames
    cov = np.tensordot(q0, w[:, None] * p0, axes=([1], [0])).transpose(0, 2, 1)
    u, _, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(np.matmul(u, vt)))
    vt[:, -1] *= np.where(d == 0, 1.0, d)[:, None]
    rot = np.matmul(vt.transpose(0, 2, 1), u.transpose(0, 2, 1))  # V diag(1,1,d) U^T
    t = qc - s[:, None] * np.matmul(rot, pc)
    return rot, s, t


def align(points: np.ndarray, rot, s, t) -> np.ndarray:
    """Undo the similarity: [T,478,3] points in the template's frame and units."""
    return np.matmul(points - t[:, None], rot) / s[:, None, None]


def running_neutral(aligned: np.ndarray, template: np.ndarray,
                    prior: float = NEUTRAL_PRIOR, carry: dict | None = None) -> np.ndarray:
    """Causal neutral estimate [T,478,3]: the mean aligned shape of frames <= t, started
    from the template with `prior` frames' weight (the clip's average face). `carry`
    ({"sum", "count"} of the frames before these, updated) continues a clip given in
    chunks, with the same result as the whole clip at once."""
    before = carry.get("sum", 0.0) if carry is not None else 0.0
    seen = carry.get("count", 0) if carry is not None else 0
    count = seen + np.arange(1, len(aligned) + 1, dtype=np.float64)[:, None, None]
    out = (prior * template + before + np.cumsum(aligned, axis=0)) / (prior + count)
    if carry is not None:
        carry["sum"], carry["count"] = before + aligned.sum(axis=0), seen + len(aligned)
    return out


def frame_features(landmarks: np.ndarray, aspect: float, template: np.ndarray,
                   stable: np.ndarray, subset: np.ndarray,
                   carry: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """[T,478,3] landmarks -> (features [T, 2*len(subset)*3 + 3] float32, head rotation
    [T,3,3]) with the landmarks of `subset` (indices) in the shape features.
    Features: the aligned shape minus the template, minus the running neutral, and the
    head's image position and log scale (perspective cues for the rotation). `carry`: the
    running neutral's state when a clip comes in chunks (running_neutral)."""
    pts = to_metric(np.asarray(landmarks, dtype=np.float64), aspect)
    rot, s, t = similarity(pts, template, stable)
    aligned = align(pts[:, subset], rot, s, t)
    ref = template[subset]
    n = len(aligned)
    feats = np.concatenate([
        ((aligned - ref) * FEATURE_SCALE).reshape(n, -1),
        ((aligned - running_neutral(aligned, ref, carry=carry)) * FEATURE_SCALE).reshape(n, -1),
        np.stack([t[:, 0] * 4, t[:, 2] * 4, np.log(s)], axis=1)], axis=1)
    return feats.astype(np.float32), rot
