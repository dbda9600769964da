"""How well the iterative fit and the translator recover known parameters when the
landmarks are exact (Blender's deformation of the bound surface points, seen from the
front after a random head yaw/pitch within 0.15 rad) instead of MediaPipe's: separates the
optimiser from the detector. Uses the untuned imitator (bound points; trained here or
taken from the cache).

    python -m lab.fit.probe_exact [--identities 51]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from lab.fit.engine import builtin_rig, fit_ops
from faceforge.ml.fit import solve
from faceforge.ml.fit.landmarks import FIT_INDICES


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--identities", type=int, default=51)
    args = ap.parse_args(argv)
    fit_ops.SHIPPED = Path(tempfile.mkdtemp())  # not the shipped detector-tuned models
    rig, imit = builtin_rig()
    trans = fit_ops.ensure_translator(imit, log=print)
    rng = np.random.default_rng(2026)
    truth = rng.uniform(-1, 1, (args.identities, len(rig.space)))
    pts = fit_ops.engine_landmarks(rig, truth)
    rows = {"average face": [], "one-shot": [], "iterative": []}
    for t, p in zip(truth, pts):
        target = solve.project(p, *rng.uniform(-0.15, 0.15, 2))
        full = np.zeros((478, 2))
        full[FIT_INDICES] = target
        target = solve.normalise_target(full)
        front = solve.project(p)
        for name, unit in (("average face", imit.rest_unit), ("one-shot", trans.fit(target).unit),
                           ("iterative", solve.fit_iterative(imit, target).unit)):
            fitted = solve.project(fit_ops.engine_landmarks(rig, unit[None])[0])
            rows[name].append((np.sqrt((((unit - t) / 2) ** 2).mean()), solve.nme(fitted, front)))
    print(f"\nExact landmarks, {args.identities} identities, {len(rig.space)} parameters")
    print("| method | parameter RMSE (% of range) | identity NME (%) |")
    print("|---|---|---|")
    for name, r in rows.items():
        r = np.array(r)
        print(f"| {name} | {np.sqrt((r[:, 0] ** 2).mean()) * 100:.1f} | {r[:, 1].mean() * 100:.2f} |")


if __name__ == "__main__":
    main()
