"""Keyframe baking: bake_weights (bulk foreach_set) against per-key keyframe_insert.

Run: .venv/bin/python bench/bench_keyframes.py
Bakes 52 ARKit channels x 10,000 frames onto a grid with 52 ARKit shape keys (median of
a few runs). The naive loop is timed on a subset and extrapolated linearly to the full
key count, in the same run (a lower bound, since each insert slows as curves grow).
"""
import statistics
import time

import bpy
import numpy as np

from faceforge.addon.keyframes import bake_weights
from faceforge.addon.shape_keys import write_shape_keys
from faceforge.ml.arkit import ARKIT_NAMES

FRAMES = 10_000
NAIVE_FRAMES = 500
RUNS = 5


def rigged_grid():
    """A 20x20 grid with the 52 ARKit shape keys (random deltas)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=20, y_subdivisions=20)
    obj = bpy.context.object
    deltas = np.random.default_rng(0).normal(0, 0.01, (52, len(obj.data.vertices), 3))
    write_shape_keys(obj, deltas, ARKIT_NAMES)
    return obj


def time_ours(obj, weights) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        bake_weights(obj, weights, ARKIT_NAMES, take="bench")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_naive(obj, weights) -> float:
    """Seconds for the classic per-key loop on NAIVE_FRAMES frames."""
    blocks = [obj.data.shape_keys.key_blocks[n] for n in ARKIT_NAMES]
    start = time.perf_counter()
    for f, row in enumerate(weights[:NAIVE_FRAMES].tolist(), start=1):
        for kb, v in zip(blocks, row):
            kb.value = v
            kb.keyframe_insert("value", frame=f)
    return time.perf_counter() - start


def main():
    obj = rigged_grid()
    weights = np.random.default_rng(1).random((FRAMES, 52))
    naive = time_naive(obj, weights) * FRAMES / NAIVE_FRAMES
    obj.data.shape_keys.animation_data_clear()  # both start from un-animated keys
    ours = time_ours(obj, weights)
    n_keys = 52 * FRAMES
    print(f"Keyframe baking: 52 channels x {FRAMES:,} frames = {n_keys:,} keys "
          f"(Blender {bpy.app.version_string})")
    print(f"naive: timed on 52 x {NAIVE_FRAMES} keys, extrapolated linearly to {n_keys:,} "
          "(a lower bound: each insert gets slower as the curves grow)")
    print(f"{'method':<32}{'seconds':>10}")
    print(f"{'bake_weights (median of ' + str(RUNS) + ')':<32}{ours:>10.3f}")
    print(f"{'keyframe_insert loop (extrap.)':<32}{naive:>10.1f}")
    print(f"{'ratio naive / ours':<32}{naive / ours:>10.0f}x")


if __name__ == "__main__":
    main()
