"""Bake [T, K] ARKit weights (and head rotation) into named takes, in bulk, and read them back.

A take is one action per animated datablock: the shape-key channels on the mesh's Key
datablock, the head rotation on the object. Each datablock's ID property `faceforge_takes`
maps take name -> action (an ID pointer, so renaming an action does not lose it). Writes
Blender 4.4+ layered actions (slot, layer, keyframe strip, channelbag) and falls back to
4.2's legacy `action.fcurves`.
"""
from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from ..ml.arkit import canonical_name
from ..ml.curve_reduce import reduce_linear
from .mesh_io import bulk_get
from .shape_keys import find_arkit_keys

TAKES_PROP = "faceforge_takes"
_LAYERED = "slots" in bpy.types.Action.bl_rna.properties
_LINEAR = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value


@dataclass
class BakeReport:
    """Names of the actions written, ARKit names baked, and ARKit names the mesh has no key for."""
    actions: list[str]
    baked: list[str]
    missing: list[str]


def scene_fps(scene) -> float:
    """The scene's frame rate (fps / fps_base), which baked samples are placed at."""
    return scene.render.fps / scene.render.fps_base


def _key_path(key_block_name: str) -> str:
    return f'key_blocks["{bpy.utils.escape_identifier(key_block_name)}"].value'


def _prop_path(prop: str) -> str:
    return f'["{bpy.utils.escape_identifier(prop)}"]'


def _takes(id_) -> dict:
    """{take: action} for a datablock, skipping takes whose action was deleted."""
    group = id_.get(TAKES_PROP) if id_ is not None else None
    return {take: act for take, act in group.items() if act is not None} if group else {}


def _frames(n: int, times, sample_rate, start_frame: float, fps: float) -> np.ndarray:
    if times is None:
        rate = fps if sample_rate is None else float(sample_rate)
        if not rate > 0:
            raise ValueError(f"sample_rate must be > 0, got {sample_rate}")
        times = np.arange(n) / rate
    times = np.asarray(times, dtype=np.float64)
    if times.shape != (n,):
        raise ValueError(f"times has shape {times.shape}, expected ({n},)")
    if not np.isfinite(times).all() or not (np.diff(times) > 0).all():
        raise ValueError("times must be finite and strictly increasing")
    return start_frame + times * fps


def _check_animatable(id_) -> None:
    ad = id_.animation_data
    if ad is not None and ad.use_tweak_mode:
        raise ValueError(f"{id_.name!r} is in NLA tweak mode; leave it before baking")


def _build_action(id_, name: str, channels) -> bpy.types.Action:
    """A new action for `id_` with linear F-curves [(data_path, index, co [n, 2])], unassigned."""
    action = bpy.data.actions.new(name)
    action.use_fake_user = True
    try:
        if _LAYERED:
            slot = action.slots.new(id_type=id_.id_type, name=id_.name)
            strip = action.layers.new("Layer").strips.new(type="KEYFRAME")
            fcurves = strip.channelbag(slot, ensure=True).fcurves
        else:
            action.id_root = id_.id_type
            fcurves = action.fcurves
        for path, index, co in channels:
            fcurve = fcurves.new(path, index=index)
            points = fcurve.keyframe_points
            points.add(len(co))
            points.foreach_set("co", co.ravel())
            points.foreach_set("interpolation", np.full(len(co), _LINEAR, dtype=np.int32))
            fcurve.update()
    except BaseException:
        bpy.data.actions.remove(action)
        raise
    return action


def _assign(id_, action) -> None:
    """Make `action` the datablock's active action (its FaceForge slot on layered actions)."""
    ad = id_.animation_data or id_.animation_data_create()
    prev = ad.action
    if prev is not None and prev != action and prev.users == 1 and prev not in _takes(id_).values():
        prev.use_fake_user = True  # the user's own action would otherwise be lost on save
    ad.action = action
    if _LAYERED and action is not None:
        ad.action_slot = action.slots[0]


def _deactivate_takes(id_) -> None:
    """Unassign the datablock's action if it is one of FaceForge's takes (never the user's)."""
    ad = id_.animation_data
    if ad is not None and ad.action is not None and ad.action in _takes(id_).values():
        ad.action = None


def _commit(id_, take: str, action) -> None:
    """Store `action` as the datablock's take (replacing an older bake of it) and activate it."""
    old = _takes(id_).get(take)
    if old is not None:
        name = old.name
        old.user_remap(action)  # NLA strips and the take map follow the new action
        bpy.data.actions.remove(old)
        action.name = name
    else:
        if TAKES_PROP not in id_:
            id_[TAKES_PROP] = {}
        id_[TAKES_PROP][take] = action
    _assign(id_, action)


def _curves(frames: np.ndarray, values: np.ndarray, tol: float) -> list[np.ndarray]:
    """A float32 [n, 2] (frame, value) key array per column of values [T, C], reduced if tol > 0."""
    keep = reduce_linear(frames, values, tol) if tol > 0 else np.ones(values.shape, dtype=bool)
    return [np.column_stack((frames[m], v[m])).astype(np.float32) for v, m in zip(values.T, keep.T)]


