"""Write FaceForge's shape keys onto a mesh without ever touching the user's own keys.

Ownership is recorded in the Key datablock's ID property `faceforge_keys` (a list of
names), so re-running updates only FaceForge's keys and `remove_faceforge_keys` can undo it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ml.arkit import canonical_name
from .mesh_io import bulk_get

OWNED_PROP = "faceforge_keys"


@dataclass
class KeyWriteReport:
    """Names created, updated, and skipped because a user key already provides them."""
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept_user: list[str] = field(default_factory=list)


def _owned(key) -> list[str]:
    return list(key.get(OWNED_PROP, [])) if key is not None else []


def faceforge_key_names(obj) -> list[str]:
    """Names of the FaceForge-owned keys present on the object, in key order."""
    key = obj.data.shape_keys
    owned = set(_owned(key))
    return [kb.name for kb in key.key_blocks if kb.name in owned] if owned else []


def find_arkit_keys(obj) -> dict[str, str]:
    """{ARKit name: key block name} for the object's keys that name an ARKit shape.

    Matches through `canonical_name` ('EyeBlinkLeft', 'eyeBlink_L', ...), skips the
    reference key, and prefers the user's key when both the user and FaceForge have one.
    """
    key = getattr(obj.data, "shape_keys", None)
    if key is None:
        return {}
    owned = set(_owned(key))
    found: dict[str, str] = {}
    for kb in key.key_blocks:
        arkit = canonical_name(kb.name)
        if arkit is None or kb == key.reference_key:
            continue
        if arkit not in found or (found[arkit] in owned and kb.name not in owned):
            found[arkit] = kb.name
    return found


def _set_co(kb, co: np.ndarray) -> None:
    kb.data.foreach_set("co", co.ravel())


def _validate(obj, deltas: np.ndarray, names: list[str]) -> None:
    if obj.type != "MESH":
        raise TypeError(f"{obj.name!r} is a {obj.type}, not a mesh")
    if obj.mode == "EDIT":  # Edit Mode would overwrite the keys when it is left
        raise ValueError(f"{obj.name!r} is in Edit Mode; leave it before writing shape keys")
    n_verts = len(obj.data.vertices)
    if deltas.shape != (len(names), n_verts, 3):
        raise ValueError(f"deltas have shape {deltas.shape}, expected "
                         f"({len(names)}, {n_verts}, 3) for {len(names)} names on {obj.name!r}")
    if not np.isfinite(deltas).all():
        raise ValueError("deltas contain NaN or infinite values")
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise ValueError("shape key names must be unique, non-empty strings")
    key = obj.data.shape_keys
    if key is not None and key.reference_key.name in names:
        raise ValueError(f"{key.reference_key.name!r} is the reference key and cannot be written")


@dataclass
class KeySnapshot:
    """What `write_shape_keys(obj, ..., names)` may change, so it can be put back."""
    had_keys: bool
    blocks: list[str]               # key block names before the write
    owned: list[str] | None         # the ownership list, None when there was none
    coords: dict[str, np.ndarray]   # FaceForge keys among `names`: their coordinates
    active_index: int


def snapshot(obj, names) -> KeySnapshot:
    """The object's keys as a write of `names` would find them (see `restore`)."""
    key = obj.data.shape_keys
    if key is None:
        return KeySnapshot(False, [], None, {}, obj.active_shape_key_index)
    owned = set(_owned(key))
    blocks = key.key_blocks
    coords = {n: bulk_get(blocks[n].data, "co", np.float32, 3) for n in names if n in owned and n in blocks}
    return KeySnapshot(True, [kb.name for kb in blocks],
                       list(key[OWNED_PROP]) if OWNED_PROP in key else None, coords,
                       obj.active_shape_key_index)


def restore(obj, snap: KeySnapshot) -> None:
    """Put the object's keys back as `snapshot` found them: keys added since removed (all
    of them, Basis included, if it had none), rewritten FaceForge keys and ownership restored."""
    key = obj.data.shape_keys
    if key is None:
        return
    if not snap.had_keys:
        obj.shape_key_clear()
        return
    for name in [kb.name for kb in key.key_blocks if kb.name not in snap.blocks]:
        obj.shape_key_remove(key.key_blocks[name])
    for name, co in snap.coords.items():
        _set_co(key.key_blocks[name], co)
    if snap.owned is None:
        key.pop(OWNED_PROP, None)
    else:
        key[OWNED_PROP] = snap.owned
    obj.active_shape_key_index = snap.active_index
    obj.data.update()


def write_shape_keys(obj, deltas, names) -> KeyWriteReport:
    """Create or update FaceForge's keys `names` as basis + `deltas` [K, V, 3], in that order.

    Adds a Basis if the mesh has no keys. A key the user owns under the same name, or
    under another spelling of the same ARKit shape, is left alone and reported in
    `kept_user`. All-or-nothing: on any failure the mesh is restored exactly and the
    error re-raised.
    """
    deltas = np.asarray(deltas, dtype=np.float32)
    names = list(names)
    _validate(obj, deltas, names)
    before = snapshot(obj, names)
    report = KeyWriteReport()
    try:
        if not before.had_keys:
            obj.shape_key_add(name="Basis", from_mix=False)
        key = obj.data.shape_keys
        blocks = key.key_blocks
        owned = _owned(key)
        user_arkit = {canonical_name(kb.name) for kb in blocks if kb.name not in owned} - {None}
        basis = bulk_get(key.reference_key.data, "co", np.float32, 3)
        for name, delta in zip(names, deltas):
            kb = blocks.get(name)
            theirs = name not in owned if kb is not None else canonical_name(name) in user_arkit
            if theirs:
                report.kept_user.append(name)
                continue
            if kb is None:
                kb = obj.shape_key_add(name=name, from_mix=False)
                kb.value = 0.0  # Blender 5 starts new keys at 1.0: the face would show them all
                report.created.append(name)
                if name not in owned:  # owned earlier, then deleted by the user
                    owned.append(name)
            else:
                report.updated.append(name)
            _set_co(kb, basis + delta)
        key[OWNED_PROP] = owned
    except BaseException:
        restore(obj, before)
        raise
    obj.data.update()
    return report


def remove_faceforge_keys(obj) -> list[str]:
    """Delete FaceForge's keys (the Basis and the user's keys stay); returns their names."""
    key = obj.data.shape_keys
    if key is None:
        return []
    removed = faceforge_key_names(obj)
    for name in removed:
        obj.shape_key_remove(key.key_blocks[name])
    if obj.data.shape_keys is not None:
        obj.data.shape_keys.pop(OWNED_PROP, None)
    obj.data.update()
    return removed
