"""Fitting a rig's parameters to a photo's landmarks through the frozen imitator.

The photo's landmarks and the imitator's (projected from the front, after a small head
yaw/pitch that is fitted too but never written to the rig) are compared after the best
similarity transform (scale, in-plane rotation, shift), in units of the photo's
outer-eye-corner distance. Iterative mode: projected gradient descent (Adam steps,
clipped to the limits) from the average face. One-shot mode: a translator MLP from the
aligned landmarks to the parameters in one pass (see translator.py)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .blas import single_thread
from .imitator import Imitator
from .landmarks import FIT_INDICES, LEFT_EYE_OUTER, RIGHT_EYE_OUTER

POSE_LIMIT = 0.6  # radians of head yaw / pitch the fit may assume for the photo
_EYES = (int(np.searchsorted(FIT_INDICES, RIGHT_EYE_OUTER)),
         int(np.searchsorted(FIT_INDICES, LEFT_EYE_OUTER)))


def rotation(yaw: float, pitch: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R = Rz(yaw) @ Rx(pitch) [3, 3] and its derivatives by yaw and by pitch."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1.0]])
    drz = np.array([[-sy, -cy, 0], [cy, -sy, 0], [0, 0, 0.0]])
    rx = np.array([[1.0, 0, 0], [0, cp, -sp], [0, sp, cp]])
    drx = np.array([[0.0, 0, 0], [0, -sp, -cp], [0, cp, -sp]])
    return rz @ rx, drz @ rx, rz @ drx


def project(points: np.ndarray, yaw: float = 0.0, pitch: float = 0.0) -> np.ndarray:
    """[..., K, 3] face-unit points -> [..., K, 2] front-view image points (x right, y down)."""
    r = rotation(yaw, pitch)[0]
    p = points @ r.T
    return np.stack([p[..., 0], -p[..., 2]], axis=-1)


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares s, R [2, 2], t [2] with s R src + t ~ dst (Umeyama, no reflection)."""
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - ms, dst - md
    u, sig, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    rot = u @ np.diag([1.0, d]) @ vt
    s = (sig * np.array([1.0, d])).sum() / max((a * a).sum(), 1e-12)
    return float(s), rot, md - s * rot @ ms


def similarity_batch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Vectorised 2-D similarity: [N, K, 2] src and dst -> [N, K, 2] src mapped onto dst
    (closed form: scale*rotation from the summed dot and cross products)."""
    ms, md = src.mean(axis=1, keepdims=True), dst.mean(axis=1, keepdims=True)
    a, b = src - ms, dst - md
    norm = np.maximum((a * a).sum(axis=(1, 2)), 1e-12)
    c = (a * b).sum(axis=(1, 2)) / norm
    s = (a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]).sum(axis=1) / norm
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)   # [N, 2, 2]
    return a @ rot.transpose(0, 2, 1) + md


def normalise_target(points: np.ndarray) -> np.ndarray:
    """Photo landmarks [478, 2+] (pixels) -> [K, 2] fit landmarks, centred, in units of
    the outer-eye-corner distance."""
    p = np.asarray(points, dtype=np.float64)[FIT_INDICES, :2]
    p = p - p.mean(axis=0)
    return p / max(np.linalg.norm(p[_EYES[1]] - p[_EYES[0]]), 1e-9)


def nme(pred2d: np.ndarray, target2d: np.ndarray) -> float:
    """Mean landmark distance after the best similarity alignment of pred onto target,
    over the target's outer-eye-corner distance."""
    s, r, t = similarity(pred2d, target2d)
    err = np.linalg.norm(pred2d @ (s * r).T + t - target2d, axis=1).mean()
    return float(err / np.linalg.norm(target2d[_EYES[1]] - target2d[_EYES[0]]))


@dataclass
class FitResult:
    """unit [P] parameters in [-1, 1]; yaw, pitch of the photo's head (radians, not written
    to the rig); nme of the imitator's landmarks against the photo's; seconds spent."""
    unit: np.ndarray
    yaw: float
    pitch: float
    nme: float
    seconds: float
    losses: list = field(default_factory=list)


