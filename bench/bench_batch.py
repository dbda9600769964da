"""Benchmark the batch runners side by side in one run: the plain sequential command,
`--workers 2` and a local Ray cluster of 2 workers (`--cluster local --workers 2`), on
the same items: short voice lines lip-synced onto the built-in head, and heads rigged.

    python -m bench.bench_batch [--lines 40] [--heads 12] [--line-seconds 1.0]

Each runner is one `faceforge` process, as a user runs it (the console entry point, which
starts `--workers` before importing Blender), into a fresh output folder.
Reported per runner: wall time of the whole command, the time its items took (from the
end of planning to the last result), the first worker's start-up left after planning, throughput against sequential (both over the whole command and once workers are
up), the median work per item (inside the worker: shows nothing is reloaded per item) and
the median cost the runner adds around an item (scheduling, lock, manifest, output hash).
The Ray start-up is the time `--cluster local` takes to start the cluster and connect.
On a shared machine other work takes cores: a busy-loop probe before and after says how
many cores two processes got (the ceiling of any 2-worker ratio in that run).
Voice lines are cut from the speech in ../shared/data/speech."""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from lab.paths import CHECKPOINTS, SHARED_DATA

DRIVER = "import sys; from faceforge.ops.console import main; sys.exit(main())"  # `faceforge`
RUNNERS = {"sequential": [], "workers 2": ["--workers", "2"],
           "ray 2": ["--cluster", "local", "--workers", "2"]}


def _spin(n: int = 6_000_000) -> float:
    start, x = time.perf_counter(), 0
    for i in range(n):
        x += i
    return time.perf_counter() - start


def parallel_capacity() -> float:
    """How many cores two busy processes get right now (2.0 on an idle 2-core machine;
    less when other work shares it): the ceiling of any 2-worker speed-up measured then."""
    import multiprocessing
    one = _spin()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [1000, 1000])  # start-up out of the timing
        start = time.perf_counter()
        pool.map(_spin, [6_000_000] * 2)
        two = time.perf_counter() - start
    return 2 * one / two


def make_inputs(root: Path, lines: int, heads: int, line_seconds: float) -> dict:
    """root/voices/line_NN.wav (cut from real speech), root/head.blend (the built-in head,
    rigged) and root/heads/head_NN.blend (the built-in head without keys, each scaled a
    little so no two files are equal)."""
    from faceforge.ml.lipsync.audio import load_audio
    speech = np.concatenate([load_audio(p)[0] for p in
                             sorted((SHARED_DATA / "speech").glob("*.wav"))])
    n = int(line_seconds * 16000)
    (root / "voices").mkdir(parents=True, exist_ok=True)
    for i in range(lines):
        start = (i * 7919 * 16) % max(len(speech) - n, 1)
        sf.write(root / "voices" / f"line_{i:02d}.wav", speech[start:start + n], 16000)
    code = f"""
import bpy, faceforge
from pathlib import Path
faceforge.register()
from faceforge.addon import reference_head
root = Path({str(root)!r})
bpy.ops.wm.read_factory_settings(use_empty=True)
reference_head.build_reference_head(with_arkit_keys=True)
bpy.ops.wm.save_as_mainfile(filepath=str(root / "head.blend"), copy=True)
(root / "heads").mkdir(exist_ok=True)
for i in range({heads}):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    head = reference_head.build_reference_head(with_arkit_keys=False)
    head.scale = (1 + 0.01 * i,) * 3
    bpy.ops.wm.save_as_mainfile(filepath=str(root / "heads" / f"head_{{i:02d}}.blend"), copy=True)
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return {"lipsync": ["lipsync", str(root / "head.blend"), str(root / "voices")],
            "rig": ["rig", str(root / "heads"), "--no-preview"]}


def run_one(argv: list[str], out: Path, env: dict) -> dict:
    """Run one faceforge command; wall time and what its driver printed about timing."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", DRIVER] + argv + ["-o", str(out)],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    err = proc.stderr
    m = re.search(r"(\d+) items in ([\d.]+) s \(first worker ready after ([\d.]+) s\); per item: "
                  r"median work ([\d.]+) s, (-?\d+) ms added", err)
    summary = re.search(r"(\d+) succeeded, (\d+) failed", err)
    ray_up = re.search(r"ray: \d+ workers on \d+ CPUs \(([\d.]+) s to connect\)", err)
    if proc.returncode != 0 or m is None or summary is None:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"wall": wall, "items": int(m[1]), "items_s": float(m[2]), "ready": float(m[3]),
            "work": float(m[4]), "added_ms": int(m[5]), "ok": int(summary[1]),
            "failed": int(summary[2]), "ray_connect": float(ray_up[1]) if ray_up else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=40)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--line-seconds", type=float, default=1.0)
    ap.add_argument("--runners", default=",".join(RUNNERS), help="comma-separated subset")
    ap.add_argument("--blas-threads", type=int,
                    help="OMP/OpenBLAS threads of every process (default: the environment's; "
                         "workers and Ray actors default to their share of the cores)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args()
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    if args.blas_threads:
        env.update(OMP_NUM_THREADS=str(args.blas_threads),
                   OPENBLAS_NUM_THREADS=str(args.blas_threads))
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CHECKPOINTS, prefix="bench_batch-") as tmp:
        root = Path(tmp)
        tasks = make_inputs(root, args.lines, args.heads, args.line_seconds)
        counts = {"lipsync": args.lines, "rig": args.heads}
        tasks = {k: v for k, v in tasks.items() if counts[k] > 0}  # --lines 0: rig only
        results: dict = {}
        capacity = [parallel_capacity()]
        for task, argv in tasks.items():
            for name in args.runners.split(","):
                r = run_one(argv + RUNNERS[name], root / "out" / task / name.replace(" ", "_"),
                            env)
                results.setdefault(task, {})[name] = r
                print(f"{task:8s} {name:11s} wall {r['wall']:6.1f} s  items {r['items_s']:6.1f} s"
                      f"  ready {r['ready']:5.1f} s  work/item {r['work']:.3f} s"
                      f"  added/item {r['added_ms']:4d} ms  {r['ok']} ok {r['failed']} failed"
                      + (f"  ray connect {r['ray_connect']:.1f} s" if r["ray_connect"] else ""),
                      flush=True)
        capacity.append(parallel_capacity())
    print(f"\nparallel capacity for 2 processes (busy-loop probe, before / after): "
          f"x{capacity[0]:.2f} / x{capacity[1]:.2f}")
    print("| task | runner | wall s | items s | first worker ready s | x sequential (wall) "
          "| x sequential (workers up) | work per item s | added per item ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for task, rows in results.items():
        seq = rows.get("sequential")
        for name, r in rows.items():
            x_wall = seq["wall"] / r["wall"] if seq else float("nan")
            up = r["items_s"] - r["ready"]
            x_up = (seq["items_s"] - seq["ready"]) / up if seq and up > 0 else float("nan")
            print(f"| {task} | {name} | {r['wall']:.1f} | {r['items_s']:.1f} | {r['ready']:.1f} "
                  f"| {x_wall:.2f} | {x_up:.2f} | {r['work']:.3f} | {r['added_ms']} |")
    ray_connects = [r["ray_connect"] for rows in results.values() for r in rows.values()
                    if r["ray_connect"]]
    if ray_connects:
        print(f"\nRay local cluster start-up (start + connect): "
              f"{', '.join(f'{x:.1f}' for x in ray_connects)} s")
    if args.json:
        args.json.write_text(json.dumps(dict(results, capacity=capacity), indent=1))


if __name__ == "__main__":
    main()
