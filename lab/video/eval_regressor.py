"""Evaluate the FACS regressor against the per-frame least-squares baseline.

1. Render-and-track: held-out identities of both head families (Workbench, 640x480,
   painted) perform known weight sequences and head motion; MediaPipe tracks the
   renders (ml.video.tracking.track); the regressor and the baseline read the tracks.
   Cross-family: regressors trained on one family only (train --families) read the
   other family's clips. Renders and tracks are cached in checkpoints/video_eval/.
2. Real GRID clips: detection rate, jawOpen versus audio envelope (correlation, lag),
   blink count, jitter.

    python -m lab.video.eval_regressor [--frames 150] [--seeds 16 17] \
        [--ict-only checkpoints/video_regressor/ict_map/facs_regressor.npz] \
        [--anny-only checkpoints/video_regressor/anny_map/facs_regressor.npz]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from faceforge.ml.arkit import ARKIT_NAMES
from lab.video.baseline import PerFrameBaseline
from lab.video.evaluate import (MIN_GAIN, EvalClip, audio_envelope, eval_performance, grid_row,
                                         score, shape_table, table, visible_shapes)
from lab.video.face_model import BINDINGS, FAMILIES, load_model, make_head
from faceforge.ml.video.regressor import load_regressor
from faceforge.ml.video.tracking import track
from lab.video.train import TRAIN_SEEDS, load_models, template_of
from ..paths import CHECKPOINTS, ROOT, SHARED_DATA

CACHE = CHECKPOINTS / "video_eval"
GRID = SHARED_DATA / "video" / "grid"


def rendered_clip(family: str, seed: int, frames: int) -> EvalClip:
    """Render (bpy) and track one test clip, cached by family, seed and length."""
    path = CACHE / f"{family}_{seed:03d}_{frames}.npz"
    if not path.exists():
        print(f"rendering and tracking {path.name} ...", flush=True)
        from lab.video.face_render import render_clip
        weights, euler, cam = eval_performance(family, seed, frames)
        rgb = render_clip(make_head(family, seed), weights, euler, cam)
        with tempfile.TemporaryDirectory() as tmp:
            for i, img in enumerate(rgb):
                cv2.imwrite(f"{tmp}/f{i:04d}.png", img[..., ::-1])
            tr = track(Path(tmp))
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, weights=weights, euler=euler, landmarks=tr.landmarks,
                            found=tr.found, aspect=cam.size[0] / cam.size[1])
    z = np.load(path)
    lm = z["landmarks"]
    if np.isnan(lm).any():  # long losses: hold the nearest tracked frame
        ok = np.flatnonzero(~np.isnan(lm).any(axis=(1, 2)))
        lm = lm[ok[np.clip(np.searchsorted(ok, np.arange(len(lm))), 0, len(ok) - 1)]]
    return EvalClip(f"{family}_{seed}", z["weights"], z["euler"], lm, z["found"], float(z["aspect"]))


def baseline_for(families) -> PerFrameBaseline:
    models = load_models(families, range(TRAIN_SEEDS))
    template, stable = template_of(models)
    return PerFrameBaseline(models, template, stable)


def rotation_error(clips, preds) -> float:
    """Mean absolute head-rotation error in degrees."""
    return float(np.degrees(np.mean([np.abs(p - c.euler).mean() for c, p in zip(clips, preds)])))


def render_and_track(args) -> None:
    main_reg = load_regressor(args.regressor)
    base = baseline_for(FAMILIES)
    clips = {f: [rendered_clip(f, s, args.frames) for s in args.seeds] for f in FAMILIES}
    for f in FAMILIES:
        found = np.concatenate([c.found for c in clips[f]])
        print(f"{f}: {len(clips[f])} clips x {args.frames} frames, tracked {found.mean():.1%}")
    rows, shape_cols = [], []
    for f in FAMILIES:
        gain = np.load(BINDINGS / "response.npz")[f"{f}.gain"]
        geometric = np.all([visible_shapes(load_model(f, s)) for s in args.seeds], axis=0)
        vis = np.all([visible_shapes(load_model(f, s), gain) for s in args.seeds], axis=0)
        print(f"{f}: shapes that move no landmark: "
              f"{', '.join(n for n, v in zip(ARKIT_NAMES, geometric) if not v) or 'none'}; "
              f"moving but followed by MediaPipe at < {MIN_GAIN:.0%} (not 'visible'): "
              f"{', '.join(n for n, v, g in zip(ARKIT_NAMES, vis, geometric) if g and not v) or 'none'}")
        methods = [("regressor (both families)", main_reg), ("per-frame baseline", base)]
        other = "ict" if f == "anny" else "anny"
        cross = args.ict_only if f == "anny" else args.anny_only
        if cross and cross.exists():
            methods.append((f"regressor trained on {other} only", load_regressor(cross)))
            methods.append((f"baseline from {other} only", baseline_for([other])))
        for name, method in methods:
            out = [method.predict(c.landmarks, c.aspect) for c in clips[f]]
            s = score(clips[f], [o[0] for o in out], vis)
            s["rot"] = rotation_error(clips[f], [o[1] for o in out])
            rows.append((f"{f} held-out ids", name, s))
            if f == "anny" or name.startswith("regressor (both") or name.startswith("per-frame"):
                shape_cols.append((f"{f}: {name}", s))
    print("\n## Render-and-track\n")
    print(table(rows))
    for f in FAMILIES:
        got = {m: sc for t, m, sc in rows if t.startswith(f)}
        reg, base = got["regressor (both families)"], got["per-frame baseline"]
        print(f"\n{f}: regressor / baseline static jitter = {reg['jitter'] / base['jitter']:.2f}; "
              f"mean corr (visible) {reg['corr']:.3f} vs {base['corr']:.3f}")
    print("\nHead rotation mean abs error (deg): " +
          "; ".join(f"{t} / {m}: {s['rot']:.2f}" for t, m, s in rows))
    for f in FAMILIES:
        cols = [(n, s) for n, s in shape_cols if n.startswith(f)]
        print(f"\n### Per-shape correlation, {f}\n")
        print(shape_table([n for n, _ in cols], [s for _, s in cols]))


def grid(args) -> None:
    reg, base = load_regressor(args.regressor), baseline_for(FAMILIES)
    rows = []
    for clip in sorted(GRID.glob("*.mpg")):
        tr = track(clip)
        lm = tr.landmarks
        if np.isnan(lm).any():
            continue
        env = audio_envelope(clip, tr.times)
        aspect = tr.size[0] / tr.size[1]
        for name, method in (("regressor", reg), ("baseline", base)):
            rows.append((name, grid_row(clip.stem, tr, method.predict(lm, aspect)[0], env)))
    print("\n## GRID clips (real video, no labels)\n")
    print("| clip | method | detection | jawOpen~audio corr | lag (frames) | blinks | jitter (median abs frame diff) |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {r['clip']} | {name} | {r['detection']:.0%} | {r['jaw_corr']:.2f} | {r['jaw_lag']} "
              f"| {r['blinks']} | {r['jitter']:.4f} |")
    for name in ("regressor", "baseline"):
        rs = [r for n, r in rows if n == name]
        print(f"| mean | {name} | {np.mean([r['detection'] for r in rs]):.0%} "
              f"| {np.nanmean([r['jaw_corr'] for r in rs]):.2f} "
              f"| {np.mean([r['jaw_lag'] for r in rs]):.1f} | {np.mean([r['blinks'] for r in rs]):.1f} "
              f"| {np.mean([r['jitter'] for r in rs]):.4f} |")


def ensure_measurements() -> None:
    """From a clean clone: bind the heads and measure the tracker's noise and response
    first (the baseline and the visibility column need them; ~10 minutes, once)."""
    from lab.video import bind_landmarks, measure_noise, measure_response
    bind_landmarks.main([])
    if not (BINDINGS / "noise.npz").exists():
        measure_noise.main([])
    if not (BINDINGS / "response.npz").exists():
        measure_response.main([])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--seeds", type=int, nargs="+", default=[16, 17])
    ap.add_argument("--regressor", type=Path, default=None, help="npz (default: the committed one)")
    ap.add_argument("--ict-only", type=Path, default=ROOT / "checkpoints/video_regressor/ict_map/facs_regressor.npz")
    ap.add_argument("--anny-only", type=Path, default=ROOT / "checkpoints/video_regressor/anny_map/facs_regressor.npz")
    ap.add_argument("--skip-grid", action="store_true")
    args = ap.parse_args(argv)
    ensure_measurements()
    render_and_track(args)
    if not args.skip_grid:
        grid(args)


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None)
