"""Tune the built-in head's imitator to what MediaPipe sees: render the rig at random
parameters, detect the landmarks, and fine-tune the imitator (which learnt the bound
surface points) on them, so that fitting MediaPipe's landmarks of a photo compares like
with like. MediaPipe's landmarks on a flat-shaded render follow the bones' deformation
only partly (its face prior pulls them back); the bound points follow it fully.

Default (the shipped models): 300 frontal renders under one light, to
checkpoints/fit/tuned. `--views`: 800 renders under random viewing conditions drawn as the
evaluation draws them (head yaw/pitch, studio-light angle, expression keys;
engine.random_view, own seed), to checkpoints/fit/tuned_views. The imitator keeps
predicting the frontal, neutral face: each render's head turn is undone (the solver fits
yaw/pitch), light and expression, nuisances, are averaged over; the covariance of
MediaPipe's landmarks around the tuned imitator over those conditions becomes the fit's
residual whitening (solve.noise_whitening). Prints the Gauss-Newton fit on held-out
renders through the bound, the shipped and the tuned imitators.

    python -m lab.fit.tune_detector [--views [--no-expression] [--shrink 0.5]] [--samples N]
        [--style flat|shaded|cycles] [--ship]
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np

from lab.fit.engine import (EXPRESSION, View, builtin_rig, fit_ops, random_view, render_cache,
                            render_landmarks, STYLES, style_resolution, style_suffix)
from lab.paths import CHECKPOINTS, ROOT
from faceforge.ml.fit import solve
from faceforge.ml.fit.imitator import Imitator, train_imitator
from faceforge.ml.fit.landmarks import FIT_INDICES
from faceforge.ml.fit.translator import save_translator, train_translator

SAMPLES = "detected_samples"     # frontal, one light (the probes); engine.render_cache
VIEW_SAMPLES = "detected_views"  # the evaluation's conditions
NEUTRAL_SAMPLES = "detected_views_neutral"  # the same, no expression
TUNED = CHECKPOINTS / "fit" / "tuned"
OBSERVABLE = ROOT / "lab" / "fit" / "observable.json"  # lab.fit.probe_observable
# Seeds of the renders' parameters and views, apart from the evaluation's (2026) and the
# prior-weight views' (7, lab.fit.probe_observable).
FRONTAL_SEED, VIEW_SEED, NEUTRAL_SEED = 99, 4242, 5151


def render_samples(rig, n: int, views: bool = False, expression: bool = True,
                   style: str = "flat", resolution: int | None = None) -> dict[str, np.ndarray]:
    """Renders at random parameters with a detected face: unit [m, P], detected normalised
    targets [m, K, 2], pose [m, 2] (head yaw, pitch) and light [m]; frontal under one light,
    or (`views`) under random viewing conditions as the evaluation draws them
    (engine.random_view; without `expression`, every expression key at 0), in render
    `style` at `resolution` (engine.style_resolution). Cached and extended in
    checkpoints/fit/ (one file per style and resolution)."""
    resolution = resolution or style_resolution(style)
    stem = (VIEW_SAMPLES if expression else NEUTRAL_SAMPLES) if views else SAMPLES
    path = render_cache(stem + style_suffix(style, resolution), rig)
    seed = (VIEW_SEED if expression else NEUTRAL_SEED) if views else FRONTAL_SEED
    p, k = len(rig.space), len(FIT_INDICES)
    data = dict(unit=np.zeros((0, p)), detected=np.zeros((0, k, 2)), pose=np.zeros((0, 2)),
                light=np.zeros(0))
    if path.exists():
        with np.load(path) as z:
            data.update({name: z[name] for name in z.files})
        m = len(data["unit"])                    # files from before pose and light: frontal
        if len(data["pose"]) != m:
            data["pose"], data["light"] = np.zeros((m, 2)), np.zeros(m)
    rng = np.random.default_rng(seed + len(data["unit"]))
    t0 = time.perf_counter()
    new = {name: [] for name in data}

    def flush():
        for name in data:
            if new[name]:
                data[name] = np.concatenate([data[name], np.array(new[name])])
            new[name] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **data)

    done = 0
    while len(data["unit"]) + len(new["unit"]) < n:
        u = rng.uniform(-1, 1, p)
        view = random_view(rng, expression=EXPRESSION if expression else 0.0) if views else View()
        _, pts = render_landmarks(rig, u, view, style=style, resolution=resolution)
        done += 1
        if pts is not None:
            new["unit"].append(u)
            new["detected"].append(solve.normalise_target(pts))
            new["pose"].append([view.yaw, view.pitch])
            new["light"].append(view.light)
        if len(new["unit"]) == 25:
            flush()
            print(f"  {len(data['unit'])}/{n} renders, "
                  f"{(time.perf_counter() - t0) / done:.2f} s each", flush=True)
    flush()
    return {name: a[:n] for name, a in data.items()}


def detected_targets(imit: Imitator, unit: np.ndarray, detected: np.ndarray,
                     pose: np.ndarray | None = None) -> np.ndarray:
    """3-D face-unit targets [N, K, 3]: the detected points aligned onto the imitator's
    projection at the render's head pose (yaw, pitch [N, 2]; None: frontal), its depth
    along the view kept, turned back to the frontal frame. The imitator then learns the
    frontal, neutral landmarks that, turned as the solver turns them, land where MediaPipe
    sees them, averaged over light and expression."""
    pts = imit.landmarks(unit).astype(np.float64)
    rot = (np.stack([solve.rotation(y, p)[0] for y, p in pose]) if pose is not None
           else np.broadcast_to(np.eye(3), (len(pts), 3, 3)))
    q = np.einsum("nkc,ndc->nkd", pts, rot)                          # turned: R p
    aligned = solve.similarity_batch(detected, np.stack([q[..., 0], -q[..., 2]], -1))
    q[..., 0], q[..., 2] = aligned[..., 0], -aligned[..., 1]
    return np.einsum("nkd,ndc->nkc", q, rot).astype(np.float32)      # back: R^T q


def aligned_nme(imit: Imitator, unit: np.ndarray, detected: np.ndarray,
                pose: np.ndarray | None = None) -> float:
    """Mean NME of the imitator's landmarks (turned to the render's head pose) against
    MediaPipe's."""
    pts = imit.landmarks(unit)
    pose = np.zeros((len(unit), 2)) if pose is None else pose
    return float(np.mean([solve.nme(solve.project(p, y, x), d)
                          for p, (y, x), d in zip(pts, pose, detected)]))


