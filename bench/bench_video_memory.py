"""Peak memory of Bake Video's analysis against clip length, at 1080p: clips of a few
lengths made by looping the GRID clips upscaled to 1920x1080, each analysed in a child
process whose peak resident memory is read after it ends: the default (one tracker) and
the landmarker method with two trackers. The growth per minute of video, fitted over the
lengths, says what a 10-minute clip needs.

    python -m bench.bench_video_memory [--seconds 20 60 120]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from lab.paths import SHARED_DATA

SIZE = (1920, 1080)
FPS = 25.0
# Peak resident memory of this process image: VmHWM (ru_maxrss would carry the parent's
# resident size at fork over the exec).
PEAK = ("int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
        " / 1024")
CHILD = f"""
import json, sys, time
from faceforge.ml.video.pipeline import VideoOptions, analyse_video
start = time.perf_counter()
res = analyse_video(sys.argv[1], 30.0, VideoOptions(**json.loads(sys.argv[2])))
print(json.dumps({{"frames": len(res.weights), "seconds": time.perf_counter() - start,
                  "peak_mb": {PEAK}}}))
"""
BASELINE = f"""
import json
import faceforge.ml.video.pipeline, mediapipe, cv2
print(json.dumps({{"peak_mb": {PEAK}}}))
"""


CONFIGS = {"default (one tracker)": {}, "two trackers": {"two_trackers": True}}


def grid_frames(folder: Path) -> list[np.ndarray]:
    """The GRID clips' frames as they are (360x288 BGR)."""
    out = []
    for clip in sorted(folder.glob("*.mpg")):
        cap = cv2.VideoCapture(str(clip))
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            out.append(bgr)
        cap.release()
    return out


def letterbox(bgr: np.ndarray) -> np.ndarray:
    """A frame scaled to the height of 1920x1080 and centred on black."""
    h, w = bgr.shape[:2]
    big = cv2.resize(bgr, (int(w * SIZE[1] / h), SIZE[1]), interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    x = (SIZE[0] - big.shape[1]) // 2
    canvas[:, x:x + big.shape[1]] = big
    return canvas


def write_clip(path: Path, frames: list[np.ndarray], seconds: float) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for i in range(int(seconds * FPS)):
        writer.write(letterbox(frames[i % len(frames)]))
    writer.release()


def run_child(code: str, *args) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, nargs="+", default=[20.0, 60.0, 120.0])
    ap.add_argument("--grid", type=Path, default=SHARED_DATA / "video" / "grid")
    args = ap.parse_args(argv)
    frames = grid_frames(args.grid)
    base = run_child(BASELINE)["peak_mb"]
    print(f"imports alone (numpy, OpenCV, MediaPipe, FaceForge): {base:.0f} MB peak\n")
    print("| options | clip | frames | analysis s | peak MB | above imports MB |")
    print("|---|---|---:|---:|---:|---:|")
    rows: dict[str, list] = {name: [] for name in CONFIGS}
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in args.seconds:
            clip = Path(tmp) / f"clip_{seconds:g}s.mp4"
            write_clip(clip, frames, seconds)
            for name, options in CONFIGS.items():
                r = run_child(CHILD, clip, json.dumps(options))
                rows[name].append((seconds, r["peak_mb"]))
                print(f"| {name} | {seconds:g} s, 1920x1080 | {r['frames']} | {r['seconds']:.0f} "
                      f"| {r['peak_mb']:.0f} | {r['peak_mb'] - base:.0f} |", flush=True)
            clip.unlink()
    for name, points in rows.items():
        if len(points) >= 2:
            s, mb = np.array(points).T
            slope, icpt = np.polyfit(s / 60.0, mb, 1)
            print(f"\n{name}: growth {slope:.1f} MB per minute of video (fit over {len(points)} "
                  f"lengths); a 10-minute 1080p clip: about {icpt + 10 * slope:.0f} MB peak")


if __name__ == "__main__":
    main()
