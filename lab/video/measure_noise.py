"""Measure MediaPipe's tracking noise on synthetic heads: render random performances of
bound identities (Workbench, 640x480), track them like a video, and compare the tracked
landmarks with the analytic ones of the same weights, pose and camera. Writes the noise
model (per-landmark offset and jitter std in face heights, lag-one correlation, z scale)
to checkpoints/video_bindings/noise.npz for training.

    python -m lab.video.measure_noise [--seeds 0 1] [--frames 60]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from lab.video.face_render import render_clip
from lab.video.face_model import BINDINGS, FAMILIES, Camera, load_model, make_head, posed, project
from lab.video.synth import random_head_path, random_weights
from faceforge.ml.video.tracking import FaceTracker

SIZE = (640, 480)


def residuals(family: str, seed: int, frames: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """(tracked - analytic) [T,478,3] in face-height pixel units, and the tracked/analytic
    z slope, for one rendered random clip (frames the tracker lost are dropped)."""
    head, model = make_head(family, seed), load_model(family, seed)
    fps = 30.0
    weights = random_weights(rng, frames, fps, hold_neutral=10)
    euler = random_head_path(rng, frames, fps, scale=0.7)
    cam = Camera(0.55, 50.0, (0.0, -0.03), SIZE)
    analytic = project(posed(model, weights, euler), cam)
    with FaceTracker() as tracker:
        tracked = [tracker(rgb) for rgb in render_clip(head, weights, euler, cam)]
    ok = np.array([t is not None for t in tracked])
    tracked = np.stack([t for t in tracked if t is not None])
    analytic = analytic[ok]
    face_px = np.ptp(analytic[:, :, 1], axis=1).mean() * SIZE[1]
    r = (tracked - analytic) * np.array([SIZE[0], SIZE[1], SIZE[0]]) / face_px
    zc_t = tracked[..., 2] - tracked[..., 2].mean(1, keepdims=True)
    zc_a = analytic[..., 2] - analytic[..., 2].mean(1, keepdims=True)
    slope = float((zc_t * zc_a).sum() / (zc_a * zc_a).sum())
    print(f"{family} {seed}: tracked {ok.sum()}/{frames}, rms residual xy "
          f"{np.sqrt((r[..., :2] ** 2).mean()):.4f} face heights, z slope {slope:.2f}", flush=True)
    return r, slope


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--frames", type=int, default=60)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(1234)
    res, slopes = [], []
    for family in FAMILIES:
        for seed in args.seeds:
            r, s = residuals(family, seed, args.frames, rng)
            res.append(r)
            slopes.append(s)
    xy = [r[..., :2] for r in res]
    offset = np.sqrt(np.mean([(r.mean(0) ** 2).mean(-1) for r in xy], axis=0))
    centred = [r - r.mean(0) for r in xy]
    jitter = np.sqrt(np.concatenate([(c ** 2).mean(-1) for c in centred]).mean(0))
    lag = np.concatenate([(c[1:] * c[:-1]).reshape(-1) for c in centred]).mean()
    rho = float(lag / np.concatenate([(c ** 2).reshape(-1) for c in centred]).mean())
    np.savez(BINDINGS / "noise.npz", offset=offset.astype(np.float32),
             jitter=jitter.astype(np.float32), rho=rho, z_scale=np.array(slopes))
    print(f"offset std median {np.median(offset):.4f} (p90 {np.percentile(offset, 90):.4f}), "
          f"jitter std median {np.median(jitter):.4f} (p90 {np.percentile(jitter, 90):.4f}), "
          f"rho {rho:.2f}, z slope {np.mean(slopes):.2f} +- {np.std(slopes):.2f}")


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None)
