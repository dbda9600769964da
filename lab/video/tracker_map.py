"""What MediaPipe reports on renders, as a low-capacity correction of the analytic landmark
model: fitted on frame-by-frame pairs of analytic and tracked landmarks of the same clips
in the pose-aligned frame (lab/video/fit_tracker_map.py), applied to every bound head
of a family when training. The motion fits work on clip-centred data; the clip means
inform the neutral (`fit_neutral_gain`) and the per-clip offsets of the noise.

- `fit_gain`: the share of the expression motion the tracker reports (one number).
- `fit_correction`: tracked - analytic ~ sum_j r_j(t) B_j for regressors r: the 52 weights
  (a per-shape correction basis seen in combinations and at all weights, on top of the
  weight-1 response) and optionally `face_model.pose_terms` (a pose-dependent bias).
- `fit_linear_map`: tracked ~ analytic M, a ridge linear map of the whole landmark
  configuration shrunk toward the identity (the tracker's own shape space).
- `fit_residual_noise`: what the map leaves is strongly correlated across landmarks (a few
  components carry most of it); its leading components become low-rank AR(1) noise for
  the synthetic clips, the rest independent per-landmark noise (`synth.Noise`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .face_model import LandmarkModel


def clip_means(x: np.ndarray, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(means [C,D] of the flattened rows of x [N,...] per clip, each row's clip index [N])
    for clip labels [N]."""
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    ids, inv = np.unique(clips, return_inverse=True)
    sums = np.zeros((len(ids), flat.shape[1]))
    np.add.at(sums, inv, flat)
    return sums / np.bincount(inv)[:, None], inv


def centre(x: np.ndarray, clips: np.ndarray) -> np.ndarray:
    """Rows of x [N,...] minus the mean of their clip (clips [N] int labels)."""
    means, inv = clip_means(x, clips)
    return (np.asarray(x, dtype=np.float64).reshape(len(x), -1) - means[inv]).reshape(np.shape(x))


def ridge_fit(x: np.ndarray, y: np.ndarray, ridge: float, per_column: bool = True) -> np.ndarray:
    """B [D,P] minimising |y - x B|^2 + ridge N |S B|^2 for centred x [N,D] and y [N,P],
    S = diag(std of each column of x) (one strength suits regressors of any scale), or
    with `per_column` False, their RMS std (isotropic: columns that barely move, such as
    stable landmarks, get no licence for large coefficients)."""
    std = x.std(axis=0)
    scale = np.maximum(std if per_column else np.full_like(std, np.sqrt((std ** 2).mean())), 1e-12)
    xs = x / scale
    gram = xs.T @ xs + ridge * len(x) * np.eye(x.shape[1])
    return np.linalg.solve(gram, xs.T @ y) / scale[:, None]


def fit_correction(regressors: np.ndarray, analytic: np.ndarray, tracked: np.ndarray,
                   clips: np.ndarray, ridge: float) -> np.ndarray:
    """[N,D] regressors, [N,L,3] aligned analytic and tracked landmarks, [N] clip labels ->
    basis [D,L,3] with tracked - analytic ~ regressors @ B (+ a per-clip constant)."""
    resid = centre(tracked - analytic, clips).reshape(len(regressors), -1)
    b = ridge_fit(centre(regressors, clips), resid, ridge)
    return b.reshape(regressors.shape[1], *analytic.shape[1:]).astype(np.float32)


def fit_gain(analytic: np.ndarray, tracked: np.ndarray, clips: np.ndarray) -> np.float32:
    """[N,L,3] aligned analytic and tracked landmarks -> the least-squares scalar g with
    the clip-centred tracked ~ g analytic: the share of all expression motion MediaPipe reports."""
    a, t = centre(analytic, clips), centre(tracked, clips)
    return np.float32((a * t).sum() / (a * a).sum())


def fit_linear_map(analytic: np.ndarray, tracked: np.ndarray, clips: np.ndarray,
                   ridge: float) -> np.ndarray:
    """[N,L,3] aligned analytic and tracked landmarks -> M [3L,3L] with the clip-centred
    tracked ~ analytic @ M, shrunk toward the identity (ridge on M - I)."""
    a = centre(analytic, clips).reshape(len(analytic), -1)
    t = centre(tracked, clips).reshape(len(tracked), -1)
    return (np.eye(a.shape[1]) + ridge_fit(a, t - a, ridge, per_column=False)).astype(np.float32)


