"""What every bake writes to and reports, shared by the emotion, lip-sync and video
services: the rigged meshes among some objects, the bundled emotion model, the checks on
user-given scale factors, and a one-line description of what was baked."""
from __future__ import annotations

import math

from ..addon import shape_keys
from ..ml.emotion import EmotionModel

MAX_STRENGTH = 5.0  # rig strength: beyond this the shapes fold through the face
MAX_GAIN = 3.0      # video region gain (the operator's own limit)


class NoRiggedMesh(ValueError):
    """None of the objects carries ARKit-named shape keys (the head needs rigging first)."""


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
        raise NoRiggedMesh("no selected mesh has ARKit-named shape keys "
                           "(rig it first, or add the FaceForge reference head)")
    if not take:
        raise ValueError("take needs a name")
    return targets


def check_scale(what: str, value: float, high: float) -> float:
    """A user-given scale factor (strength, gain) as a float in [0, high]; ValueError
    naming `what` otherwise (negative, NaN, infinite or absurdly large)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(value) or not 0.0 <= value <= high:
        raise ValueError(f"{what} must be between 0 and {high:g}, got {value:g}")
    return value


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
