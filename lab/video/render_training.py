"""Render random performances of TRAINING identities (seeds 0..TRAIN_SEEDS-1 of each
family; the evaluation's held-out heads are never used), track the renders with MediaPipe
exactly as the pipeline does (frames -> image sequence -> ml.video.tracking.track), and
save one npz shard per clip for fine-tuning the regressor on tracked landmarks
(train --tracked): landmarks [T,478,3] (NaN where lost), found [T], true weights [T,52],
true head Euler [T,3], aspect, fps. Resumable (existing shards are skipped); clip k is
done by worker k % workers, so several processes can share the list.

With --landmarker the clips are 30 fps, rendered with FXAA (5x faster than Workbench's
8-sample anti-aliasing, which the test clips keep), their frames are kept (frames_k.npz) and five
video-like variants of each (clean, mirrored, JPEG, noise + motion blur, both) are tracked
as the default bake tracks them (Face Landmarker + Face Mesh, ml.video.landmarker
.track_face), saved in eval_bake's track format plus the truth (clip_k_VARIANT.npz): the
temporal network's training data (lab/video/train_temporal.py). Tracking a variant costs
a few percent of rendering its frames.

    python -m lab.video.render_training --clips 200 --frames 64 --worker 0 --workers 2
    python -m lab.video.render_training --landmarker --clips 400 --frames 96
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
OUT_FL = CHECKPOINTS / "video_tracked_fl"
FPS_CHOICES = (24.0, 25.0, 30.0, 30.0, 60.0)
SIZE = (480, 360)  # render width, height (tracks as accurately as 640x480, faster)


@lru_cache(maxsize=8)
def head_of(family: str, seed: int):
    return make_head(family, seed)


def clip_plan(k: int, frames: int, size: tuple[int, int] = SIZE, fps: float | None = None):
    """Clip `k`'s family, identity, fps, weights [T,52], head Euler [T,3] and camera, all
    drawn from k alone (so the tracker-map fit can regenerate its analytic landmarks)."""
    rng = np.random.default_rng([31, k])
    family, seed = FAMILIES[k % len(FAMILIES)], int(rng.integers(TRAIN_SEEDS))
    drawn = float(rng.choice(FPS_CHOICES))
    fps = drawn if fps is None else fps
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


def degrade(rgb: np.ndarray, variant: str, rng) -> np.ndarray:
    """A video-like copy of the frames [T,H,W,3] uint8: "clean"; "mirror" (left-right
    flipped); "jpeg" (quality 25-60 per clip); "noisy" (half-frame motion blur with the
    previous frame, sensor noise 2-6 levels, JPEG 40-80); "mirror_noisy"."""
    out = rgb[:, :, ::-1] if variant.startswith("mirror") else rgb
    if variant.endswith("noisy"):
        prev = np.concatenate([out[:1], out[:-1]]).astype(np.float32)
        blur = float(rng.uniform(0.0, 0.5))
        noisy = (1 - blur) * out + blur * prev + rng.normal(0, rng.uniform(2, 6), out.shape)
        out = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
    if variant in ("jpeg", "noisy", "mirror_noisy"):
        quality = int(rng.integers(25, 61)) if variant == "jpeg" else int(rng.integers(40, 81))
        out = np.stack([cv2.imdecode(cv2.imencode(".jpg", f[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])[1],
                                     cv2.IMREAD_COLOR)[..., ::-1] for f in out])
    return np.ascontiguousarray(out)


VARIANTS = ("clean", "mirror", "jpeg", "noisy", "mirror_noisy")


def make_landmarker_clip(k: int, frames: int, size: tuple[int, int], out: Path) -> None:
    """Render clip `k` at 30 fps (frames cached as frames_k.npz), and track each of its
    video-like VARIANTS with the Face Landmarker and Face Mesh as the default bake does;
    save the tracks and the truth (mirrored for mirrored variants) in eval_bake's cache
    format as clip_k_VARIANT.npz."""
    from lab.video.eval_bake import ArraySource, _save_tracks
    from faceforge.ml.arkit import MIRROR
    from faceforge.ml.video.landmarker import track_face
    family, seed, fps, weights, euler, cam = clip_plan(k, frames, size, fps=30.0)
    cache = out.parent / f"frames_{k:05d}.npz"
    if cache.exists():
        rgb = np.load(cache)["frames"]
    else:
        from lab.video.face_render import render_clip
        rgb = np.stack(render_clip(head_of(family, seed), weights, euler, cam, aa="FXAA"))
        np.savez_compressed(cache.with_suffix(".part.npz"), frames=rgb)
        cache.with_suffix(".part.npz").rename(cache)
    rng = np.random.default_rng([32, k])
    for variant in VARIANTS:
        path = out.parent / f"clip_{k:05d}_{variant}.npz"
        if path.exists():
            continue
        video = degrade(rgb, variant, rng)
        mirror = variant.startswith("mirror")
        try:
            mesh = track(ArraySource(video, fps, f"clip{k}"))
            face = track_face(ArraySource(video, fps, f"clip{k}"), two_trackers=True)
        except NoFaceError:
            print(f"{path.name}: no face tracked", flush=True)
            continue
        part = path.with_suffix(".part.npz")
        _save_tracks(part, mesh, face, weights=weights[:, MIRROR] if mirror else weights,
                     euler=euler * ([1, -1, -1] if mirror else 1), family=family, seed=seed,
                     variant=variant)
        part.rename(path)
        print(f"{path.name}: {family} {seed}, lens {cam.lens:.0f} mm, tracked "
              f"{face.found.mean():.0%} (Face Mesh {mesh.found.mean():.0%})", flush=True)
    out.touch()  # the clip is done


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=200, help="clips in the whole list (all workers)")
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--size", type=int, nargs=2, default=SIZE,
                    help="render width height (480x360 tracks as accurately as 640x480, faster)")
    ap.add_argument("--worker", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, help=f"default {OUT}, with --landmarker {OUT_FL}")
    ap.add_argument("--landmarker", action="store_true",
                    help="30 fps clips tracked by the Face Landmarker and Face Mesh (temporal network data)")
    args = ap.parse_args(argv)
    args.out = args.out or (OUT_FL if args.landmarker else OUT)
    args.out.mkdir(parents=True, exist_ok=True)
    make = make_landmarker_clip if args.landmarker else make_clip
    for k in range(args.worker, args.clips, args.workers):
        path = args.out / f"clip_{k:05d}.npz"
        if path.exists() or path.with_suffix(".noface.npz").exists():
            continue
        start = time.time()
        make(k, args.frames, tuple(args.size), path)
        print(f"  {(time.time() - start) / args.frames:.2f} s/frame", flush=True)


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None)