def _euler_track(euler, what: str, frames: int | None = None) -> np.ndarray:
    """`euler` as float64 [T, 3] rotation curves (T = `frames` when given, else any T > 0),
    or a ValueError naming `what`."""
    euler = np.asarray(euler, dtype=np.float64)
    shape_ok = euler.ndim == 2 and euler.shape[1] == 3 and len(euler) == (frames or len(euler)) > 0
    if not shape_ok or not np.isfinite(euler).all():
        raise ValueError(f"{what} must be finite with shape ({frames or 'T>0'}, 3), got {euler.shape}")
    return euler


def bake_weights(obj, weights, names, *, times=None, sample_rate=None, start_frame=1,
                 take="FaceForge", head_rotation=None, object_channels=None,
                 reduce_tolerance=0.0, scene=None, shape_keys=None) -> BakeReport:
    """Bake weights [T, K] for ARKit `names` onto the object's ARKit shape keys as take `take`
    (or, given `shape_keys` {name: key block name}, for any `names` onto those keys).

    Sample t lands on frame `start_frame + times[t] * fps` of `scene` (default: the
    context scene); `times` default to `arange(T) / sample_rate`, the rate to the scene
    fps. `head_rotation` [T, 3] (radians, XYZ Euler) goes to the object's own action
    f"{take} (head)", as do `object_channels` {name: [T]} (animated custom properties
    obj[name], e.g. Live Link's eye rotations). Keys are linear; `reduce_tolerance` > 0 drops keys while staying
    within it. Re-baking a take replaces it; the baked take becomes active. Everything is
    validated first, so a failure leaves the scene as it was.
    """
    scene = scene or bpy.context.scene
    weights = np.asarray(weights, dtype=np.float64)
    names = list(names)
    if weights.ndim != 2 or weights.shape[1] != len(names) or len(weights) == 0:
        raise ValueError(f"weights have shape {weights.shape}, expected (T>0, {len(names)})")
    if not np.isfinite(weights).all():
        raise ValueError("weights contain NaN or infinite values")
    if len(set(names)) != len(names):
        raise ValueError("names must be unique")
    if not take:
        raise ValueError("take needs a name")
    frames = _frames(len(weights), times, sample_rate, start_frame, scene_fps(scene))
    object_curves = []  # (data_path, index, values [T])
    if head_rotation is not None:
        head_rotation = _euler_track(head_rotation, "head_rotation", len(weights))
        object_curves += [("rotation_euler", i, head_rotation[:, i]) for i in range(3)]
    for prop, values in (object_channels or {}).items():
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(weights),) or not np.isfinite(values).all():
            raise ValueError(f"object channel {prop!r} must be finite with shape ({len(weights)},)")
        object_curves.append((_prop_path(prop), 0, values))
    if shape_keys is None:
        arkit = find_arkit_keys(obj)
        shape_keys = {n: arkit[canonical_name(n)] for n in names if canonical_name(n) in arkit}
    cols = [j for j, n in enumerate(names) if n in shape_keys]
    if not cols:
        raise ValueError(f"{obj.name!r} has no shape key for any of the {len(names)} ARKit "
                         f"shapes given; add ARKit shape keys (or rig the mesh) first")
    key = obj.data.shape_keys
    _check_animatable(key)
    if object_curves:
        _check_animatable(obj)

    channels = [(_key_path(shape_keys[names[j]]), 0, co)
                for j, co in zip(cols, _curves(frames, weights[:, cols], reduce_tolerance))]
    actions = [(key, _build_action(key, take, channels))]
    if object_curves:
        cos = _curves(frames, np.column_stack([v for _, _, v in object_curves]), reduce_tolerance)
        chans = [(path, index, co) for (path, index, _), co in zip(object_curves, cos)]
        try:
            actions.append((obj, _build_action(obj, f"{take} (head)", chans)))
        except BaseException:
            bpy.data.actions.remove(actions[0][1])
            raise

    for prop in object_channels or {}:
        if prop not in obj:
            obj[prop] = 0.0  # an F-curve needs the property to exist to drive it
    for id_, action in actions:
        _commit(id_, take, action)
    if head_rotation is not None:
        obj.rotation_mode = "XYZ"
    if not object_curves:
        _deactivate_takes(obj)  # another take's head motion would not match this one
    return BakeReport(actions=[a.name for _, a in actions],
                      baked=[names[j] for j in cols],
                      missing=[n for n in names if n not in shape_keys])


