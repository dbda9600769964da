"""Probe: the bake's still-face filter (`refine.steady`: a One Euro filter whose cutoff
also opens with the landmarks' own motion, run forward and backward) against the causal
One Euro filter it replaced, on the same pre-filter weights (one tracker, `refine.blend`
clipped). Prints per setting: mean r, static jitter and lag on render-and-track clips of
both families; on GRID the jawOpen~audio r and lag, jitter on silent stretches, blinks
found of the 7 seen, and the lowest share of a seen blink's unfiltered peak kept.

Choose on the training identities (`--seeds 0 1`) and GRID; run the choice once on the
test identities. Uses the tracks cached by eval_bake.

    python -m lab.video.probe_still_filter --seeds 0 1
    python -m lab.video.probe_still_filter --seeds 16 17 18 19 --only raw "one euro" shipped
"""
from __future__ import annotations

import argparse

import numpy as np

from faceforge.ml import arkit
from faceforge.ml.video import refine
from faceforge.ml.video.landmarker import with_blendshapes
from faceforge.ml.video.pipeline import grid_landmarks, landmarker_inputs
from faceforge.ml.video.regressor import load_regressor
from lab.video.eval_bake import (BLINKS_SEEN, FPS, GRID, MAX_LAG, blink_hits, blink_onsets,
                                 clip_lag, grid_tracks, raw_blendshapes, render_tracks,
                                 still_frames)
from lab.video.evaluate import audio_envelope, best_lag, visible_shapes
from lab.video.face_model import FAMILIES, load_model
from lab.video.metrics import dead_channels, jitter, shape_scores, static_mask, varies

EYES = refine.EYES
BLINK = [arkit.INDEX["eyeBlinkLeft"], arkit.INDEX["eyeBlinkRight"]]


def variants() -> dict:
    """name -> f(pre [T,52], fps, motion [T,52]) -> filtered [T,52]; None for raw MediaPipe."""
    out = {"raw": None,
           "none": lambda w, fps, m: w,
           "one euro": lambda w, fps, m: refine.one_euro(w, fps),
           "shipped": lambda w, fps, m: refine.steady(w, fps, m)}
    for mc, beta in ((0.5, 8.0), (1.5, 8.0), (0.5, 1.0)):
        out[f"zero-phase {mc}/{beta}, no gate"] = (
            lambda w, fps, m, mc=mc, beta=beta: refine.steady(w, fps, m, mc, beta, gain=0.0))
    out["gated, all 0.25/0/0.5/0.5"] = lambda w, fps, m: refine.steady(w, fps, m, 0.25, 0.0)
    brows = np.array([n.startswith("brow") for n in arkit.ARKIT_NAMES])
    for fast, label in ((EYES, "eyes"), (EYES | brows, "eyes and brows")):
        for mc in (0.25, 0.5):
            for gain in (0.5, 1.0):
                for smooth in (0.3, 0.5):
                    cut = np.where(fast, 0.5, mc).astype(np.float32)
                    beta = np.where(fast, 8.0, 0.0).astype(np.float32)
                    out[f"gated, {label} 0.5/8, rest {mc}/0/{gain}/{smooth}"] = (
                        lambda w, fps, m, cut=cut, beta=beta, gain=gain, smooth=smooth:
                        refine.steady(w, fps, m, cut, beta, gain, smooth))
    return out


def prefilter(reading, rate: float, reg):
    """(blended weights before any filter [T,52], refine.shape_motion [T,52])."""
    grid, shapes, regressed, _, _ = landmarker_inputs(reading, rate, "auto", reg)
    pre = np.clip(refine.blend(shapes, regressed), 0.0, 1.0).astype(np.float32)
    motion = refine.shape_motion(grid_landmarks(reading, grid), reading.size[0] / reading.size[1],
                                 reg.template, reg.stable)
    return pre, motion


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--only", nargs="*", help="variant names to run (default all)")
    ap.add_argument("--frames", type=int, default=150)
    args = ap.parse_args()
    reg = load_regressor()
    names = variants()
    if args.only:
        names = {k: v for k, v in names.items() if k in args.only}
    renders = {}
    for family in FAMILIES:
        clips = []
        for s in args.seeds:
            mesh, face, z = render_tracks(family, s, args.frames)
            clips.append((*prefilter(with_blendshapes(mesh), FPS, reg), z, raw_blendshapes(face)))
        vis = np.all([visible_shapes(load_model(family, s)) for s in args.seeds], axis=0)
        renders[family] = (clips, vis)
    grids = []
    for clip in sorted(GRID.glob("*.mpg")):
        mesh, face, _ = grid_tracks(clip)
        rate = 1.0 / np.median(np.diff(mesh.times))
        env = audio_envelope(clip, mesh.times)
        grids.append((*prefilter(with_blendshapes(mesh), rate, reg), rate, env, still_frames(env),
                      raw_blendshapes(face), BLINKS_SEEN[clip.stem]))
    print(f"seeds {args.seeds}; one tracker; filters on refine.blend's clipped weights\n")
    print("| filter | " + " | ".join(f"{f} r / static jitter / lag (frames) / dead" for f in FAMILIES)
          + " | GRID jaw r / lag ms / silent jitter / blinks of 7 / lowest blink peak kept |")
    print("|---|" + "---|" * (len(FAMILIES) + 1))
    for name, fn in names.items():
        cells = []
        for family in FAMILIES:
            clips, vis = renders[family]
            truth, preds, jits = [], [], []
            for pre, motion, z, raw in clips:
                w = raw if fn is None else fn(pre, FPS, motion)
                truth.append(z["weights"]), preds.append(w)
                jits.append(jitter(w, static_mask(z["weights"], z["euler"])))
            sc = shape_scores(np.concatenate(truth), np.concatenate(preds))
            keep = np.flatnonzero(varies(sc) & vis)
            lag = np.mean([clip_lag(t, w, keep) for t, w in zip(truth, preds)])
            dead = int((dead_channels(sc) & vis).sum())
            cells.append(f"{np.nanmean(sc['corr'][keep]):.3f} / {np.mean(jits):.5f} / {lag:+.1f} "
                         f"/ {dead}")
        jaw, lags, sil, hits, peaks = [], [], [], 0, []
        for pre, motion, rate, env, still, raw, seen in grids:
            w = raw if fn is None else fn(pre, rate, motion)
            c, lag = best_lag(w[:, arkit.INDEX["jawOpen"]], env, max_lag=MAX_LAG)
            jaw.append(c), lags.append(lag), sil.append(jitter(w, still))
            hits += blink_hits(blink_onsets(w), seen)[0]
            peaks += [w[a - 2:b + 3, BLINK].mean(1).max()
                      / max(pre[a - 2:b + 3, BLINK].mean(1).max(), 1e-6) for a, b in seen]
        print(f"| {name} | " + " | ".join(cells) + f" | {np.mean(jaw):.3f} / "
              f"{1000 * np.mean(lags) / 25:+.0f} / {np.nanmean(sil):.5f} / {hits} / "
              f"{min(peaks):.2f} |", flush=True)


if __name__ == "__main__":
    main()
