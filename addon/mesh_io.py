"""Mesh -> numpy: vertices, triangles, polygons, loose parts, world matrix and shape keys.

Everything is read in bulk with foreach_get so a 100k-vertex head costs milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from ..ml.geometry.parts import welded_components


@dataclass
class MeshArrays:
    """A mesh as arrays; `poly_verts[poly_offsets[p]:poly_offsets[p+1]]` is polygon p."""
    verts: np.ndarray         # [V, 3] float32, object space
    tris: np.ndarray          # [F, 3] int32, loop triangles
    poly_offsets: np.ndarray  # [P+1] int64
    poly_verts: np.ndarray    # [L] int32
    part_labels: np.ndarray   # [V] int32, connected component (seams welded), by lowest vertex
    matrix_world: np.ndarray  # [4, 4] float32
    name: str


def bulk_get(collection, attr: str, dtype, width: int = 1) -> np.ndarray:
    """`attr` of every item of a bpy collection via foreach_get, as [N] or [N, width]."""
    out = np.empty(len(collection) * width, dtype=dtype)
    collection.foreach_get(attr, out)
    return out.reshape(-1, width) if width > 1 else out


def _arrays(mesh, matrix_world, name: str) -> MeshArrays:
    mesh.calc_loop_triangles()
    edges = bulk_get(mesh.edges, "vertices", np.int32, 2)
    loop_start = bulk_get(mesh.polygons, "loop_start", np.int32)
    verts = bulk_get(mesh.vertices, "co", np.float32, 3)
    return MeshArrays(
        verts=verts,
        tris=bulk_get(mesh.loop_triangles, "vertices", np.int32, 3),
        poly_offsets=np.append(loop_start, len(mesh.loops)).astype(np.int64),
        poly_verts=bulk_get(mesh.loops, "vertex_index", np.int32),
        part_labels=welded_components(verts, edges),
        matrix_world=np.array(matrix_world, dtype=np.float32),
        name=name,
    )


def read_mesh(obj, evaluated: bool = False) -> MeshArrays:
    """The object's mesh as arrays; `evaluated` reads it after modifiers (via the depsgraph)."""
    if obj.type != "MESH":
        raise TypeError(f"{obj.name!r} is a {obj.type}, not a mesh")
    if not evaluated:
        return _arrays(obj.data, obj.matrix_world, obj.name)
    ob_eval = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = ob_eval.to_mesh()
    try:
        return _arrays(mesh, ob_eval.matrix_world, obj.name)
    finally:
        ob_eval.to_mesh_clear()


def read_shape_keys(obj) -> tuple[list[str], np.ndarray]:
    """Names and coordinates [K, V, 3] float32 of the object's shape keys, basis first."""
    n_verts = len(obj.data.vertices)
    key = obj.data.shape_keys
    if key is None:
        return [], np.zeros((0, n_verts, 3), dtype=np.float32)
    blocks = key.key_blocks
    coords = np.stack([bulk_get(kb.data, "co", np.float32, 3) for kb in blocks])
    return [kb.name for kb in blocks], coords