def _loss_grad(imit: Imitator, unit: np.ndarray, yaw: float, pitch: float,
               target: np.ndarray) -> tuple[float, np.ndarray, float, float]:
    """Aligned squared landmark error and its gradients w.r.t. unit [P], yaw, pitch."""
    pts = imit.landmarks(unit[None])[0].astype(np.float64)             # [K, 3]
    r, dr_yaw, dr_pitch = rotation(yaw, pitch)
    q = pts @ r.T
    pred = np.stack([q[:, 0], -q[:, 2]], axis=1)
    s, rot, t = similarity(pred, target)
    res = pred @ (s * rot).T + t - target                             # [K, 2]
    k = len(target)
    loss = float((res * res).sum() / k)
    g2 = 2.0 / k * res @ (s * rot)                                     # d loss / d pred
    gq = np.zeros_like(q)
    gq[:, 0], gq[:, 2] = g2[:, 0], -g2[:, 1]
    g_pts = gq @ r
    g_yaw = float((gq * (pts @ dr_yaw.T)).sum())
    g_pitch = float((gq * (pts @ dr_pitch.T)).sum())
    g_unit = imit.backward(g_pts[None].astype(np.float32))[0].astype(np.float64)
    return loss, g_unit, g_yaw, g_pitch


# Weight of the statistical prior (squared unit-parameter distance from the average face;
# the parameters are drawn independently and uniformly, so the whitening is a per-channel
# scale): the lowest identity NME on renders apart from the evaluation's, parameter RMSE
# within a point of the best (`python -m lab.fit.probe_observable`).
PRIOR = 3e-5


def fit_iterative(imit: Imitator, target: np.ndarray, *, method: str = "gauss-newton",
                  **options) -> FitResult:
    """The iterative fit with one BLAS thread (see blas.py): damped Gauss-Newton on the
    imitator's exact Jacobian with the statistical prior (default), or the projected Adam
    descent (`method="adam"`)."""
    with single_thread():
        if method == "adam":
            return fit_iterative_steps(imit, target, **options)
        return fit_gauss_newton(imit, target, **options)


def _residual(imit: Imitator, x: np.ndarray, target: np.ndarray, jac: bool):
    """Residual [K*2] of the imitator's landmarks at x = [unit.., yaw, pitch] aligned onto
    target [K, 2] (best similarity) and, with `jac`, its Jacobian [K*2, P+2] at that
    alignment (held fixed: the envelope theorem makes the gradient exact), both whitened
    by the imitator's detector-noise whitening when it has one."""
    unit, yaw, pitch = x[:-2], x[-2], x[-1]
    pts = imit.landmarks(unit[None])[0].astype(np.float64)             # [K, 3]
    r, dr_yaw, dr_pitch = rotation(yaw, pitch)
    q = pts @ r.T
    pred = np.stack([q[:, 0], -q[:, 2]], axis=1)
    s, rot, t = similarity(pred, target)
    res = (pred @ (s * rot).T + t - target).ravel()
    w = imit.whiten
    if not jac:
        return (res if w is None else w @ res), None
    ju = np.einsum("kcp,dc->kdp", imit.jacobian(unit), r)              # [K, 3, P] rotated
    jp = np.concatenate([ju, (pts @ dr_yaw.T)[..., None], (pts @ dr_pitch.T)[..., None]], -1)
    jpred = np.stack([jp[:, 0], -jp[:, 2]], axis=1)                    # [K, 2, P+2]
    j = np.einsum("de,kep->kdp", s * rot, jpred).reshape(len(res), -1)
    return (res, j) if w is None else (w @ res, w @ j)


def noise_whitening(residuals: np.ndarray, shrink: float = 0.5) -> np.ndarray:
    """[N, K, 2] residuals of the detector against the imitator (at the true parameters
    and head pose, over viewing conditions) -> W [K*2, K*2] with W^T W the inverse of
    their covariance, shrunk by `shrink` towards its mean variance, and scaled so that an
    isotropic residual keeps its energy (the prior's weight keeps its meaning). The fit
    then trusts less the directions light, expression and head turn move the detector's
    landmarks along (generalised least squares)."""
    r = residuals.reshape(len(residuals), -1)
    cov = np.cov(r.T)
    mean_var = np.trace(cov) / len(cov)
    vals, vecs = np.linalg.eigh((1 - shrink) * cov + shrink * mean_var * np.eye(len(cov)))
    return vecs @ np.diag(np.sqrt(mean_var / vals)) @ vecs.T


def nuisance_whitening(residuals: np.ndarray, rank: int) -> np.ndarray:
    """[N, K, 2] residuals of the detector against the imitator (as noise_whitening) ->
    W [K*2, K*2] that shrinks only the `rank` directions of largest spread (head turn,
    light, expression) down to the mean spread of the others and leaves every other
    direction as it is. Unlike the full whitening it never gives more weight to a direction
    the renders happened to leave still (a real face may differ from the renders there)."""
    r = residuals.reshape(len(residuals), -1)
    vals, vecs = np.linalg.eigh(np.cov(r.T))
    vals, vecs = vals[::-1], vecs[:, ::-1]
    floor = vals[rank:].mean()
    top = vecs[:, :rank]
    gain = np.sqrt(np.minimum(floor / np.maximum(vals[:rank], 1e-30), 1.0))
    return np.eye(len(vals)) + top @ np.diag(gain - 1.0) @ top.T


