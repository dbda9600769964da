"""Bind MediaPipe's 478 face-mesh landmarks to synthetic heads: render each neutral head
once (Workbench, painted, frontal), run the face mesh on the render and ray-cast every
landmark onto the surface (triangle + barycentric). Writes one npz per identity to
checkpoints/video_bindings/ with the head's linear landmark model (neutral + 52 deltas).

    python -m lab.video.bind_landmarks [--count 20] [--families anny ict]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import bpy
import numpy as np

from lab.video.face_render import build_painted_head, render_rgb, setup_scene
from lab.video.face_model import (BINDINGS, FAMILIES, Camera, binding_path,
                                           landmark_model, make_head, project, ray_cast, rays)
from faceforge.ml.video.tracking import landmarks_array

BIND_CAMERA = Camera(distance=0.6, lens=50.0, offset=(0.0, -0.035))


def bind(head, mesh_tracker) -> dict | None:
    """Render, detect and ray-cast one head; None when MediaPipe finds no face."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    build_painted_head(head)
    setup_scene(scene, BIND_CAMERA)
    faces = mesh_tracker.process(render_rgb(scene)).multi_face_landmarks
    if not faces:
        return None
    tracked = landmarks_array(faces[0])
    origin = np.array([BIND_CAMERA.offset[0], -BIND_CAMERA.distance, BIND_CAMERA.offset[1]])
    ok = np.flatnonzero(head.ray_ok)
    tri, bary = ray_cast(origin, rays(tracked, BIND_CAMERA), head.verts, head.tris[ok])
    miss = tri < 0
    if miss.any():  # silhouette points: the triangle nearest the ray, at its centroid
        cent = head.verts[head.tris[ok]].mean(axis=1) - origin
        d = rays(tracked[miss], BIND_CAMERA)
        along = cent @ d.T
        dist = np.linalg.norm(cent[:, None, :] - along[..., None] * d[None], axis=2)
        tri[miss] = dist.argmin(axis=0)
        bary[miss] = 1.0 / 3.0
    tri = ok[tri]
    model = landmark_model(head, tri, bary)
    analytic = project(model.neutral[None], BIND_CAMERA)[0]
    return dict(tri=tri.astype(np.int32), bary=bary.astype(np.float32), neutral=model.neutral,
                deltas=model.deltas, tracked=tracked, analytic=analytic, missed=miss)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=20, help="identities per family (seeds 0..count-1)")
    ap.add_argument("--families", nargs="+", default=list(FAMILIES))
    ap.add_argument("--out", type=Path, default=BINDINGS)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from mediapipe.python.solutions.face_mesh import FaceMesh
    with FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as mesh_tracker:
        for family in args.families:
            for seed in range(args.count):
                path = binding_path(family, seed, args.out)
                if path.exists():
                    continue
                out = bind(make_head(family, seed), mesh_tracker)
                if out is None:
                    print(f"{family} {seed}: no face detected, skipped", flush=True)
                    continue
                np.savez_compressed(path, **out)
                err = np.abs(out["tracked"][:, :2] - out["analytic"][:, :2]).max()
                zfit = np.polyfit(out["analytic"][:, 2], out["tracked"][:, 2], 1)
                print(f"{family} {seed}: {out['missed'].sum()} silhouette misses, max xy "
                      f"round-trip {err:.2e}, tracked z = {zfit[0]:.3f} z_analytic + {zfit[1]:.4f}",
                      flush=True)


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None)
