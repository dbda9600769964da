"""Render the README's picture from the demo scene: the auto-rigged human head and Suzanne
at moments of the demo's emotion and lip-sync takes, one row per head (Workbench, CPU).

    .venv/bin/faceforge demo -o /tmp/demo
    .venv/bin/python docs/images/render_readme.py /tmp/demo/demo.blend docs/images/faceforge_demo.png
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import bpy
from PIL import Image, ImageDraw, ImageFont

from faceforge.addon import keyframes, render

TILE = 200      # pixels of each face in the picture
RENDER = 400    # each render, cropped to the face and scaled to TILE
CROP = {"FaceForge Head": (0.07, 0.0, 0.86), "Suzanne": (0.04, 0.04, 0.92)}  # left, top, size
BACKGROUND = (242, 242, 242)
FPS = 24
# (label, take, seconds): the emotion track's keys (ops/demo.py DEMO_TRACK) and two
# moments of the lip-sync take.
MOMENTS = [
    ("neutral", "Demo Emotion", 0.0),
    ("happiness", "Demo Emotion", 1.0),
    ("surprise", "Demo Emotion", 3.5),
    ("sadness", "Demo Emotion", 5.0),
    ("anger", "Demo Emotion", 6.5),
    ("disgust", "Demo Emotion", 8.0),
    ("speech", "Demo Lip-Sync", 1.83),
    ("speech", "Demo Lip-Sync", 2.71),
]


def render_row(scene, obj, others, tmp: Path) -> list[Image.Image]:
    for o in others:
        o.hide_render = True
    obj.hide_render = False
    render.frame_objects(scene, [obj], margin=1.0)
    render.setup_workbench(scene, RENDER)
    scene.render.film_transparent = True
    left, top, size = (round(f * RENDER) for f in CROP[obj.name])
    box = (left, top, left + size, top + size)
    tiles = []
    for i, (_, take, seconds) in enumerate(MOMENTS):
        keyframes.set_active_take(obj, take)
        scene.frame_set(1 + round(seconds * FPS))
        scene.render.filepath = str(tmp / f"{obj.name}_{i}.png")
        bpy.ops.render.render(write_still=True, scene=scene.name)
        rgba = Image.open(scene.render.filepath).convert("RGBA").crop(box)
        rgba = rgba.resize((TILE, TILE), Image.Resampling.LANCZOS)
        tile = Image.new("RGB", rgba.size, BACKGROUND)
        tile.paste(rgba, mask=rgba.getchannel("A"))
        tiles.append(tile)
    return tiles


def main(blend: str, out: str) -> None:
    bpy.ops.wm.open_mainfile(filepath=blend)
    scene = bpy.context.scene
    heads = [bpy.data.objects["FaceForge Head"], bpy.data.objects["Suzanne"]]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [render_row(scene, h, [o for o in heads if o is not h], Path(tmp)) for h in heads]
    label_h = 22
    sheet = Image.new("RGB", (TILE * len(MOMENTS), TILE * len(rows) + label_h), BACKGROUND)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            sheet.paste(tile, (c * TILE, r * TILE))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    for c, (label, _, _) in enumerate(MOMENTS):
        w = draw.textlength(label, font=font)
        draw.text((c * TILE + (TILE - w) / 2, TILE * len(rows) + 3), label, fill="#444", font=font)
    sheet = sheet.quantize(colors=128, dither=Image.Dither.NONE)
    sheet.save(out, optimize=True)
    print(f"wrote {out} ({Path(out).stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
