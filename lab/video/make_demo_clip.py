"""Render the demo's bundled face clip: a painted synthetic anny head speaking the demo
utterance (phonetic lip-sync with its transcript, a smile, blinks, head motion), as a
small 25 fps mp4 that `faceforge demo` then tracks and bakes back onto the built-in heads.

    .venv/bin/python -m lab.video.make_demo_clip        # writes ml/video/data/demo_clip.mp4
"""
import bpy  # noqa: F401  (first: bmesh and friends need it loaded)

import argparse
from pathlib import Path

import cv2
import numpy as np

from lab.video.face_render import render_clip
from faceforge.ml import tracks
from faceforge.ml.emotion import EmotionModel
from faceforge.ml.lipsync.audio import load_audio
from faceforge.ml.lipsync.engine import lipsync
from lab.video.face_model import Camera, make_head
from ..paths import ROOT

UTTERANCE = ROOT / "ml" / "lipsync" / "data" / "demo_utterance.wav"
OUT = ROOT / "ml" / "video" / "data" / "demo_clip.mp4"
FPS = 25
HEAD_SWAY = 4.0  # the speech's slight head motion, enlarged so the clip shows a turning head


def performance(fps: float) -> tuple[np.ndarray, np.ndarray]:
    """[T, 52] weights and [T, 3] head rotation for the demo utterance."""
    samples, rate = load_audio(UTTERANCE)
    smile = tracks.emotion_track("0:happiness*0.6", EmotionModel.load(), fps, duration=len(samples) / rate)
    res = lipsync(samples, rate, fps, transcript=UTTERANCE.with_suffix(".txt").read_text(),
                  engine="phonetic", emotion=smile, seed=1)
    return res.weights, HEAD_SWAY * res.head_rotation


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", type=Path, default=OUT)
    p.add_argument("--seed", type=int, default=3, help="anny identity")
    args = p.parse_args(argv)
    weights, euler = performance(FPS)
    frames = render_clip(make_head("anny", args.seed), weights, euler,
                         Camera(distance=0.55, lens=50.0, size=(320, 240)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(args.output), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (320, 240))
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    print(f"wrote {args.output} ({len(frames)} frames, {args.output.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
