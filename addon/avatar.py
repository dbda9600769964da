"""The avatar around a selection and the face inside it, as Blender objects: which
meshes belong to the selected avatar, and which of their vertices Auto-Rig moves
(`ml.autorig.find_head` decides from world-space arrays)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..ml.autorig.find_head import Piece, find_face
from ..ml.autorig.infer import RigOptions
from . import mesh_io


def _root(obj):
    while obj.parent is not None:
        obj = obj.parent
    return obj


def avatar_meshes(selected, scene_objects) -> list:
    """The meshes of the avatar(s) the selection belongs to: every mesh under the same
    top-level parent as a selected object (mesh or armature), and every mesh a selected
    armature deforms. Unparented meshes with no children are taken as selected."""
    roots = {_root(o).name for o in selected if o.parent is not None or o.children}
    armatures = {o.name for o in selected if o.type == "ARMATURE"}
    out = [o for o in selected if o.type == "MESH"]
    names = {o.name for o in out}
    for o in scene_objects:
        if o.type != "MESH" or o.name in names:
            continue
        deformed = any(m.type == "ARMATURE" and m.object is not None and m.object.name in armatures
                       for m in o.modifiers)
        if _root(o).name in roots or deformed:
            out.append(o)
            names.add(o.name)
    return out


def world_piece(obj) -> Piece:
    """A mesh object (without modifiers: its rest pose) as a world-space `Piece`."""
    a = mesh_io.read_mesh(obj)
    m = a.matrix_world.astype(np.float64)
    return Piece(obj.name, a.verts @ m[:3, :3].T + m[:3, 3], a.tris, a.part_labels)


def find_head(meshes, options: RigOptions):
    """(meshes to rig, their vertex masks, report lines, options with the orientation
    found) for a whole file's meshes; raises `find_head.NoFaceError` when none is a face."""
    sel = find_face([world_piece(o) for o in meshes], options)
    lines = ["meshes and parts: " + "; ".join(sel.describe([o.name for o in meshes]))]
    keep = [(o, m) for o, m in zip(meshes, sel.masks) if m.any()]
    found = replace(options, forward_axis=sel.orientation.forward_axis,
                    up_axis=sel.orientation.up_axis)
    return [o for o, _ in keep], [m for _, m in keep], lines + sel.warnings, found
