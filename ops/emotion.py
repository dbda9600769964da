"""Bake Emotion: an emotion track (keys of emotion names or VAD) onto ARKit shape keys."""
from __future__ import annotations

import bpy
import numpy as np

from ..addon import keyframes, shape_keys
from ..ml import arkit, tracks
from ..ml.emotion import EmotionModel


def emotion_model() -> EmotionModel:
    """The bundled VAD -> ARKit model, loaded once per process."""
    return EmotionModel.cached()


def rigged_meshes(objects) -> list:
    """The mesh objects among `objects` that carry at least one ARKit-named shape key."""
    return [o for o in objects if o.type == "MESH" and shape_keys.find_arkit_keys(o)]


def bake_targets(objects, take: str) -> list:
    """The rigged meshes a bake into `take` will write to; ValueError, worded for the user,
    when there are none or the take has no name (checked before any analysis)."""
    targets = rigged_meshes(objects)
    if not targets:
        raise ValueError("no selected mesh has ARKit-named shape keys "
                         "(rig it first, or add the FaceForge reference head)")
    if not take:
        raise ValueError("take needs a name")
    return targets


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


def describe(results) -> str:
    """One line per object: what was baked and which ARKit keys it lacks."""
    lines = []
    for obj, rep in results:
        line = f"{obj.name}: baked {len(rep.baked)} shapes"
        if rep.missing:
            line += f", skipped {len(rep.missing)} missing ({', '.join(rep.missing[:6])}"
            line += ", ...)" if len(rep.missing) > 6 else ")"
        lines.append(line)
    return "; ".join(lines)


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