def _lag_one(x: np.ndarray, clips: np.ndarray, pooled: bool = False) -> np.ndarray:
    """Lag-one autocorrelation within clips of each column of clip-centred x [N,D], or
    of all columns together."""
    same = clips[1:] == clips[:-1]
    axis = None if pooled else 0
    return (x[1:][same] * x[:-1][same]).sum(axis) / np.maximum((x * x).sum(axis), 1e-30)


def fit_residual_noise(resid: np.ndarray, clips: np.ndarray, components: int) -> dict[str, np.ndarray]:
    """[N,L,3] residuals (tracked - mapped, in face heights), [N] clip labels -> noise
    model: per-landmark std of the clip offsets `offset` [L]; `basis` [K,L,3], the leading
    principal components of the clip-centred residual scaled by their std, with their
    lag-one correlations `basis_rho` [K]; per-landmark std `jitter` [L] and lag-one
    correlation `rho` of what the components leave."""
    n, shape = len(resid), resid.shape[1:]
    means, _ = clip_means(resid, clips)
    cen = centre(resid, clips).reshape(n, -1)
    _, sv, vt = np.linalg.svd(cen, full_matrices=False)
    vt, std = vt[:components], sv[:components] / np.sqrt(n)
    scores = cen @ vt.T
    rest = cen - scores @ vt
    offsets = (means - means.mean(0)).reshape(len(means), *shape)
    return dict(offset=np.sqrt((offsets ** 2).mean((0, 2))),
                basis=(std[:, None] * vt).reshape(components, *shape),
                basis_rho=_lag_one(scores, clips),
                jitter=np.sqrt((rest.reshape(n, *shape) ** 2).mean((0, 2))),
                rho=float(_lag_one(rest, clips, pooled=True)))


def fit_neutral_gain(neutral: np.ndarray, tracked: np.ndarray) -> np.ndarray:
    """[C,L,3] per-clip aligned analytic neutral means and tracked means with the
    expressions' mean motion removed -> gain [3] per axis: how much of the identities'
    differences from their mean the tracker keeps (it pulls faces toward its own)."""
    dn, dt = neutral - neutral.mean(0), tracked - tracked.mean(0)
    return ((dn * dt).sum((0, 1)) / np.maximum((dn * dn).sum((0, 1)), 1e-30)).astype(np.float32)


def apply_map(model: LandmarkModel, terms: dict[str, np.ndarray]) -> LandmarkModel:
    """The model as the tracker reports it, for one family's fitted `terms` (any subset):
    deltas mapped (delta @ `linear`), scaled (x `gain`) and corrected (+ `shape` [52,478,3]), the pose bias
    `pose` [9,478,3], and the neutral pulled toward the tracker's: `neutral_target` +
    `neutral_gain` [3] * (neutral - `neutral_ref`), the family's mean neutral (head frame)."""
    deltas, neutral = model.deltas, model.neutral
    if "linear" in terms:
        deltas = (deltas.reshape(len(deltas), -1) @ terms["linear"]).reshape(deltas.shape)
    if "gain" in terms:
        deltas = deltas * terms["gain"]
    if "shape" in terms:
        deltas = deltas + terms["shape"]
    if "neutral_target" in terms:
        neutral = terms["neutral_target"] + terms["neutral_gain"] * (neutral - terms["neutral_ref"])
    return LandmarkModel(neutral.astype(np.float32), deltas.astype(np.float32), terms.get("pose"))


def family_terms(fitted: dict[str, np.ndarray], family: str) -> dict[str, np.ndarray]:
    """`{family}.{term}` entries of a fitted map -> {term: array}."""
    return {k.split(".", 1)[1]: v for k, v in fitted.items() if k.startswith(family + ".")}


def load_tracker_map(path: Path) -> dict[str, np.ndarray]:
    """The fitted map and noise (`{family}.{term}` for apply_map, `noise.*` for
    synth.load_noise), or {} when lab/video/fit_tracker_map.py has not written it."""
    if not Path(path).exists():
        return {}
    with np.load(path) as z:
        return {k: z[k] for k in z.files if "." in k}
