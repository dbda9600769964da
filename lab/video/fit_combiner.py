"""Fit the landmarker method's causal combiner (ml/video/refine.Combiner) on render-and-track
clips of *training* identities (lab/video/render_eval.py --seeds 0 1; the test identities
16-19 are never used): per shape, ridge regression of the true weight on the last TAPS
frames of the Face Landmarker's blendshape and of the FACS regressor's reading of the
same landmarks (both minus the actor's neutral), plus velocity and acceleration rows
(the temporal losses), shrunk toward a prior: the blendshape as it is, or the regressor's
reading for the shapes the blendshape model never moves (refine.FILL); tongueOut stays 0.
Writes ml/video/data/combiner.npz.

    python -m lab.video.render_eval --seeds 0 1      # once (bpy)
    python -m lab.video.fit_combiner [--ridge 30] [--vel 2] [--acc 1]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from faceforge.ml import arkit
from faceforge.ml.video import refine
from faceforge.ml.video.pipeline import landmarker_inputs
from faceforge.ml.video.regressor import load_regressor
from lab.video.eval_bake import FPS, render_tracks
from lab.video.face_model import FAMILIES
from lab.video.metrics import shape_scores, varies


def clip_inputs(family: str, seed: int, frames: int, reg):
    """(blendshapes, regressor, truth) [T, 52] of one fit clip, neutral removed."""
    _, face, z = render_tracks(family, seed, frames)
    _, shapes, regressed, _, _ = landmarker_inputs(face, FPS, "auto", reg)
    return shapes, regressed, z["weights"]


def prior() -> np.ndarray:
    """[52, 2, TAPS]: the blendshape now, or the regressor now for the fill-in shapes."""
    coef = np.zeros((arkit.NUM_SHAPES, 2, refine.TAPS), np.float32)
    coef[:, 0, 0] = 1.0
    coef[refine.FILL, 0, 0] = 0.0
    coef[refine.FILL, 1, 0] = 1.0
    coef[arkit.INDEX["tongueOut"]] = 0.0
    return coef


def design(shapes, regressed, s):
    """[T, 2*TAPS + 1] features of shape s: lagged blendshape, lagged regressor, 1."""
    return np.concatenate([refine.lagged(shapes[:, s:s + 1])[:, :, 0],
                           refine.lagged(regressed[:, s:s + 1])[:, :, 0],
                           np.ones((len(shapes), 1), np.float32)], axis=1)


def fit(clips, ridge: float, vel: float, acc: float) -> refine.Combiner:
    """Ridge fit per shape toward the prior, with velocity/acceleration rows per clip."""
    base = prior()
    coef, bias = base.copy(), np.zeros(arkit.NUM_SHAPES, np.float32)
    for s in range(arkit.NUM_SHAPES):
        if s == arkit.INDEX["tongueOut"]:
            continue
        rows, targets = [], []
        for shapes, regressed, truth in clips:
            x, y = design(shapes, regressed, s), truth[:, s]
            for order, w in ((0, 1.0), (1, vel), (2, acc)):
                rows.append(w * np.diff(x, order, axis=0))
                targets.append(w * np.diff(y, order))
        x, y = np.concatenate(rows), np.concatenate(targets)
        theta0 = np.r_[base[s].ravel(), 0.0]
        a = x.T @ x + ridge * np.eye(len(theta0))
        theta = np.linalg.solve(a, x.T @ y + ridge * theta0)
        coef[s] = theta[:-1].reshape(2, refine.TAPS)
        bias[s] = theta[-1]
    return refine.Combiner(coef, bias)


def mean_r(combiner, clips) -> float:
    truth = np.concatenate([c[2] for c in clips])
    pred = np.clip(np.concatenate([combiner(c[0], c[1]) for c in clips]), 0, 1)
    sc = shape_scores(truth, pred)
    return float(np.nanmean(sc["corr"][varies(sc)]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--ridge", type=float, default=30.0)
    ap.add_argument("--vel", type=float, default=2.0)
    ap.add_argument("--acc", type=float, default=1.0)
    ap.add_argument("--out", default=str(refine.COMBINER))
    args = ap.parse_args(argv)
    assert not set(args.seeds) & {16, 17, 18, 19}, "seeds 16-19 are the test identities"
    reg = load_regressor()
    clips = {f: [clip_inputs(f, s, args.frames, reg) for s in args.seeds] for f in FAMILIES}
    print("leave-one-family-out (fit on one family's training identities, score the other):")
    for test in FAMILIES:
        train = [c for f in FAMILIES if f != test for c in clips[f]]
        print(f"  {test}: prior {mean_r(refine.Combiner(prior(), np.zeros(52)), clips[test]):.3f}, "
              f"fitted {mean_r(fit(train, args.ridge, args.vel, args.acc), clips[test]):.3f}")
    combiner = fit([c for f in FAMILIES for c in clips[f]], args.ridge, args.vel, args.acc)
    np.savez(args.out, coef=combiner.coef, bias=combiner.bias)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None)
