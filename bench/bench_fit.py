"""Seconds of Fit to Photo on this machine: MediaPipe's own detection (detector + Face
Mesh, the floor any landmark fit pays) beside the iterative fit, the one-shot translator
and both, per photo (the astronaut, median of several runs); and the one-off preparation
of a new rig: generate the built-in head's face rig, sample Blender's deformation, train
the imitator and the translator (fresh cache, the shipped models ignored), and the same
imitator training for the rig with more channels unlocked (--params, default 40: depth,
rotation and scale channels of its bones, default ranges). dlib's face embedding (the
identity measure of the evaluation) is timed beside MediaPipe when installed.

    python -m bench.bench_fit [--runs 10] [--samples 2000] [--params 40] [--skip-training]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


from bench.bench_video import _rate
from lab.fit import identity
from lab.paths import SHARED_DATA

PHOTO = SHARED_DATA / "photos" / "astronaut.png"


def _median_ms(fn, runs: int) -> float:
    """Median milliseconds of `fn()` over `runs` timed runs (after one warm-up)."""
    return 1000.0 / _rate(fn, 1, runs)


def unlock_channels(rig, n_params: int):
    """The rig with more channels unlocked, bone by bone (location, rotation, scale axes;
    their Limit constraints' axis switched off, so a default range applies) until it has
    n_params parameters: a FitRig of it."""
    from faceforge.addon import face_rig
    from faceforge.ops import fit as fit_ops
    kinds = (("lock_location", "LIMIT_LOCATION"), ("lock_rotation", "LIMIT_ROTATION"),
             ("lock_scale", "LIMIT_SCALE"))
    for pb in rig.arm.pose.bones:
        for lock, ctype in kinds:
            for axis in range(3):
                if len(face_rig.param_space(rig.arm)[0]) >= n_params:
                    break
                locks = list(getattr(pb, lock))
                if not locks[axis]:
                    continue
                locks[axis] = False
                setattr(pb, lock, locks)
                ax = "xyz"[axis]
                for con in pb.constraints:
                    if con.type == ctype:
                        for attr in (f"use_limit_{ax}", f"use_min_{ax}", f"use_max_{ax}"):
                            if hasattr(con, attr):
                                setattr(con, attr, False)
    space = face_rig.param_space(rig.arm)[0]
    return fit_ops.FitRig(rig.arm, rig.mesh, space, rig.binding)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--params", type=int, default=40,
                    help="parameters of the larger rig whose imitator training is timed (0: skip)")
    ap.add_argument("--skip-training", action="store_true")
    args = ap.parse_args(argv)
    os.environ["FACEFORGE_CACHE"] = tempfile.mkdtemp(prefix="faceforge-bench-fit-")

    import bpy
    from faceforge.addon import face_rig, reference_head
    from faceforge.ml.fit import solve
    from faceforge.ml.fit.photo import detect_landmarks, read_photo
    from faceforge.ops import fit as fit_ops

    bpy.ops.wm.read_factory_settings(use_empty=True)
    rgb = read_photo(PHOTO)
    t0 = time.perf_counter()
    rig = fit_ops.prepare_rig([reference_head.build_reference_head()], make_rig=True)
    make_rig_s = time.perf_counter() - t0
    rows = []
    if not args.skip_training:
        fit_ops.SHIPPED = Path(tempfile.mkdtemp())  # nothing shipped: train from scratch
        t0 = time.perf_counter()
        imit = fit_ops.ensure_imitator(rig, samples=args.samples)
        imit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        trans = fit_ops.ensure_translator(imit)
        trans_s = time.perf_counter() - t0
        rows += [(f"make the rig (render, landmarks, bones, weights)", make_rig_s),
                 (f"imitator: {args.samples} Blender samples + training "
                  f"({len(rig.space)} parameters)", imit_s),
                 ("one-shot translator training", trans_s)]
        if args.params:
            big = unlock_channels(rig, args.params)
            t0 = time.perf_counter()
            fit_ops.ensure_imitator(big, samples=args.samples)
            rows.append((f"imitator: {args.samples} Blender samples + training "
                         f"({len(big.space)} parameters)", time.perf_counter() - t0))
        fit_ops._MEMORY.clear()
        fit_ops.SHIPPED = Path(fit_ops.__file__).resolve().parents[1] / "ml" / "fit" / "models"
    imit = fit_ops.ensure_imitator(rig)
    trans = fit_ops.ensure_translator(imit)
    pts, _ = detect_landmarks(rgb)
    target = solve.normalise_target(pts)
    per_photo = [("MediaPipe detection + Face Mesh", _median_ms(lambda: detect_landmarks(rgb), args.runs))]
    if identity.available():
        per_photo.append(("dlib face embedding (5-point alignment + ResNet)",
                          _median_ms(lambda: identity.embedding(rgb, pts), args.runs)))
    per_photo += [("one-shot translator", _median_ms(lambda: trans.fit(target), args.runs)),
                 ("iterative fit, projected Adam (200 steps)",
                  _median_ms(lambda: solve.fit_iterative(imit, target, method="adam"), args.runs)),
                 ("iterative fit, Gauss-Newton + prior (default)",
                  _median_ms(lambda: solve.fit_iterative(imit, target), args.runs)),
                 ("both (one-shot, then iterative)", _median_ms(
                     lambda: solve.fit_iterative(imit, target, start=trans.fit(target).unit), args.runs))]
    base = per_photo[0][1]
    print(f"| per photo ({PHOTO.name}, median of {args.runs}) | ms | x MediaPipe's time |")
    print("|---|---|---|")
    for name, ms in per_photo:
        print(f"| {name} | {ms:.1f} | {ms / base:.2f} |")
    if rows:
        print("\n| once per rig | seconds |")
        print("|---|---|")
        for name, s in rows:
            print(f"| {name} | {s:.1f} |")


if __name__ == "__main__":
    main()
