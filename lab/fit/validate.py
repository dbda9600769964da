"""Choose the Gauss-Newton fit's settings on validation renders: identities of their own
seed (apart from the evaluation's 2026 and the tunings' 99, 4242, 5151 and 7), each
rendered twice under random views as the evaluation renders them (lab.fit.evaluate's
synthetic_renders, cached per rig). The first half of the identities estimates the
detector's spread around the shipped imitator (at the true parameters and head pose); the
second half is fitted with each setting: prior weight, no whitening, the full whitening
shrunk towards isotropic (solve.noise_whitening) or the nuisance whitening of the few
largest directions only (solve.nuisance_whitening). Parameter RMSE (% of range), identity
NME (the fitted vs the true frontal landmarks from Blender's deformation) and rank-1
retrieval of each identity's second render among the scoring half.

    python -m lab.fit.validate [--identities 80]
    python -m lab.fit.validate --ship RANK [--to DIR]   # store the chosen whitening, no sweep
    python -m lab.fit.validate --translators            # the one-shot translator's body

`--translators`: every identity's two renders fitted one-shot (and one-shot then
Gauss-Newton) by the shipped translator and by one of each body (translator.BODIES)
trained here through the shipped imitator, to choose the body.
"""
from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from lab.fit.engine import builtin_rig, fit_ops
from lab.fit.evaluate import synthetic_renders
from faceforge.ml.fit import solve
from faceforge.ml.fit.translator import BODIES, train_translator

SEED = 31
PRIORS = (1e-5, 3e-5, 1e-4)
SHRINKS = (0.5, 0.8, 0.95)
RANKS = (1, 2, 4, 8, 16)


def detector_residuals(imit, truth, targets, pose) -> np.ndarray:
    """[M, K, 2] MediaPipe's landmarks aligned onto the imitator's (true parameters, the
    render's head pose) minus the imitator's, over every render with a face."""
    ok = ~np.isnan(targets[:, :, 0, 0])
    unit = np.repeat(truth[:, None], 2, axis=1)[ok]
    pred = np.stack([solve.project(q, y, x) for q, (y, x) in zip(imit.landmarks(unit), pose[ok])])
    return solve.similarity_batch(targets[ok], pred) - pred


def score(rig, truth, targets, fit) -> dict:
    """`fit(target [K, 2]) -> unit parameters [P]` on both renders of every identity with a
    face in both."""
    both = ~np.isnan(targets[:, :, 0, 0]).any(axis=1)
    truth, targets = truth[both], targets[both]
    fits = np.array([[fit(t) for t in pair] for pair in targets])
    err = (fits[:, 0] - truth) / 2
    true_pts = solve.project(fit_ops.engine_landmarks(rig, truth))
    fit_pts = solve.project(fit_ops.engine_landmarks(rig, fits[:, 0]))
    dist = np.linalg.norm(fits[:, 0][:, None] - fits[:, 1][None], axis=2)
    return dict(rmse=float(np.sqrt((err ** 2).mean()) * 100),
                nme=float(np.mean([solve.nme(f, t) for f, t in zip(fit_pts, true_pts)]) * 100),
                rank1=float((dist.argmin(axis=1) == np.arange(len(fits))).mean() * 100),
                n=int(len(fits)))


def compare_translators(rig, imit, truth, targets) -> None:
    """One-shot, and one-shot then Gauss-Newton, per translator on every identity."""
    variants = {"shipped (mlp)": fit_ops.ensure_translator(imit)}
    for body in BODIES:
        start = time.perf_counter()
        variants[f"{body}, trained here"] = train_translator(imit, body=body)
        print(f"{body}: trained in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"\nValidation: {len(truth)} identities x 2 renders (seed {SEED})")
    print("| translator | parameters | one-shot RMSE (%) | identity NME (%) | rank-1 (%) | "
          "then Gauss-Newton: RMSE (%) | identity NME (%) | rank-1 (%) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, trans in variants.items():
        one = score(rig, truth, targets, lambda t, tr=trans: tr.predict(t[None])[0])
        both = score(rig, truth, targets, lambda t, tr=trans: solve.fit_iterative(
            imit, t, start=tr.predict(t[None])[0]).unit)
        size = sum(p.size for p in trans.mlp.params)
        print(f"| {name} | {size:,} | {one['rmse']:.1f} | {one['nme']:.2f} | {one['rank1']:.0f} | "
              f"{both['rmse']:.1f} | {both['nme']:.2f} | {both['rank1']:.0f} |", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--identities", type=int, default=80)
    ap.add_argument("--ship", type=int, help="store the nuisance whitening of this rank with "
                    "the shipped imitator (after choosing it here) instead of the sweep")
    ap.add_argument("--translators", action="store_true",
                    help="compare the one-shot translator's bodies instead of the sweep")
    ap.add_argument("--to", type=Path, help="with --ship: write the imitator (and a copy of its "
                    "translator) to this folder instead of the shipped models")
    args = ap.parse_args(argv)
    rig, imit = builtin_rig()
    truth, targets, pose = synthetic_renders(rig, args.identities, SEED)
    if args.translators:
        compare_translators(rig, imit, truth, targets)
        return
    half = args.identities // 2
    res = detector_residuals(imit, truth[:half], targets[:half], pose[:half])
    if args.ship:
        folder = args.to or fit_ops.SHIPPED
        folder.mkdir(parents=True, exist_ok=True)
        replace(imit, whiten=solve.nuisance_whitening(res, args.ship)).save(folder / f"{imit.key}.npz")
        name = f"{imit.key}_translator.npz"
        if folder != fit_ops.SHIPPED:
            shutil.copy(fit_ops.SHIPPED / name, folder / name)
        print(f"nuisance whitening of rank {args.ship} ({len(res)} renders) stored with the "
              f"imitator in {folder}")
        return
    plain = replace(imit, whiten=None)
    settings = [(f"no whitening, prior {w:g}", plain, w) for w in PRIORS]
    settings += [(f"full whitening, shrink {s}", replace(imit, whiten=solve.noise_whitening(res, s)),
                  solve.PRIOR) for s in SHRINKS]
    settings += [(f"nuisance whitening, rank {k}", replace(imit, whiten=solve.nuisance_whitening(res, k)),
                  solve.PRIOR) for k in RANKS]
    print(f"\nValidation: {args.identities - half} identities x 2 renders (seed {SEED}), "
          f"detector spread from {len(res)} renders of {half} others; Gauss-Newton fit")
    print("| setting | parameter RMSE (%) | identity NME (%) | rank-1 (%) |")
    print("|---|---|---|---|")
    for name, im, w in settings:
        sc = score(rig, truth[half:], targets[half:],
                   lambda t, im=im, w=w: solve.fit_iterative(im, t, prior=w).unit)
        print(f"| {name} | {sc['rmse']:.1f} | {sc['nme']:.2f} | {sc['rank1']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
