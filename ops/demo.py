"""The demo: Auto-Rig Face rigs the built-in human head (its own ARKit keys left out) and
Suzanne; the human head gets a generated face rig fitted to a bundled photo (Fit to Photo,
the comparison photo | average face | fitted rendered to demo_fit.png); both get three
takes: a 10-second emotion track, lip-sync of a bundled utterance with a smile layered on
the upper face, and a bundled face clip tracked by the video pipeline. Saved as .blend and
.glb, each take rendered as a contact sheet, all headless."""
from __future__ import annotations

import sys
from pathlib import Path

import bpy
import numpy as np

from ..addon import keyframes, reference_head, render, scene_files
from ..ml.autorig import infer
from ..ml.fit.sheet import write_rgb
from . import autorig, emotion, fit, lipsync, outputs, video
from .errors import UserError
from .plan import Plan, PlannedItem
from .scene_jobs import add_run_options, prepare

DEMO_TRACK = emotion.DEFAULT_TRACK
DEMO_SECONDS = 10.0
SHEET_FRAMES = 12
PACKAGE = Path(__file__).resolve().parents[1]
UTTERANCE = PACKAGE / "ml" / "lipsync" / "data" / "demo_utterance.wav"  # espeak-ng, see its script
CLIP = PACKAGE / "ml" / "video" / "data" / "demo_clip.mp4"  # lab/video/make_demo_clip.py
PHOTO = PACKAGE / "ml" / "fit" / "data" / "demo_photo.jpg"  # lab/fit/make_demo_photo.py
FIT_SHEET = "demo_fit.png"
TAKES = ("Demo Emotion", "Demo Lip-Sync", "Demo Video")
SHEETS = ("demo.png", "demo_lipsync.png", "demo_video.png")


def build_demo_scene(fps: int = 24):
    """Empty scene + auto-rigged human head (its face rig fitted to the demo photo) and
    Suzanne + the three demo takes (emotion active); returns (scene, [head, suzanne],
    the fit's comparison picture [H, W, 3] uint8)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    scene.frame_start, scene.frame_end = 1, 1 + int(DEMO_SECONDS * fps)
    head = reference_head.build_reference_head(with_arkit_keys=False)
    suzanne = reference_head.build_suzanne()
    autorig.rig_objects([head], infer.RigOptions(), preview=False)
    autorig.rig_objects([suzanne], infer.RigOptions(), preview=False)
    rig, fitted = fit.fit_objects([head], PHOTO, make_rig=True, scene=scene)
    picture = fit.comparison(rig, PHOTO, [("fitted", fitted.values)], scene)
    size = 0.8 * head.dimensions.z / suzanne.dimensions.z  # side by side, at the head's size
    suzanne.scale = (size,) * 3
    suzanne.location = (head.dimensions.x + 0.6 * suzanne.dimensions.x * size, 0.0, head.location.z)
    emotion.bake_emotion([head, suzanne], DEMO_TRACK, take=TAKES[0],
                         duration=DEMO_SECONDS, scene=scene)
    lipsync.bake_lipsync([head, suzanne], UTTERANCE, take=TAKES[1], scene=scene,
                         transcript=UTTERANCE.with_suffix(".txt").read_text(encoding="utf-8"),
                         emotion_spec="0:happiness*0.7")
    video.bake_video([head, suzanne], CLIP, take=TAKES[2], scene=scene)
    for obj in (head, suzanne):
        keyframes.set_active_take(obj, TAKES[0])
    bpy.context.view_layer.update()
    render.frame_objects(scene, [head, suzanne])
    return scene, [head, suzanne], picture


def demo_plan(out_dir: Path, overwrite: bool = False) -> Plan:
    """The demo's outputs: demo.blend, demo.glb, a contact sheet per take and the fit's
    comparison."""
    out_dir = Path(out_dir)
    names = ("demo.blend", "demo.glb", *SHEETS, FIT_SHEET)
    return Plan.build("demo", [PlannedItem(PACKAGE, out_dir / n, n) for n in names], overwrite)


def run_demo(out_dir: Path, overwrite: bool = False) -> list[Path]:
    """Write demo.blend, demo.glb, a contact sheet per take (demo.png,
    demo_lipsync.png, demo_video.png) and the fit's comparison (demo_fit.png) into
    out_dir; returns their paths. Existing files
    are an error before anything is built, unless `overwrite`."""
    plan = demo_plan(out_dir, overwrite)
    plan.check_outputs()
    if plan.blocked:
        raise UserError("; ".join(plan.blocked.values()), subject=Path(out_dir))
    scene, objects, picture = build_demo_scene()
    blend, glb, *sheets, fit_png = (item.output for item in plan.items)
    with outputs.atomic_output(fit_png, overwrite) as tmp:
        write_rgb(tmp, picture)
    for take, png in reversed(list(zip(TAKES, sheets))):  # the emotion take ends active
        for obj in objects:
            keyframes.set_active_take(obj, take)
        last = keyframes.take_frames(objects[0]).max()
        frames = np.linspace(scene.frame_start, last, SHEET_FRAMES).round().astype(int)
        with outputs.atomic_output(png, overwrite) as tmp:
            render.render_contact_sheet(scene, frames.tolist(), tmp, columns=4, resolution=320)
    with outputs.atomic_output(glb, overwrite) as tmp:
        scene_files.export_glb(tmp)
    with outputs.atomic_output(blend, overwrite) as tmp:
        scene_files.save_scene(tmp)
    return [blend, glb, *sheets, fit_png]


def cmd_demo(args) -> int:
    stop = prepare(args, demo_plan(args.output, args.overwrite))
    if stop is not None:
        return stop
    for p in run_demo(args.output, overwrite=args.overwrite):
        print(f"wrote {p}", file=sys.stderr)
    return 0


def add_cli(sub) -> None:
    """Add `faceforge demo -o DIR` to the command line's subparsers."""
    d = sub.add_parser("demo", help="built-in head + 10 s emotion performance -> .blend, .glb, .png")
    d.add_argument("-o", "--output", type=Path, default=Path("out"), help="output folder")
    add_run_options(d)
    d.set_defaults(func=cmd_demo)
