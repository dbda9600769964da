"""Render random performances of TRAINING identities (seeds 0..TRAIN_SEEDS-1 of each
family; the evaluation's held-out heads are never used), track the renders with MediaPipe
exactly as the pipeline does (frames -> image sequence -> ml.video.tracking.track), and
save one npz shard per clip for fine-tuning the regressor on tracked landmarks
(train --tracked): landmarks [T,478,3] (NaN where lost), found [T], true weights [T,52],
true head Euler [T,3], aspect, fps. Resumable (existing shards are skipped); clip k is
done by worker k % workers, so several processes can share the list.

    python -m lab.video.render_training --clips 200 --frames 64 --worker 0 --workers 2
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from lab.video.face_model import FAMILIES, make_head
from lab.video.synth import random_camera, random_head_path, random_weights
from faceforge.ml.video.decode import open_video
from faceforge.ml.video.tracking import NoFaceError, track
from lab.video.train import TRAIN_SEEDS
from ..paths import CHECKPOINTS

OUT = CHECKPOINTS / "video_tracked"
FPS_CHOICES = (24.0, 25.0, 30.0, 30.0, 60.0)
SIZE = (480, 360)  # render width, height (tracks as accurately as 640x480, faster)


@lru_cache(maxsize=8)
def head_of(family: str, seed: int):
    return make_head(family, seed)


def clip_plan(k: int, frames: int, size: tuple[int, int] = SIZE):
    """Clip `k`'s family, identity, fps, weights [T,52], head Euler [T,3] and camera, all
    drawn from k alone (so the tracker-map fit can regenerate its analytic landmarks)."""
    rng = np.random.default_rng([31, k])
    family, seed = FAMILIES[k % len(FAMILIES)], int(rng.integers(TRAIN_SEEDS))
    fps = float(rng.choice(FPS_CHOICES))
    weights = random_weights(rng, frames, fps)
    euler = random_head_path(rng, frames, fps)
    cam = random_camera(rng, size)
    return family, seed, fps, weights, euler, cam


def make_clip(k: int, frames: int, size: tuple[int, int], out: Path) -> None:
    """Render, track and save clip `k` (its family, identity and performance follow from k)."""
    from lab.video.face_render import render_clip  # bpy: only where rendering happens
    family, seed, fps, weights, euler, cam = clip_plan(k, frames, size)
    rgb = render_clip(head_of(family, seed), weights, euler, cam)
    with tempfile.TemporaryDirectory() as tmp:
        for i, img in enumerate(rgb):
            cv2.imwrite(f"{tmp}/f{i:04d}.png", img[..., ::-1])
        try:
            tr = track(open_video(Path(tmp), fps=fps))
            landmarks, found = tr.landmarks, tr.found
        except NoFaceError:
            landmarks = np.full((frames, 478, 3), np.nan, np.float32)
            found = np.zeros(frames, bool)
    part = out.with_suffix(".part.npz")  # renamed when complete: a killed run leaves no torn shard
    np.savez_compressed(part, landmarks=landmarks, found=found, weights=weights, euler=euler,
                        aspect=cam.size[0] / cam.size[1], fps=fps, family=family, seed=seed)
    part.rename(out)
    print(f"{out.name}: {family} {seed}, {fps:g} fps, lens {cam.lens:.0f} mm, "
          f"tracked {found.mean():.0%}", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=200, help="clips in the whole list (all workers)")
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--size", type=int, nargs=2, default=SIZE,
                    help="render width height (480x360 tracks as accurately as 640x480, faster)")
    ap.add_argument("--worker", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for k in range(args.worker, args.clips, args.workers):
        path = args.out / f"clip_{k:05d}.npz"
        if path.exists():
            continue
        start = time.time()
        make_clip(k, args.frames, tuple(args.size), path)
        print(f"  {(time.time() - start) / args.frames:.2f} s/frame", flush=True)


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None)
