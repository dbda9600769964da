"""Can the fit tell the rig's channels apart? The imitator's Jacobian at the average face
(frontal projection, the similarity directions - shift, scale, in-plane turn - removed,
because the fit aligns them away): per channel, how far a full-range move shifts the
landmarks (RMS over the fit landmarks, eye distances; a channel below the detector's
spread cannot be seen), how much of that move the other channels can reproduce (R^2 of
its column on the others: near 1, the fit lands anywhere along a ridge), the most
collinear pairs and the singular values.

    python -m lab.fit.probe_identifiability [--models DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from faceforge.ml.fit import solve
from faceforge.ml.fit.imitator import Imitator


def frontal_jacobian(imit: Imitator) -> np.ndarray:
    """[2K, P] Jacobian of the frontal landmarks by a full-range move of each channel
    (unit parameters span 2), at the average face, similarity directions projected out."""
    pts = solve.project(imit.landmarks(imit.rest_unit[None])[0])           # [K, 2]
    j = imit.jacobian(imit.rest_unit)                                       # [K, 3, P]
    j2 = 2.0 * np.stack([j[:, 0], -j[:, 2]], axis=1).reshape(-1, j.shape[-1])
    k = len(pts)
    basis = np.stack([np.tile([1.0, 0.0], k), np.tile([0.0, 1.0], k), pts.ravel(),
                      np.stack([-pts[:, 1], pts[:, 0]], axis=1).ravel()], axis=1)
    q, _ = np.linalg.qr(basis)
    return j2 - q @ (q.T @ j2)


def identifiability(imit: Imitator, names: list[str]) -> dict:
    jac = frontal_jacobian(imit)
    k = jac.shape[0] // 2
    effect = np.linalg.norm(jac, axis=0) / np.sqrt(k)                      # RMS per landmark
    unit_cols = jac / np.maximum(np.linalg.norm(jac, axis=0), 1e-12)
    r2 = []
    for i in range(len(names)):
        others = np.delete(unit_cols, i, axis=1)
        coef, *_ = np.linalg.lstsq(others, unit_cols[:, i], rcond=None)
        r2.append(1.0 - float(np.sum((unit_cols[:, i] - others @ coef) ** 2)))
    cos = unit_cols.T @ unit_cols
    iu = np.triu_indices(len(names), 1)
    order = np.argsort(-np.abs(cos[iu]))[:8]
    pairs = [(names[iu[0][o]], names[iu[1][o]], float(cos[iu][o])) for o in order]
    sv = np.linalg.svd(jac / np.sqrt(k), compute_uv=False)
    return dict(names=names, effect=effect, r2_others=np.array(r2), pairs=pairs, singular=sv)


def report(out: dict) -> None:
    print("| parameter | full-range move (eye distances, RMS) | R^2 on the other channels |")
    print("|---|---|---|")
    for n, e, r in zip(out["names"], out["effect"], out["r2_others"]):
        print(f"| {n} | {e:.4f} | {r:.2f} |")
    e = out["effect"]
    print(f"move: median {np.median(e):.4f}, min {e.min():.4f}, max/min {e.max() / e.min():.1f}; "
          f"R^2 on the others: max {out['r2_others'].max():.2f}, mean {out['r2_others'].mean():.2f}")
    sv = out["singular"]
    print(f"singular values {np.array2string(sv, precision=4)}; condition number {sv[0] / sv[-1]:.0f}")
    print("most collinear pairs (cosine of their landmark moves):")
    for a, b, c in out["pairs"]:
        print(f"  {c:+.2f} {a} | {b}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=Path, help="the imitator in this folder instead of the shipped one")
    args = ap.parse_args(argv)
    from lab.fit.engine import builtin_rig, fit_ops
    if args.models:
        fit_ops.SHIPPED = args.models
    rig, imit = builtin_rig()
    report(identifiability(imit, [p.name for p in rig.space.params]))


if __name__ == "__main__":
    main()
