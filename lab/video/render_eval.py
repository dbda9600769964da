"""Render the held-out render-and-track test clips once (bpy, Workbench, 640x480, 30 fps):
identities never trained on, of both head families, performing eval_performance's known
weights and head motion. Frames, truth and the heads' landmark bindings are cached in
checkpoints/video_eval/ for lab/video/eval_bake.py (which needs no bpy).

    python -m lab.video.render_eval [--seeds 16 17 18 19] [--frames 150]
"""
from __future__ import annotations

import argparse
import sys

from dataclasses import replace

import numpy as np

from lab.video.evaluate import eval_performance
from lab.video.face_model import FAMILIES, binding_path, make_head
from ..paths import CHECKPOINTS

CACHE = CHECKPOINTS / "video_eval"


def frames_path(family: str, seed: int, frames: int):
    return CACHE / f"frames_{family}_{seed:03d}_{frames}.npz"


def render_one(family: str, seed: int, frames: int, size: tuple[int, int] | None = None) -> None:
    """Render one test clip (and bind its head's landmarks, for the visibility mask)."""
    from lab.video.face_render import render_clip
    head = make_head(family, seed)
    if not binding_path(family, seed).exists():
        from mediapipe.python.solutions.face_mesh import FaceMesh
        from lab.video.bind_landmarks import bind
        with FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as mesh:
            out = bind(head, mesh)
        binding_path(family, seed).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(binding_path(family, seed), **out)
    weights, euler, cam = eval_performance(family, seed, frames)
    if size is not None:  # fit clips: smaller frames render faster, tracking is resolution-free
        cam = replace(cam, size=tuple(size))
    rgb = np.stack(render_clip(head, weights, euler, cam))
    np.savez_compressed(frames_path(family, seed, frames), frames=rgb, weights=weights,
                        euler=euler, aspect=cam.size[0] / cam.size[1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--seeds", type=int, nargs="+", default=[16, 17, 18, 19])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES))
    ap.add_argument("--size", type=int, nargs=2, help="frame size (default: the test clips' 640x480)")
    args = ap.parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    for family in args.families:
        for seed in args.seeds:
            if not frames_path(family, seed, args.frames).exists():
                print(f"rendering {family} {seed} ({args.frames} frames) ...", flush=True)
                render_one(family, seed, args.frames, args.size)


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None)