def fit_gauss_newton(imit: Imitator, target: np.ndarray, *, start: np.ndarray | None = None,
                     iterations: int = 40, prior: float = PRIOR, fit_pose: bool = True,
                     tol: float = 1e-9) -> FitResult:
    """Levenberg-Marquardt on [unit params, yaw, pitch] minimising the mean squared aligned
    landmark error plus `prior` x the squared distance to the average face (a Gaussian
    prior: channels the landmarks hardly see stay near the average instead of drifting
    to a limit), each step clipped to the limits (projected)."""
    t0 = time.perf_counter()
    p = imit.n_params
    x0 = np.concatenate([imit.rest_unit, [0.0, 0.0]])
    x = x0.copy()
    if start is not None:
        x[:p] = start
    limit = np.concatenate([np.ones(p), np.full(2, POSE_LIMIT if fit_pose else 0.0)])
    x = np.clip(x, -limit, limit)
    lam = np.full(p + 2, prior)
    k = len(target)

    def energy(res, x):
        return float(res @ res / k + (lam * (x - x0) ** 2).sum())

    res, jac = _residual(imit, x, target, True)
    e = energy(res, x)
    losses, mu = [e], 1e-3
    for _ in range(iterations):
        a = jac.T @ jac / k + np.diag(lam)
        g = jac.T @ res / k + lam * (x - x0)
        if not fit_pose:
            a[-2:, :], a[:, -2:], g[-2:] = 0.0, 0.0, 0.0
            a[-2:, -2:] = np.eye(2)
        improved = False
        for _ in range(8):
            step = np.linalg.solve(a + mu * np.diag(np.diag(a) + 1e-9), -g)
            x_new = np.clip(x + step, -limit, limit)
            res_new, _ = _residual(imit, x_new, target, False)
            e_new = energy(res_new, x_new)
            if e_new < e:
                improved = True
                break
            mu *= 4.0
        if not improved:
            break
        done = e - e_new < tol * max(e, 1e-12)
        x, e, mu = x_new, e_new, max(mu / 3.0, 1e-7)
        losses.append(e)
        res, jac = _residual(imit, x, target, True)
        if done:
            break
    pred = project(imit.landmarks(x[None, :-2])[0], x[-2], x[-1])
    return FitResult(x[:-2].copy(), float(x[-2]), float(x[-1]), nme(pred, target),
                     time.perf_counter() - t0, losses)


def fit_iterative_steps(imit: Imitator, target: np.ndarray, *, start: np.ndarray | None = None,
                        steps: int = 200, lr: float = 0.1, prior: float = 1e-6,
                        fit_pose: bool = True) -> FitResult:
    """Projected gradient descent (Adam) on [unit params, yaw, pitch] through the frozen
    imitator against target [K, 2] (normalise_target), from `start` (default: the average
    face) within the limits; `prior` pulls gently toward the average face."""
    t0 = time.perf_counter()
    x = np.zeros(imit.n_params + 2)
    x[:imit.n_params] = imit.rest_unit if start is None else start
    m, v = np.zeros_like(x), np.zeros_like(x)
    b1, b2 = 0.9, 0.999
    limit = np.concatenate([np.ones(imit.n_params), np.full(2, POSE_LIMIT if fit_pose else 0.0)])
    losses = []
    for i in range(1, steps + 1):
        loss, gu, gy, gp = _loss_grad(imit, x[:-2], x[-2], x[-1], target)
        off = x[:-2] - imit.rest_unit
        g = np.concatenate([gu + 2 * prior * off, [gy, gp]])
        losses.append(loss + prior * float(off @ off))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        step_lr = lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * i / steps)))
        x -= step_lr * (m / (1 - b1 ** i)) / (np.sqrt(v / (1 - b2 ** i)) + 1e-8)
        x = np.clip(x, -limit, limit)                                 # the projection
    pred = project(imit.landmarks(x[None, :-2])[0], x[-2], x[-1])
    return FitResult(x[:-2].copy(), float(x[-2]), float(x[-1]), nme(pred, target),
                     time.perf_counter() - t0, losses)


def average_face_nme(imit: Imitator, target: np.ndarray) -> float:
    """NME of the average face (all parameters at rest, frontal) against target [K, 2]."""
    return nme(project(imit.landmarks(imit.rest_unit[None])[0]), target)
