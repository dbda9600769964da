"""Frames/s of video face tracking on 640x480 video: decode only, MediaPipe only (Face Mesh
and the Face Landmarker: the floors any tracker built on them pays), decode + track, the
FACS regressor alone, and the whole Bake Video analysis (decode + track + regress +
calibrate + resample) end to end with both methods, the landmarker method with one tracker
(the default: Face Mesh + the blendshape model in numpy) and with two (the Face Landmarker
task beside Face Mesh). Median of several runs.

    python -m bench.bench_video [--runs 5] [--grid ../shared/data/video/grid]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from faceforge.ml.video.blendshape_mixer import load_mixer
from faceforge.ml.video.decode import open_video
from faceforge.ml.video.landmarker import face_landmarker, track_face
from faceforge.ml.video.pipeline import VideoOptions, analyse_video, temporal_solve
from faceforge.ml.video.regressor import load_regressor
from faceforge.ml.video.temporal import DEFAULT_WEIGHTS as TEMPORAL_WEIGHTS
from faceforge.ml.video.tracking import face_mesh, track
from lab.paths import SHARED_DATA

SIZE = (640, 480)
GRID = SHARED_DATA / "video" / "grid"


def write_640x480(clips: list[Path], out: Path) -> int:
    """Concatenate the clips, resized (bicubic) to 640x480, into an mp4v file; frame count."""
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 25, SIZE)
    n = 0
    for clip in clips:
        for _, rgb in open_video(clip):
            writer.write(cv2.cvtColor(cv2.resize(rgb, SIZE, interpolation=cv2.INTER_CUBIC),
                                      cv2.COLOR_RGB2BGR))
            n += 1
    writer.release()
    return n


def _rate(fn, frames: int, runs: int) -> float:
    """Median frames/s of `fn()` over `runs` timed runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return frames / statistics.median(times)


def _mediapipe_only(frames, max_faces: int):
    """The bare graph calls on decoded frames: no decoding, conversion or identity logic."""
    def run():
        with face_mesh(max_faces) as mesh:
            for rgb in frames:
                mesh.process(rgb)
    return run


def _landmarker_only(frames):
    """The Face Landmarker's graph calls alone (VIDEO mode, blendshapes and matrices on)."""
    import mediapipe as mp

    def run():
        with face_landmarker() as lm:
            for i, rgb in enumerate(frames):
                lm.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), i * 40)
    return run


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", type=Path, default=GRID, help="folder of GRID .mpg clips")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    clips = sorted(args.grid.glob("*.mpg"))
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "grid_640x480.mp4"
        n = write_640x480(clips, video)
        frames = [rgb for _, rgb in open_video(video)]
        landmarks = track(video).landmarks
        regressor = load_regressor()
        face_track = track_face(video, two_trackers=True) if TEMPORAL_WEIGHTS.exists() else None
        mixer = load_mixer()
        rows = [
            ("decode only (open_video, RGB)", lambda: sum(1 for _ in open_video(video))),
            ("MediaPipe only, max_faces=1 (the tracker's floor)", _mediapipe_only(frames, 1)),
            ("MediaPipe only, max_faces=2 (detector every frame)", _mediapipe_only(frames, 2)),
            ("decode + track (FaceTracker)", lambda: track(video)),
            ("decode + track, frames at 320x240",
             lambda: track(open_video(video, max_side=320))),
            ("FACS regressor only (predict on tracked landmarks)",
             lambda: regressor.predict(landmarks, aspect=SIZE[0] / SIZE[1])),
            ("whole analysis, method regressor (Face Mesh)",
             lambda: analyse_video(video, 25.0, VideoOptions(method="regressor"), regressor=regressor)),
            ("blendshape model only (numpy, on tracked landmarks)",
             lambda: mixer.scores(landmarks, SIZE)),
            ("decode + track, one tracker (track_face)", lambda: track_face(video)),
            ("whole analysis, method landmarker (default, one tracker)",
             lambda: analyse_video(video, 25.0, VideoOptions(method="landmarker"), regressor=regressor)),
            ("Face Landmarker only (the two-tracker floor)", _landmarker_only(frames)),
            ("decode + track, two trackers (track_face)", lambda: track_face(video, two_trackers=True)),
            ("whole analysis, method landmarker, two trackers",
             lambda: analyse_video(video, 25.0, VideoOptions(method="landmarker", two_trackers=True),
                                   regressor=regressor)),
        ]
        if TEMPORAL_WEIGHTS.exists():  # a temporal network copied into ml/video (not shipped)
            rows += [("temporal network + regressor on a tracked clip",
                      lambda: temporal_solve(face_track, 25.0, "auto", regressor)),
                     ("whole analysis, landmarker + temporal network",
                      lambda: analyse_video(video, 25.0, VideoOptions(method="landmarker", temporal=True),
                                            regressor=regressor))]
        print(f"{n} frames ({len(clips)} GRID clips, 360x288 -> 640x480 mp4v), "
              f"median of {args.runs} runs\n")
        print(f"| {'stage':<50} | {'frames/s':>8} | {'ms/frame':>8} |")
        print(f"|{'-' * 52}|{'-' * 9}:|{'-' * 9}:|")
        for name, fn in rows:
            fps = _rate(fn, n, args.runs)
            print(f"| {name:<50} | {fps:8.1f} | {1000 / fps:8.2f} |")
        full, small = track(video), track(open_video(video, max_side=320))
        err = np.linalg.norm((full.landmarks - small.landmarks)[..., :2] * SIZE, axis=-1)
        print(f"\nlandmarks from 320x240 frames vs 640x480 (in 640x480 pixels): "
              f"mean {np.nanmean(err):.2f}, 95th percentile {np.nanpercentile(err, 95):.2f}")


if __name__ == "__main__":
    main()
