"""Tune the built-in head's imitator to what MediaPipe sees: render the rig at random
parameters (Blender, front view), detect the landmarks, and fine-tune the imitator (which
learnt the bound surface points) on them, so that fitting MediaPipe's landmarks of a photo
compares like with like. MediaPipe's landmarks on a flat-shaded render follow the bones'
deformation only partly (its face prior pulls them back); the bound points follow it fully.

    python -m lab.fit.tune_detector [--samples 300] [--ship]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from lab.fit.engine import builtin_rig, fit_ops, render_landmarks
from lab.paths import CHECKPOINTS
from faceforge.ml.fit import solve
from faceforge.ml.fit.imitator import Imitator, train_imitator
from faceforge.ml.fit.landmarks import FIT_INDICES
from faceforge.ml.fit.translator import save_translator, train_translator

SAMPLES = CHECKPOINTS / "fit" / "detected_samples.npz"
TUNED = CHECKPOINTS / "fit" / "tuned"


def render_samples(rig, n: int, seed: int = 99) -> tuple[np.ndarray, np.ndarray]:
    """(unit [m, P], detected normalised targets [m, K, 2]) for the renders with a face;
    cached and extended in checkpoints/fit/detected_samples.npz."""
    unit, det = np.zeros((0, len(rig.space))), np.zeros((0, len(FIT_INDICES), 2))
    if SAMPLES.exists():
        with np.load(SAMPLES) as z:
            unit, det = z["unit"], z["detected"]
    rng = np.random.default_rng(seed + len(unit))
    t0 = time.perf_counter()
    new_u, new_d = [], []
    while len(unit) + len(new_u) < n:
        u = rng.uniform(-1, 1, len(rig.space))
        _, pts = render_landmarks(rig, u)
        if pts is not None:
            new_u.append(u)
            new_d.append(solve.normalise_target(pts))
        if len(new_u) % 50 == 0 and new_u:
            print(f"  {len(unit) + len(new_u)}/{n} renders, "
                  f"{(time.perf_counter() - t0) / len(new_u):.2f} s each", flush=True)
            unit, det = np.concatenate([unit, new_u]), np.concatenate([det, new_d])
            new_u, new_d = [], []
            SAMPLES.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(SAMPLES, unit=unit, detected=det)
    if new_u:
        unit, det = np.concatenate([unit, new_u]), np.concatenate([det, new_d])
        np.savez_compressed(SAMPLES, unit=unit, detected=det)
    return unit[:n], det[:n]


def detected_targets(imit: Imitator, unit: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """3-D face-unit targets: the detected points aligned onto the imitator's frontal
    projection (picture plane), with the imitator's own depth."""
    pts = imit.landmarks(unit).astype(np.float64)
    proj = np.stack([pts[..., 0], -pts[..., 2]], -1)
    aligned = solve.similarity_batch(detected, proj)
    out = pts.copy()
    out[..., 0], out[..., 2] = aligned[..., 0], -aligned[..., 1]
    return out.astype(np.float32)


def aligned_nme(imit: Imitator, unit: np.ndarray, detected: np.ndarray) -> float:
    proj = solve.project(imit.landmarks(unit))
    return float(np.mean([solve.nme(p, d) for p, d in zip(proj, detected)]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--ship", action="store_true", help="replace the shipped models with the tuned ones")
    args = ap.parse_args(argv)
    rig, imit = builtin_rig()
    unit, det = render_samples(rig, args.samples)
    n_val = max(20, len(unit) // 10)
    tr, va = slice(n_val, None), slice(0, n_val)
    targets = detected_targets(imit, unit[tr], det[tr])
    tuned = train_imitator(unit[tr], targets, imit.rest, imit.rest_unit, epochs=args.epochs,
                           lr=5e-4, val_share=0.05, key=imit.key, init=imit)
    print(f"held-out renders ({n_val}): NME of the imitator's landmarks vs MediaPipe's: "
          f"bound {aligned_nme(imit, unit[va], det[va]):.2%} -> tuned {aligned_nme(tuned, unit[va], det[va]):.2%}")
    TUNED.mkdir(parents=True, exist_ok=True)
    tuned.save(TUNED / f"{imit.key}.npz")
    trans = train_translator(tuned)
    save_translator(trans, TUNED / f"{imit.key}_translator.npz")
    print(f"tuned models in {TUNED}")
    if args.ship:
        tuned.save(fit_ops.SHIPPED / f"{imit.key}.npz")
        save_translator(trans, fit_ops.SHIPPED / f"{imit.key}_translator.npz")
        print(f"shipped to {fit_ops.SHIPPED}")


if __name__ == "__main__":
    main()
