"""Evaluate Fit to Photo on the built-in head's generated rig and print the model card's
tables.

1. Synthetic truth: 51 random identities (parameters the imitator never saw), each
   rendered twice by Blender (head yaw/pitch within 0.15 rad, studio-light angle, three
   random expression shape keys up to 0.3), MediaPipe on each render, then fitted.
   Parameter RMSE (% of range) and landmark NME (the fitted vs the true identity's
   frontal, neutral landmarks from Blender's deformation, over the outer-eye-corner
   distance), for: the average face, a classical linearised least-squares fit (rig
   Jacobian by finite differences in Blender, bounded, alternating with the alignment),
   one-shot, iterative and both. Identity consistency: rank-1 retrieval of each
   identity's second render among all 51 second renders in parameter space.
2. Real faces: the astronaut photo and the first frame of each GRID clip in ../shared
   (five people, CC BY 4.0). NME of MediaPipe on the fitted character's render against
   the photo's landmarks, and the mean IoU of region hulls (lips, eyes, brows, nose, oval),
   before (the average face) and after (dlib's embedding distance on the astronaut); a
   contact sheet (one row per face) to docs/images/.
3. Seconds per photo: each mode, MediaPipe beside.

    python -m lab.fit.evaluate [--identities 51]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from lab.fit import engine
from lab.fit.engine import builtin_rig, fit_ops, random_view, render_landmarks
from lab.paths import CHECKPOINTS, ROOT, SHARED_DATA
from faceforge.ml.fit import landmarks as lm
from faceforge.ml.fit import solve
from faceforge.ml.fit.photo import detect_landmarks, read_photo
from faceforge.ml.fit.sheet import face_crop, labelled_row, write_rgb
from lab.fit import identity

PHOTO = SHARED_DATA / "photos" / "astronaut.png"
GRID = SHARED_DATA / "video" / "grid"  # GRID corpus clips (CC BY 4.0): their first frames
TILE = 160  # contact sheet tile size (px): six rows of four faces
SHEET = ROOT / "docs" / "images" / "fit_contact_sheet.png"
METHODS = ("average face", "linear least squares", "one-shot", "iterative (Adam)", "iterative",
           "both")
OBSERVABLE = Path(__file__).with_name("observable.json")  # lab.fit.probe_observable


# -------------------------------------------------------------------- classical baseline
class LinearFit:
    """The classical alternative: the rig linearised at rest (Jacobian of the frontal fit
    landmarks by central differences of Blender's deformation), solved with bounded least
    squares, alternating with the similarity alignment of the photo's landmarks."""

    def __init__(self, rig, imit, step: float = 0.5):
        p = len(rig.space)
        r0 = imit.rest_unit
        probes = np.vstack([r0 + step * e for e in np.eye(p)] + [r0 - step * e for e in np.eye(p)])
        pts = solve.project(fit_ops.engine_landmarks(rig, np.clip(probes, -1, 1)))
        self.jac = ((pts[:p] - pts[p:]) / (2 * step)).reshape(p, -1).T        # [2K, P]
        self.rest = solve.project(fit_ops.engine_landmarks(rig, r0[None])[0])
        self.r0 = r0

    def fit(self, target: np.ndarray, rounds: int = 5) -> solve.FitResult:
        from scipy.optimize import lsq_linear
        t0 = time.perf_counter()
        delta = np.zeros(len(self.r0))
        for _ in range(rounds):
            pred = self.rest + (self.jac @ delta).reshape(-1, 2)
            s, r, t = solve.similarity(target, pred)       # the photo into the rig's frame
            y = target @ (s * r).T + t
            delta = lsq_linear(self.jac, (y - self.rest).ravel(),
                               bounds=(-1 - self.r0, 1 - self.r0)).x
        pred = self.rest + (self.jac @ delta).reshape(-1, 2)
        return solve.FitResult(self.r0 + delta, 0.0, 0.0, solve.nme(pred, target),
                               time.perf_counter() - t0)


def fit_all(target, imit, trans, linear, prior: float = solve.PRIOR) -> dict[str, solve.FitResult]:
    """Every method's answer for one normalised target [K, 2] (`prior`: the Gauss-Newton
    fit's prior weight)."""
    out = {"average face": solve.FitResult(imit.rest_unit.copy(), 0, 0,
                                           solve.average_face_nme(imit, target), 0.0),
           "linear least squares": linear.fit(target), "one-shot": trans.fit(target, imit),
           "iterative (Adam)": solve.fit_iterative(imit, target, method="adam"),
           "iterative": solve.fit_iterative(imit, target, prior=prior)}
    t0 = time.perf_counter()
    both = solve.fit_iterative(imit, target, start=out["one-shot"].unit, prior=prior)
    both.seconds = time.perf_counter() - t0 + out["one-shot"].seconds
    out["both"] = both
    return out


# -------------------------------------------------------------------- regions
def region_iou(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean IoU of the convex hulls of each landmark region, pred [478, 2] aligned onto
    target [478, 2] (pixels) first."""
    import cv2
    s, r, t = solve.similarity(pred, target)
    pred = pred @ (s * r).T + t
    lo = np.minimum(pred.min(0), target.min(0)) - 2
    size = tuple((np.maximum(pred.max(0), target.max(0)) - lo + 4).astype(int)[::-1])
    ious = []
    for idx in lm.REGIONS.values():
        masks = []
        for pts in (pred, target):
            m = np.zeros(size, np.uint8)
            hull = cv2.convexHull(np.round(pts[list(idx)] - lo).astype(np.int32))
            cv2.fillConvexPoly(m, hull, 1)
            masks.append(m.astype(bool))
        ious.append((masks[0] & masks[1]).sum() / max((masks[0] | masks[1]).sum(), 1))
    return float(np.mean(ious))


# -------------------------------------------------------------------- the evaluation
def synthetic_renders(rig, n: int, seed: int = 2026,
                      style: str = "flat") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """truth [n, P], normalised MediaPipe targets [n, 2, K, 2] (nan where no face was
    detected) and head poses (yaw, pitch) [n, 2, 2] of the n identities' two renders under
    random views in render `style` (lab.fit.render_style); cached in checkpoints/fit/ per
    (rig, n, seed, style), so that other models are evaluated on the same renders (another
    seed: validation renders, lab.fit.validate)."""
    path = engine.render_cache(f"evaluation_renders_{n}_{seed}{engine.style_suffix(style)}", rig)
    if path.exists():
        with np.load(path) as z:
            pose = z["pose"] if "pose" in z.files else np.zeros((n, 2, 2))
            return z["truth"], z["targets"], pose
    rng = np.random.default_rng(seed)
    truth = rng.uniform(-1, 1, (n, len(rig.space)))
    targets = np.full((n, 2, len(lm.FIT_INDICES), 2), np.nan)
    pose = np.zeros((n, 2, 2))
    for i in range(n):
        for v in range(2):
            view = random_view(rng)
            pose[i, v] = view.yaw, view.pitch
            _, pts = render_landmarks(rig, truth[i], view, style=style)
            if pts is not None:
                targets[i, v] = solve.normalise_target(pts)
        print(f"  identity {i + 1}/{n} rendered", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, truth=truth, targets=targets, pose=pose)
    return truth, targets, pose


def synthetic(rig, imit, trans, linear, n: int, seed: int = 2026,
              prior: float = solve.PRIOR, style: str = "flat") -> dict:
    truth, targets, _ = synthetic_renders(rig, n, seed, style)
    true_pts = solve.project(fit_ops.engine_landmarks(rig, truth))       # [n, K, 2] frontal
    fits = {m: [[], []] for m in METHODS}
    missed = int(np.isnan(targets[:, :, 0, 0]).sum())
    for i in range(n):
        for v in range(2):
            target = None if np.isnan(targets[i, v, 0, 0]) else targets[i, v]
            for m, res in (fit_all(target, imit, trans, linear, prior) if target is not None else
                           {m: None for m in METHODS}).items():
                fits[m][v].append(res)
    names = [p.name for p in rig.space.params]
    observable = (np.isin(names, json.loads(OBSERVABLE.read_text())["observable"])
                  if OBSERVABLE.exists() else np.ones(len(names), bool))
    rows = {"observable parameters": int(observable.sum())}
    for m in METHODS:
        ok = [i for i in range(n) if fits[m][0][i] is not None]
        unit = np.array([fits[m][0][i].unit for i in ok])
        fitted_pts = solve.project(fit_ops.engine_landmarks(rig, unit))
        err = (unit - truth[ok]) / 2
        nmes = [solve.nme(fitted_pts[j], true_pts[i]) for j, i in enumerate(ok)]
        both = [i for i in ok if fits[m][1][i] is not None]
        a = np.array([fits[m][0][i].unit for i in both])
        b = np.array([fits[m][1][i].unit for i in both])
        dist = np.linalg.norm(a[:, None] - b[None], axis=2)
        rows[m] = dict(param_rmse=float(np.sqrt((err ** 2).mean()) * 100),
                       rmse_observable=float(np.sqrt((err[:, observable] ** 2).mean()) * 100),
                       rmse_unobservable=float(np.sqrt((err[:, ~observable] ** 2).mean()) * 100)
                       if (~observable).any() else float("nan"),
                       nme=float(np.mean(nmes) * 100), nme_median=float(np.median(nmes) * 100),
                       fit_nme=float(np.mean([fits[m][0][i].nme for i in ok]) * 100),
                       rank1=float((dist.argmin(axis=1) == np.arange(len(both))).mean() * 100),
                       ms=float(np.median([fits[m][0][i].seconds for i in ok]) * 1000))
    rows["renders without a detected face"] = missed
    return rows


def grid_frames() -> list[tuple[str, np.ndarray]]:
    """The first frame (RGB) of each GRID clip in ../shared (five people facing the camera,
    CC BY 4.0): real faces beside the astronaut; [] when the clips are missing."""
    import cv2
    frames = []
    for path in sorted(GRID.glob("*.mpg")):
        ok, bgr = cv2.VideoCapture(str(path)).read()
        if ok:
            frames.append((path.stem, np.ascontiguousarray(bgr[..., ::-1])))
    return frames


def photo_rows(rig, imit, trans, linear, rgb: np.ndarray, prior: float = solve.PRIOR,
               dlib: bool = True, style: str = "flat") -> tuple[dict, list]:
    """Every method's fit of one photo: per method render NME (MediaPipe on the fitted
    character's render in `style` against the photo), region IoU, dlib distance (`dlib`),
    imitator NME and ms; and the contact sheet's tiles (photo, average face, one-shot,
    iterative)."""
    photo_pts, _ = detect_landmarks(rgb)
    target = solve.normalise_target(photo_pts)
    tiles = [("photo", face_crop(rgb, photo_pts, TILE))]
    photo_id = identity.embedding(rgb, photo_pts) if dlib else None
    rows = {}
    for m, res in fit_all(target, imit, trans, linear, prior).items():
        render, pts = render_landmarks(rig, res.unit, style=style)
        row = dict(imitator_nme=res.nme * 100, ms=res.seconds * 1000)
        if pts is not None:
            row.update(render_nme=solve.nme(solve.normalise_target(pts),
                                            solve.normalise_target(photo_pts)) * 100,
                       region_iou=region_iou(pts[:, :2], photo_pts[:, :2]))
            if photo_id is not None:
                row["dlib_distance"] = identity.distance(photo_id, identity.embedding(render, pts))
        rows[m] = row
        if m in ("average face", "iterative", "one-shot"):
            tiles.append((m, face_crop(render, pts, TILE)))
    return rows, tiles


def astronaut(rig, imit, trans, linear, sheet: Path = SHEET, prior: float = solve.PRIOR,
              style: str = "flat") -> dict:
    """The astronaut's rows (photo_rows) with MediaPipe's and dlib's time per photo, the
    GRID frames' rows under "grid", and the contact sheet (one row per real face)."""
    rgb = read_photo(PHOTO)
    t0 = time.perf_counter()
    for _ in range(5):
        photo_pts, _ = detect_landmarks(rgb)
    mediapipe_ms = (time.perf_counter() - t0) / 5 * 1000
    t0 = time.perf_counter()
    found = identity.embedding(rgb, photo_pts)
    dlib_ms = (time.perf_counter() - t0) * 1000 if found is not None else float("nan")
    rows, tiles = photo_rows(rig, imit, trans, linear, rgb, prior, style=style)
    sheet_rows = [labelled_row(tiles)]
    rows["grid"] = {}
    for name, frame in grid_frames():
        rows["grid"][name], tiles = photo_rows(rig, imit, trans, linear, frame, prior, dlib=False,
                                                   style=style)
        sheet_rows.append(labelled_row(tiles))
    write_rgb(sheet, np.concatenate(sheet_rows, axis=0))
    rows["mediapipe_ms"] = mediapipe_ms
    rows["dlib_ms"] = dlib_ms
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--identities", type=int, default=51)
    ap.add_argument("--models", type=Path, help="use the imitator/translator in this folder "
                    "(e.g. checkpoints/fit/tuned) instead of the shipped ones")
    ap.add_argument("--prior", type=float, default=solve.PRIOR,
                    help="the Gauss-Newton fit's prior weight (default: the runtime's)")
    ap.add_argument("--out", default="evaluation.json", help="results file in checkpoints/fit/")
    ap.add_argument("--sheet", type=Path, default=SHEET, help="contact sheet path")
    ap.add_argument("--style", default="flat", choices=engine.STYLES,
                    help="render look of the synthetic renders (lab.fit.render_style)")
    ap.add_argument("--photo-style", choices=engine.STYLES,
                    help="render look of the fitted characters compared with the real faces "
                    "(default: --style)")
    args = ap.parse_args(argv)
    if args.models:
        fit_ops.SHIPPED = args.models
    rig, imit = builtin_rig()
    trans = fit_ops.ensure_translator(imit, log=print)
    linear = LinearFit(rig, imit)
    syn = (synthetic(rig, imit, trans, linear, args.identities, prior=args.prior, style=args.style)
           if args.identities else None)
    photo_style = args.photo_style or args.style
    photo = astronaut(rig, imit, trans, linear, args.sheet, args.prior, photo_style)
    out = dict(synthetic=syn, astronaut=photo, parameters=len(rig.space), style=args.style,
               photo_style=photo_style)
    (CHECKPOINTS / "fit").mkdir(parents=True, exist_ok=True)
    (CHECKPOINTS / "fit" / args.out).write_text(json.dumps(out, indent=1))

    if syn:
        _print_synthetic(syn, args.identities, len(rig.space))
    _print_photo(photo, args.sheet)


def _print_synthetic(syn: dict, n: int, n_params: int) -> None:
    print(f"\nSynthetic truth: {n} identities x 2 Blender renders (yaw/pitch "
          f"<= {engine.TURN} rad, light angle <= {engine.LIGHT} rad, {engine.EXPRESSION_KEYS} "
          f"expression keys <= {engine.EXPRESSION}), {n_params} parameters; "
          f"{syn['renders without a detected face']} renders without a detected face")
    n_obs = syn["observable parameters"]
    print(f"RMSE over all {n_params} parameters, the {n_obs} observable ones (MediaPipe R^2 >= 0.5, "
          f"lab/fit/observable.json) and the {n_params - n_obs} others")
    print("| method | parameter RMSE (% of range) | observable | unobservable | identity NME (%) | "
          "median NME (%) | fit residual NME (%) | rank-1 retrieval of 2nd render (%) | ms per photo |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in METHODS:
        r = syn[m]
        print(f"| {m} | {r['param_rmse']:.1f} | {r['rmse_observable']:.1f} | "
              f"{r['rmse_unobservable']:.1f} | {r['nme']:.2f} | {r['nme_median']:.2f} | "
              f"{r['fit_nme']:.2f} | {r['rank1']:.0f} | {r['ms']:.1f} |")


def _print_photo(photo: dict, sheet: Path = SHEET) -> None:
    print(f"\nAstronaut photo (MediaPipe {photo['mediapipe_ms']:.0f} ms, dlib embedding "
          f"{photo['dlib_ms']:.0f} ms per photo): MediaPipe on the fitted character's render "
          f"against the photo; dlib distance (same person below {identity.SAME_PERSON})")
    print("| method | render NME (%) | region IoU | dlib distance | imitator NME (%) | ms |")
    print("|---|---|---|---|---|---|")
    for m in METHODS:
        r = photo[m]
        print(f"| {m} | {r.get('render_nme', float('nan')):.2f} | "
              f"{r.get('region_iou', float('nan')):.3f} | {r.get('dlib_distance', float('nan')):.3f} | "
              f"{r['imitator_nme']:.2f} | {r['ms']:.1f} |")
    grid = photo.get("grid") or {}
    if grid:
        faces = [photo] + list(grid.values())
        print(f"\nReal faces: the astronaut and the first frame of {len(grid)} GRID clips "
              f"(five people); render NME per face, mean, and how much lower than the average "
              f"face's (mean of the per-face reductions)")
        print("| method | " + " | ".join(["astronaut"] + list(grid)) + " | mean render NME (%) | "
              "lower than the average face (%) | region IoU |")
        print("|---|" + "---|" * (len(faces) + 3))
        for m in METHODS:
            nme = np.array([f[m].get("render_nme", np.nan) for f in faces])
            base = np.array([f["average face"].get("render_nme", np.nan) for f in faces])
            iou = np.nanmean([f[m].get("region_iou", np.nan) for f in faces])
            print(f"| {m} | " + " | ".join(f"{v:.2f}" for v in nme) + f" | {np.nanmean(nme):.2f} | "
                  f"{np.nanmean((1 - nme / base) * 100):.0f} | {iou:.3f} |")
    print(f"\ncontact sheet: {sheet}")


if __name__ == "__main__":
    main()
