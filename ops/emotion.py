"""Bake Emotion: an emotion track (keys of emotion names or VAD) onto ARKit shape keys;
the operator and `faceforge emotion` run the same function."""
from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from ..addon import keyframes, scene_files
from ..ml import arkit, tracks
from .plan import find_sources
from .scene_jobs import add_scene_job_parser, plan_scene_jobs, run_scene_jobs
from .targets import bake_targets, describe, emotion_model, rigged_meshes

DEFAULT_TRACK = ("0:neutral,1:happiness,2.5:happiness+surprise,3.5:surprise,5:sadness*0.9,"
                 "6.5:anger,8:disgust*0.8,9:neutral")

def bake_emotion(objects, spec: str, *, take: str = "Emotion", start_frame: int = 1,
                 duration: float | None = None, ease: str = "smooth", transition: float = 0.4,
                 regions: tuple[str, ...] | None = None, reduce_tolerance: float = 0.0,
                 scene=None, progress=None) -> list[tuple[object, keyframes.BakeReport]]:
    """Turn a track spec into weights at the scene fps and bake them onto every rigged mesh.

    Everything that can fail on bad input (spec, emotion names, no ARKit keys) is checked
    before the first key is written, so a failure leaves the scene as it was.
    `regions` limits the bake to part of the face (e.g. ("upper",)); `progress(i, n)`
    is called after each object.
    """
    scene = scene or bpy.context.scene
    targets = bake_targets(objects, take)
    keys = tracks.parse_track_spec(spec)
    weights = tracks.emotion_track(keys, emotion_model(), keyframes.scene_fps(scene),
                                   duration=duration, ease=ease, transition=transition)
    names = list(arkit.ARKIT_NAMES)
    if regions:
        mask = arkit.region_mask(*regions)
        weights, names = weights[:, mask], [n for n, m in zip(names, mask) if m]
    results = []
    for i, obj in enumerate(targets):
        results.append((obj, keyframes.bake_weights(
            obj, np.ascontiguousarray(weights), names, start_frame=start_frame, take=take,
            reduce_tolerance=reduce_tolerance)))
        if progress:
            progress(i + 1, len(targets))
    scene.frame_end = max(scene.frame_end, start_frame + len(weights) - 1)
    return results


class FACEFORGE_OT_bake_emotion(bpy.types.Operator):
    """Bake the emotion track onto the selected meshes' ARKit shape keys"""
    bl_idname = "faceforge.bake_emotion"
    bl_label = "Bake Emotion"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return any(o.type == "MESH" for o in context.selected_objects)

    def execute(self, context):
        s = context.scene.faceforge
        wm = context.window_manager
        targets = rigged_meshes(context.selected_objects)
        wm.progress_begin(0, max(len(targets), 1))
        try:
            results = bake_emotion(
                context.selected_objects, s.emotion_track, take=s.emotion_take,
                start_frame=s.start_frame, ease=s.emotion_ease, transition=s.emotion_transition,
                regions=None if s.emotion_region == "ALL" else (s.emotion_region.lower(),),
                reduce_tolerance=s.reduce_tolerance, scene=context.scene,
                progress=lambda i, n: wm.progress_update(i))
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        finally:
            wm.progress_end()
        missing = any(rep.missing for _, rep in results)
        self.report({"WARNING"} if missing else {"INFO"}, describe(results))
        return {"FINISHED"}


CLASSES = (FACEFORGE_OT_bake_emotion,)


def cmd_emotion(args) -> int:
    """One output scene per input scene: its rigged meshes with an emotion take."""
    try:
        tracks.parse_track_spec(args.track)  # a bad spec fails once, before any file
    except ValueError as exc:
        raise SystemExit(f"faceforge emotion: --track: {exc}") from None

    def work(src: Path) -> str:
        return describe(bake_emotion(
            bpy.context.scene.objects, args.track, take=args.take, start_frame=args.start_frame,
            duration=args.duration, ease=args.ease, transition=args.transition,
            regions=args.region, reduce_tolerance=args.reduce))

    sources = find_sources(args.inputs, scene_files.SCENE_SUFFIXES)
    return run_scene_jobs(args, plan_scene_jobs(args, "emotion", sources), work)


def add_cli(sub) -> None:
    """Add `faceforge emotion SCENE... -o DIR` to the command line's subparsers."""
    p = add_scene_job_parser(sub, "emotion",
                             "bake an emotion track onto every rigged mesh of each file")
    p.add_argument("--track", default=DEFAULT_TRACK,
                   help="time:emotion[*intensity],... e.g. '0:neutral,2:happiness*0.8,4:sadness'")
    p.add_argument("--duration", type=float, help="seconds (default: last key + 1 s)")
    p.add_argument("--take", default="Emotion", help="action (take) name")
    p.add_argument("--start-frame", type=int, default=1)
    p.add_argument("--ease", choices=("smooth", "linear", "constant"), default="smooth")
    p.add_argument("--transition", type=float, default=0.4, help="seconds per transition")
    p.add_argument("--region", nargs="+", help="bake only these face regions, e.g. upper")
    p.add_argument("--reduce", type=float, default=0.0, help="keyframe reduction tolerance")
    p.set_defaults(func=cmd_emotion)