def bake_bone_rotation(armature, bone_name: str, euler, *, times=None, sample_rate=None,
                       start_frame=1, take="FaceForge", reduce_tolerance=0.0, scene=None) -> str:
    """Bake XYZ Euler curves [T, 3] onto the armature's pose bone `bone_name` as the
    armature's take f"{take} (head)" (timing as in bake_weights); returns the action's name."""
    scene = scene or bpy.context.scene
    euler = _euler_track(euler, "bone rotation")
    pose_bone = armature.pose.bones.get(bone_name) if armature.type == "ARMATURE" else None
    if pose_bone is None:
        raise ValueError(f"{armature.name!r} is not an armature with a bone {bone_name!r}")
    _check_animatable(armature)
    frames = _frames(len(euler), times, sample_rate, start_frame, scene_fps(scene))
    path = f'pose.bones["{bpy.utils.escape_identifier(bone_name)}"].rotation_euler'
    chans = [(path, i, co) for i, co in enumerate(_curves(frames, euler, reduce_tolerance))]
    action = _build_action(armature, f"{take} (head)", chans)
    _commit(armature, take, action)
    pose_bone.rotation_mode = "XYZ"
    return action.name


def _active_fcurves(id_) -> dict:
    """{(data_path, index): fcurve} of the datablock's active action (its assigned slot)."""
    ad = id_.animation_data if id_ is not None else None
    if ad is None or ad.action is None:
        return {}
    if _LAYERED:
        bags = [strip.channelbag(ad.action_slot) for layer in ad.action.layers
                for strip in layer.strips] if ad.action_slot else []
        fcurves = [fc for bag in bags if bag is not None for fc in bag.fcurves]
    else:
        fcurves = ad.action.fcurves
    return {(fc.data_path, fc.array_index): fc for fc in fcurves}


def _sample(fcurve, frames: np.ndarray) -> np.ndarray:
    """The F-curve at `frames`: np.interp for plain linear curves, fcurve.evaluate otherwise."""
    points = fcurve.keyframe_points
    interp = bulk_get(points, "interpolation", np.int32)
    if (len(points) and not fcurve.modifiers and fcurve.extrapolation == "CONSTANT"
            and (interp[:-1] == _LINEAR).all()):
        co = bulk_get(points, "co", np.float32, 2)
        return np.interp(frames, co[:, 0], co[:, 1])
    return np.array([fcurve.evaluate(f) for f in frames])


def read_weights(obj, names, frames) -> np.ndarray:
    """[T, K] float32 values of ARKit `names` at `frames` in the active take.

    A shape whose key has no curve gives the key's current value; one the mesh has no
    key for gives 0.
    """
    frames = np.asarray(frames, dtype=np.float64)
    keys = find_arkit_keys(obj)
    key = obj.data.shape_keys
    curves = _active_fcurves(key)
    out = np.zeros((len(frames), len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        block = keys.get(canonical_name(name))
        if block is None:
            continue
        fcurve = curves.get((_key_path(block), 0))
        out[:, j] = _sample(fcurve, frames) if fcurve else key.key_blocks[block].value
    return out


def read_object_channels(obj, props, frames) -> np.ndarray:
    """[T, len(props)] float32 values of the object's animated custom properties at frames
    (a property without a curve gives its current value, a missing one 0)."""
    frames = np.asarray(frames, dtype=np.float64)
    curves = _active_fcurves(obj)
    out = np.zeros((len(frames), len(props)), dtype=np.float32)
    for j, prop in enumerate(props):
        fcurve = curves.get((_prop_path(prop), 0))
        out[:, j] = _sample(fcurve, frames) if fcurve else float(obj.get(prop, 0.0))
    return out


def take_action(obj, take: str):
    """The action holding the take's shape-key channels."""
    action = _takes(obj.data.shape_keys).get(take)
    if action is None:
        raise ValueError(f"{obj.name!r} has no take {take!r}")
    return action


def active_take(obj) -> str | None:
    """The name of the take playing on the object's shape keys, if it is a FaceForge take."""
    key = obj.data.shape_keys
    ad = key.animation_data if key is not None else None
    if ad is None or ad.action is None:
        return None
    return next((t for t, a in _takes(key).items() if a == ad.action), None)


def take_frames(obj) -> np.ndarray:
    """Sorted frames that carry a key in any shape-key channel of the active take."""
    fcurves = _active_fcurves(obj.data.shape_keys).values()
    if not fcurves:
        raise ValueError(f"{obj.name!r} has no animation on its shape keys")
    return np.unique(np.concatenate([bulk_get(fc.keyframe_points, "co", np.float32, 2)[:, 0]
                                     for fc in fcurves]))


def list_takes(obj) -> list[str]:
    """Names of the takes baked on the object's shape keys, oldest first."""
    return list(_takes(obj.data.shape_keys))


def set_active_take(obj, take: str) -> None:
    """Switch the object's shape keys (and head rotation, if that take has one) to `take`."""
    takes = _takes(obj.data.shape_keys)
    if take not in takes:
        raise ValueError(f"{obj.name!r} has no take {take!r}; takes: {', '.join(takes) or 'none'}")
    _assign(obj.data.shape_keys, takes[take])
    head = _takes(obj).get(take)
    if head is not None:
        _assign(obj, head)
    else:
        _deactivate_takes(obj)