def fit_scores(rig, imit: Imitator, unit: np.ndarray, detected: np.ndarray,
               pose: np.ndarray) -> dict[str, float]:
    """The Gauss-Newton fit of each render through `imit`: parameter RMSE (% of range,
    all and the observable parameters), identity NME (%, fitted vs true frontal landmarks
    from Blender's deformation) and the correlation of the fitted head yaw with the
    render's."""
    res = [solve.fit_iterative(imit, d) for d in detected]
    fitted = np.array([r.unit for r in res])
    err = (fitted - unit) / 2
    names = [p.name for p in rig.space.params]
    obs = (np.isin(names, json.loads(OBSERVABLE.read_text())["observable"])
           if OBSERVABLE.exists() else np.ones(len(names), bool))
    true_pts = solve.project(fit_ops.engine_landmarks(rig, unit))
    fit_pts = solve.project(fit_ops.engine_landmarks(rig, fitted))
    return dict(rmse=float(np.sqrt((err ** 2).mean()) * 100),
                observable=float(np.sqrt((err[:, obs] ** 2).mean()) * 100),
                nme=float(np.mean([solve.nme(f, t) for f, t in zip(fit_pts, true_pts)]) * 100),
                yaw_r=float(np.corrcoef([r.yaw for r in res], pose[:, 0])[0, 1]),
                detector_nme=aligned_nme(imit, unit, detected, pose) * 100)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--views", action="store_true",
                    help="render under the evaluation's viewing conditions (head turn, light, "
                    "expression), undo the head turn, whiten the detector's noise")
    ap.add_argument("--no-expression", action="store_true",
                    help="with --views: no expression keys (head turn and light only)")
    ap.add_argument("--samples", type=int, help="renders (default 300 frontal, 800 with --views)")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--shrink", type=float, default=0.5,
                    help="with --views: the noise covariance's shrinkage towards isotropic")
    ap.add_argument("--ship", action="store_true", help="replace the shipped models with the tuned ones")
    ap.add_argument("--style", default="flat", choices=STYLES,
                    help="render look of the tuning renders (lab.fit.render_style)")
    args = ap.parse_args(argv)
    shipped_dir = fit_ops.SHIPPED
    # Tune from the bound-point imitator (trained on Blender's deformation, or cached).
    fit_ops.SHIPPED = TUNED.parent / "bound_only"
    rig, bound = builtin_rig()
    fit_ops.SHIPPED = shipped_dir
    data = render_samples(rig, args.samples or (800 if args.views else 300), views=args.views,
                          expression=not args.no_expression, style=args.style)
    unit, det, pose = data["unit"], data["detected"], data["pose"]
    n_val = max(20, len(unit) // 10)
    tr, va = slice(n_val, None), slice(0, n_val)
    variants = {"bound surface points": bound}
    if (shipped_dir / f"{bound.key}.npz").exists():
        variants["shipped"] = Imitator.load(shipped_dir / f"{bound.key}.npz")
    runs = ((("tuned, head turn ignored", None), ("tuned, head turn undone", pose[tr]))
            if args.views else (("tuned", None),))
    for name, turned in runs:
        targets = detected_targets(bound, unit[tr], det[tr], turned)
        variants[name] = train_imitator(unit[tr], targets, bound.rest, bound.rest_unit,
                                        epochs=args.epochs, lr=5e-4, val_share=0.05,
                                        key=bound.key, init=bound)
    tuned = variants[runs[-1][0]]
    if args.views:
        # The detector's spread around the tuned imitator over the renders' conditions.
        tuned = replace(tuned)
        pred = np.stack([solve.project(q, y, x)
                         for q, (y, x) in zip(tuned.landmarks(unit[tr]), pose[tr])])
        tuned.whiten = solve.noise_whitening(solve.similarity_batch(det[tr], pred) - pred,
                                             shrink=args.shrink)
        variants["tuned, head turn undone, detector noise whitened"] = tuned
    print(f"\n{n_val} held-out renders ({'random views' if args.views else 'frontal'}; "
          f"{len(unit) - n_val} tuning renders): Gauss-Newton fit through each imitator")
    print("| imitator | parameter RMSE (%) | observable (%) | identity NME (%) | "
          "fitted vs true yaw (r) | imitator vs MediaPipe NME (%) |")
    print("|---|---|---|---|---|---|")
    for name, imit in variants.items():
        sc = fit_scores(rig, imit, unit[va], det[va], pose[va])
        print(f"| {name} | {sc['rmse']:.1f} | {sc['observable']:.1f} | {sc['nme']:.2f} | "
              f"{sc['yaw_r']:.2f} | {sc['detector_nme']:.2f} |", flush=True)
    out = TUNED.with_name("tuned" + ("_views" if args.views else "")
                          + ("_neutral" if args.views and args.no_expression else "")
                          + ("" if args.style == "flat" else f"_{args.style}"))
    out.mkdir(parents=True, exist_ok=True)
    tuned.save(out / f"{bound.key}.npz")
    trans = train_translator(tuned)
    save_translator(trans, out / f"{bound.key}_translator.npz")
    print(f"tuned models in {out}")
    if args.ship:
        tuned.save(shipped_dir / f"{bound.key}.npz")
        save_translator(trans, shipped_dir / f"{bound.key}_translator.npz")
        print(f"shipped to {shipped_dir}")


if __name__ == "__main__":
    main()
