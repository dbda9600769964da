"""Measure how MediaPipe's landmarks respond to each ARKit shape on synthetic heads:
render a bound identity frontally at neutral and with each shape at weight 1, track each
still, and compare the tracked landmark motion with the analytic (surface-bound) motion.
Writes checkpoints/video_bindings/response.npz: per family, the mean correction
[52,478,3] (metres, head frame) that training adds to the analytic deltas, and each
shape's gain (how much of the analytic motion the tracker reports).

    python -m lab.video.measure_response [--seeds 0 1]
    python -m lab.video.measure_response --cycles --seeds 0 --out checkpoints/video_bindings/response_cycles.npz
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import bpy
import numpy as np

from .face_render import build_painted_head, render_rgb, set_pose, setup_scene, use_cycles
from faceforge.ml.arkit import ARKIT_NAMES
from .evaluate import MIN_GAIN
from .face_model import BINDINGS, FAMILIES, load_model, make_head, project
from faceforge.ml.video.tracking import landmarks_array

from .bind_landmarks import BIND_CAMERA


def to_metres(lm: np.ndarray, depth: float) -> np.ndarray:
    """Frontal-camera landmark offsets (normalised) -> head-frame metres at `depth`."""
    w, h = BIND_CAMERA.size
    k = depth / BIND_CAMERA.focal_px
    return np.stack([lm[..., 0] * w * k, lm[..., 2] * w * k, -lm[..., 1] * h * k], axis=-1)


def response(family: str, seed: int, mesh, cycles: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(tracked, analytic) landmark deltas [52,478,3] in metres for one identity."""
    head, model = make_head(family, seed), load_model(family, seed)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    obj = build_painted_head(head)
    setup_scene(scene, BIND_CAMERA)
    if cycles:
        use_cycles(scene, obj)
    tracked = []
    for k in range(-1, 52):
        w = np.zeros(52, np.float32)
        if k >= 0:
            w[k] = 1.0
        set_pose(obj, head.verts + np.tensordot(w, head.deltas, axes=1), np.zeros(3))
        faces = mesh.process(render_rgb(scene)).multi_face_landmarks
        tracked.append(landmarks_array(faces[0]) if faces else np.full((478, 3), np.nan, np.float32))
    tracked = np.stack(tracked)
    weights = np.concatenate([np.zeros((1, 52)), np.eye(52)]).astype(np.float32)
    analytic = project(model.points(weights), BIND_CAMERA)
    depth = BIND_CAMERA.distance
    d_tracked = to_metres(tracked[1:] - tracked[:1], depth)
    d_analytic = to_metres(analytic[1:] - analytic[:1], depth)
    lost = np.isnan(d_tracked).any(axis=(1, 2))
    d_tracked[lost] = d_analytic[lost]  # no face found: keep the analytic motion
    print(f"{family} {seed}: {lost.sum()} shapes lost the face", flush=True)
    return d_tracked, d_analytic


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--cycles", action="store_true",
                    help="render with Cycles (photo-like shading, seconds a still) instead of Workbench")
    ap.add_argument("--out", type=Path, default=BINDINGS / "response.npz",
                    help="where to write (training reads the default: the Workbench response)")
    args = ap.parse_args(argv)
    from mediapipe.python.solutions.face_mesh import FaceMesh
    out = {}
    with FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as mesh:
        for family in FAMILIES:
            pairs = [response(family, s, mesh, args.cycles) for s in args.seeds]
            tracked = np.mean([p[0] for p in pairs], axis=0)
            analytic = np.mean([p[1] for p in pairs], axis=0)
            gain = (tracked * analytic).sum((1, 2)) / np.maximum((analytic ** 2).sum((1, 2)), 1e-12)
            # cosine: does the tracked motion point the analytic way at all (gain alone
            # cannot tell a faithful small motion from a large wrong one)
            cosine = (tracked * analytic).sum((1, 2)) / np.maximum(
                np.sqrt((tracked ** 2).sum((1, 2)) * (analytic ** 2).sum((1, 2))), 1e-12)
            out[f"{family}.correction"] = (tracked - analytic).astype(np.float32)
            out[f"{family}.gain"] = gain.astype(np.float32)
            print(f"{family} gains: " + ", ".join(f"{n} {g:.2f}" for n, g in zip(ARKIT_NAMES, gain)))
            print(f"{family} cosines: " + ", ".join(f"{n} {c:.2f}" for n, c in zip(ARKIT_NAMES, cosine)))
            print(f"{family}: median gain {np.median(gain):.2f}, median cosine {np.median(cosine):.2f}, "
                  f"shapes with gain >= {MIN_GAIN}: {(gain >= MIN_GAIN).sum()} of 52", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **out)


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None)
