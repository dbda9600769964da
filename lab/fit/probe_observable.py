"""Which rig parameters can a photo's landmarks tell at all, and how strong should the
fit's prior be.

1. Observability: on 300 frontal Blender renders of the built-in rig at random
   parameters under one light (checkpoints/fit/detected_samples_<rig>.npz), a ridge regression
   from the aligned landmarks to each parameter, 5-fold cross-validated; R^2 per
   parameter from MediaPipe's landmarks of the render, and from the exact landmarks
   (Blender's deformation of the bound points) at the same parameters. A parameter is
   observable when MediaPipe's R^2 reaches OBSERVABLE_R2; the list is written to
   lab/fit/observable.json (the evaluation reports parameter RMSE on those separately).
2. The prior's weight: renders apart from the evaluation's (their own seed; random head
   yaw/pitch, light and expression as in the evaluation) fitted with the Gauss-Newton
   solver at several prior weights, beside the projected-Adam solver; parameter RMSE on
   all and on the observable parameters, identity NME.

    python -m lab.fit.probe_observable [--views 40]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from lab.fit.engine import builtin_rig, fit_ops, random_view, render_cache, render_landmarks
from lab.fit.tune_detector import render_samples
from lab.paths import ROOT
from faceforge.ml.fit import solve

OBSERVABLE_R2 = 0.5
OBSERVABLE = ROOT / "lab" / "fit" / "observable.json"
VIEWS = "prior_views"  # engine.render_cache
FRONTAL_RENDERS = 300
PRIORS = (0.0, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)


def features(targets: np.ndarray) -> np.ndarray:
    """[N, K, 2] normalised landmarks -> [N, 2K] aligned onto their mean shape."""
    mean = targets.mean(axis=0)
    return solve.similarity_batch(targets, np.broadcast_to(mean, targets.shape)).reshape(len(targets), -1)


def ridge_r2(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Cross-validated R^2 per output column of a ridge regression x [N, F] -> y [N, P]
    (the ridge weight picked per fold from a small grid on the training part)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    pred = np.zeros_like(y)
    for f in range(folds):
        te = order[f::folds]
        tr = np.setdiff1d(order, te)
        mx, my = x[tr].mean(0), y[tr].mean(0)
        xs = x[tr] - mx
        sd = xs.std(0) + 1e-9
        xs = xs / sd
        inner = tr[: len(tr) // 5]
        best = None
        for alpha in (1e-2, 1e-1, 1.0, 10.0, 100.0):
            w = _ridge(xs[len(inner):], y[tr][len(inner):] - my, alpha)
            err = ((xs[:len(inner)] @ w - (y[tr][:len(inner)] - my)) ** 2).mean()
            best = min(best or (err, alpha), (err, alpha))
        w = _ridge(xs, y[tr] - my, best[1])
        pred[te] = ((x[te] - mx) / sd) @ w + my
    return 1.0 - ((pred - y) ** 2).mean(0) / y.var(0)


def _ridge(x, y, alpha):
    return np.linalg.solve(x.T @ x + alpha * len(x) * np.eye(x.shape[1]), x.T @ y)


def observability(rig, n: int = FRONTAL_RENDERS) -> dict:
    data = render_samples(rig, n)
    unit, det = data["unit"], data["detected"]
    exact = solve.project(fit_ops.engine_landmarks(rig, unit))
    exact = (exact - exact.mean(1, keepdims=True)) / np.linalg.norm(
        exact[:, solve._EYES[1]] - exact[:, solve._EYES[0]], axis=-1)[:, None, None]
    r2_det = ridge_r2(features(det), unit)
    r2_exact = ridge_r2(features(exact), unit)
    names = [p.name for p in rig.space.params]
    observable = [n for n, r in zip(names, r2_det) if r >= OBSERVABLE_R2]
    print(f"\nObservability: {len(unit)} renders at random parameters, ridge regression "
          f"landmarks -> parameter, 5-fold R^2 (observable: MediaPipe R^2 >= {OBSERVABLE_R2})")
    print("| parameter | R^2 exact landmarks | R^2 MediaPipe on the render | observable |")
    print("|---|---|---|---|")
    for n, a, b in zip(names, r2_exact, r2_det):
        print(f"| {n} | {a:.2f} | {b:.2f} | {'yes' if b >= OBSERVABLE_R2 else 'no'} |")
    print(f"{len(observable)}/{len(names)} observable; mean R^2 exact {r2_exact.mean():.2f}, "
          f"MediaPipe {r2_det.mean():.2f}")
    out = dict(threshold=OBSERVABLE_R2, renders=int(len(unit)), names=names,
               r2_mediapipe=[round(float(r), 3) for r in r2_det],
               r2_exact=[round(float(r), 3) for r in r2_exact], observable=observable)
    OBSERVABLE.write_text(json.dumps(out, indent=1) + "\n")
    return out


def view_renders(rig, n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(truth [m, P], normalised targets [m, K, 2]) of renders under random views; cached."""
    path = render_cache(VIEWS, rig)
    if path.exists():
        with np.load(path) as z:
            if len(z["truth"]) >= n:
                return z["truth"][:n], z["targets"][:n]
    rng = np.random.default_rng(seed)
    truth, targets = [], []
    while len(truth) < n:
        u = rng.uniform(-1, 1, len(rig.space))
        _, pts = render_landmarks(rig, u, random_view(rng))
        if pts is not None:
            truth.append(u)
            targets.append(solve.normalise_target(pts))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, truth=np.array(truth), targets=np.array(targets))
    return np.array(truth), np.array(targets)


def prior_sweep(rig, imit, obs: dict, n: int) -> None:
    truth, targets = view_renders(rig, n)
    mask = np.isin(obs["names"], obs["observable"])
    true_pts = solve.project(fit_ops.engine_landmarks(rig, truth))
    print(f"\nPrior weight: {len(truth)} renders (seed apart from the evaluation's; yaw/pitch, "
          f"light, expression), fitted")
    print("| solver | prior | parameter RMSE all (%) | observable (%) | unobservable (%) | "
          "identity NME (%) | ms |")
    print("|---|---|---|---|---|---|---|")
    runs = [("average face", None)] + [("adam", None)] + [("gauss-newton", w) for w in PRIORS]
    for method, w in runs:
        if method == "average face":
            unit, ms = np.tile(imit.rest_unit, (len(truth), 1)), 0.0
        else:
            res = [solve.fit_iterative(imit, t, method=method, **({} if w is None else {"prior": w}))
                   for t in targets]
            unit, ms = np.array([r.unit for r in res]), np.median([r.seconds for r in res]) * 1000
        err = (unit - truth) / 2
        fitted = solve.project(fit_ops.engine_landmarks(rig, unit))
        nmes = [solve.nme(f, t) for f, t in zip(fitted, true_pts)]
        rm = lambda e: np.sqrt((e ** 2).mean()) * 100 if e.size else float("nan")  # noqa: E731
        print(f"| {method} | {'' if w is None else f'{w:g}'} | {rm(err):.1f} | {rm(err[:, mask]):.1f} | "
              f"{rm(err[:, ~mask]):.1f} | {np.mean(nmes) * 100:.2f} | {ms:.0f} |", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--views", type=int, default=40)
    args = ap.parse_args(argv)
    rig, imit = builtin_rig()
    obs = observability(rig)
    if args.views:
        prior_sweep(rig, imit, obs, args.views)


if __name__ == "__main__":
    main()
