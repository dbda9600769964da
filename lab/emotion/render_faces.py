"""Render the emotion model's faces on the built-in head (its own authored ARKit keys) as
one contact sheet: the seven basic emotions at intensity 1, then the cases the model
card's limitations describe.

    .venv/bin/python -m lab.emotion.render_faces [--out docs/images/emotion_faces.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import bpy
import numpy as np
from PIL import Image

from faceforge.addon import keyframes, reference_head, render
from faceforge.ml.arkit import ARKIT_NAMES
from faceforge.ml.emotion import EmotionModel

from ..paths import ROOT

# Row 1: neutral and the basic emotions; row 2: opposites cancelling, anger and disgust at
# half strength (nearly one direction in VAD), a low-dominance OCC emotion that reads as
# a brow raise, contempt's symmetric trace, and a calm positive state near neutral.
FACES = ["neutral", "happiness", "sadness", "surprise", "fear", "anger", "disgust",
         "happiness+sadness", "anger*0.5", "disgust*0.5", "admiration", "contempt", "relief",
         "happiness*0.7+surprise*0.3"]
COLUMNS = 7


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "emotion_faces.png")
    ap.add_argument("--resolution", type=int, default=240, help="pixels per face")
    args = ap.parse_args(argv)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    head = reference_head.build_reference_head(with_arkit_keys=True)
    model = EmotionModel.load()
    weights = np.stack([model.weights_for(face) for face in FACES]).astype(np.float32)
    keyframes.bake_weights(head, weights, list(ARKIT_NAMES), sample_rate=scene.render.fps,
                           take="Emotion faces", scene=scene)  # face i on frame 1 + i
    render.frame_objects(scene, [head], margin=1.02)
    render.render_contact_sheet(scene, range(1, len(FACES) + 1), args.out, columns=COLUMNS,
                                resolution=args.resolution)
    rgba = Image.open(args.out).convert("RGBA")  # the background renders transparent
    sheet = Image.new("RGB", rgba.size, "white")
    sheet.paste(rgba, mask=rgba.getchannel("A"))
    sheet.quantize(colors=128, dither=Image.Dither.NONE).save(args.out, optimize=True)
    print(f"wrote {args.out}: " + ", ".join(FACES))


if __name__ == "__main__":
    main()
