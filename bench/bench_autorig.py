"""Auto-Rig Face speed: seconds to rig a 30k- and a 500k-vertex head (eyes and teeth
included), median of several runs, beside the deformation-transfer baseline on the same
30k head in the same run.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/bench_autorig.py

The heads are an ICT-FaceKit identity (eyeballs, teeth, gums, lashes as loose parts),
midpoint-subdivided and then decimated to the exact size, so the mesh is a fresh topology.
Targets (2-core machine): <= 3 s at 30k, <= 20 s at 500k, whole-file head finding
(`find_head.find_face`, as `faceforge rig` runs it on every file) included.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from faceforge.ml.autorig import find_head, infer
from lab.autorig import sources
from lab.autorig.baseline import DeformationTransfer, ict_template
from faceforge.ml.autorig.frame import to_canonical
from faceforge.ml.geometry.mesh import subdivide
from faceforge.ml.geometry.parts import connected_components
from faceforge.ml.geometry.remesh import decimate


def head_with(n_verts: int):
    """An ICT head with eyes and teeth, remeshed to about n_verts vertices (metres)."""
    raw = sources.ict_head(np.random.default_rng(10001))
    verts, tris = raw.verts / 100.0, raw.tris   # cm -> m, like a Blender scene
    while len(verts) < 1.5 * n_verts:
        verts, tris = subdivide(verts, tris)
    return decimate(verts, tris, n_verts)


def timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--sizes", type=int, nargs="+", default=[30_000, 500_000])
    args = p.parse_args()
    infer.default_runtime()  # load the weights outside the timing
    rows = []
    for size in args.sizes:
        verts, tris = head_with(size)
        parts = connected_components(len(verts), np.concatenate([tris[:, :2], tris[:, 1:]]))
        result = infer.rig(verts, tris, parts)  # warm-up, and a check that it found the eyes
        ours = timed(lambda: infer.rig(verts, tris, parts), args.runs)
        piece = [find_head.Piece("head", verts, tris, parts)]
        finding = timed(lambda: find_head.find_face(piece), args.runs)
        rows.append((len(verts), parts.max() + 1, ours, result.eyes is not None))
        print(f"{len(verts):>9,} verts {parts.max() + 1:3d} parts  rig {ours:6.2f} s, "
              f"with whole-file head finding {ours + finding:6.2f} s (median of {args.runs})  "
              f"eyes found: {result.eyes is not None}", flush=True)
    # The baseline works in the canonical frame: give it the head there, as rig() does.
    verts, tris = head_with(args.sizes[0])
    parts = connected_components(len(verts), np.concatenate([tris[:, :2], tris[:, 1:]]))
    canonical = to_canonical(verts, infer.rig(verts, tris, parts).transform)
    skin = int(np.argmax(np.bincount(parts)))
    kinds = tuple("skin" if k == skin else "other" for k in range(parts.max() + 1))
    dt = DeformationTransfer().fit(ict_template())
    base = timed(lambda: dt.predict(canonical, tris, parts, kinds), 1)
    print(f"\nbaseline (deformation transfer by non-rigid ICP) on the {len(verts):,}-vertex head: "
          f"{base:.2f} s; Auto-Rig is {base / rows[0][2]:.1f}x faster")

if __name__ == "__main__":
    main()
