"""What every bake writes to and reports, shared by the emotion, lip-sync and video
services: the rigged meshes among some objects and the mouth-shape set each carries, the
bundled emotion model, the checks on user-given scale factors, and a one-line
description of what was baked."""
from __future__ import annotations

import math

from ..addon import shape_keys
from ..ml.emotion import EmotionModel
from ..ml.lipsync import targets as mouth_sets

#: The mouth-shape sets a bake can write, for the operators' "Mouth Shapes" menus and
#: the command line's --target (auto: the set each mesh carries, ARKit first).
SET_ITEMS = (("auto", "Detect", "The set each mesh carries (ARKit first)"),
             ("arkit", "ARKit 52", "ARKit blendshape names (jawOpen, mouthClose, ...)"),
             ("oculus", "Oculus Visemes", "The 15 Oculus/OVR visemes (viseme_aa, viseme_PP, "
              "...), as on Ready Player Me avatars"),
             ("vrchat", "VRChat Visemes", "VRChat's vrc.v_* shape keys"),
             ("vrm", "VRM Presets", "VRM expressions aa ih ou ee oh (and blink)"))
SET_CHOICES = tuple(k for k, _, _ in SET_ITEMS)

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


def key_names(obj) -> list[str]:
    """The names of a mesh's shape keys, its basis left out ([] for anything else)."""
    key = getattr(obj.data, "shape_keys", None) if obj.type == "MESH" else None
    return [kb.name for kb in key.key_blocks if kb != key.reference_key] if key else []


def mouth_meshes(objects, target: str, any_arkit: bool = False) -> list:
    """(mesh, mouth-shape set) for each mesh among `objects` that carries mouth shapes of
    `target` (any set for "auto"); with any_arkit, a mesh with ARKit keys but no mouth
    ones (blinks, brows) counts as "arkit" too (video drives the whole face). ValueError
    worded for the user when none does."""
    found = []
    for o in objects:
        if o.type != "MESH":
            continue
        names = key_names(o)
        chosen = mouth_sets.choose(names, target)
        if chosen is None and any_arkit and target in ("auto", "arkit") \
                and mouth_sets.match_keys("arkit", names):
            chosen = "arkit"
        if chosen is not None:
            found.append((o, chosen))
    if not found:
        raise ValueError(mouth_sets.no_mouth_message(target))
    return found


def bake_onto(obj, mouth_set: str, weights):
    """(weights [T, S], shape names [S], {shape: key} or None) for baking the ARKit
    weights [T, 52] onto `obj`'s set (ml.lipsync.targets.on_head)."""
    return mouth_sets.on_head(weights, mouth_set, key_names(obj))


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
