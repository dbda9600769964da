"""Mesh -> numpy: vertices, triangles, n-gons, loose parts, matrix, shape keys, modifiers."""
import numpy as np
import pytest

from faceforge.addon.mesh_io import read_mesh, read_shape_keys
from faceforge.ml.geometry.parts import connected_components


def _object(bpy, verts, faces, name="part"):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], faces)
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


@pytest.fixture
def quad_and_triangle(bpy_empty):
    """A quad, a separate triangle, a pentagon sharing nothing, and one loose vertex."""
    verts = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0),        # quad 0-3
             (5, 0, 0), (6, 0, 0), (5, 1, 0),                   # triangle 4-6
             (9, 9, 9),                                         # loose vertex 7
             (10, 0, 0), (11, 0, 0), (11.5, 1, 0), (10.5, 2, 0), (9.5, 1, 0)]  # pentagon 8-12
    return _object(bpy_empty, verts, [(0, 1, 2, 3), (4, 5, 6), (8, 9, 10, 11, 12)])


def test_read_mesh_arrays(quad_and_triangle, bpy_empty):
    obj = quad_and_triangle
    obj.location = (1, 2, 3)
    bpy_empty.context.view_layer.update()
    m = read_mesh(obj)
    assert m.name == obj.name
    assert m.verts.dtype == np.float32 and m.verts.shape == (13, 3)
    assert np.allclose(m.verts[2], (1, 1, 0))
    assert m.tris.dtype == np.int32 and m.tris.shape == (2 + 1 + 3, 3)
    assert m.poly_offsets.dtype == np.int64 and m.poly_offsets.tolist() == [0, 4, 7, 12]
    assert m.poly_verts.dtype == np.int32
    assert m.poly_verts[7:12].tolist() == [8, 9, 10, 11, 12]
    assert m.part_labels.dtype == np.int32
    assert m.part_labels.tolist() == [0] * 4 + [1] * 3 + [2] + [3] * 5
    assert m.matrix_world.shape == (4, 4) and m.matrix_world.dtype == np.float32
    assert np.allclose(m.matrix_world[:3, 3], (1, 2, 3))


def test_evaluated_reads_modifiers(quad_and_triangle, bpy_empty):
    obj = quad_and_triangle
    obj.modifiers.new("sub", "SUBSURF").levels = 1
    plain, evaluated = read_mesh(obj), read_mesh(obj, evaluated=True)
    assert len(plain.verts) == 13
    assert len(evaluated.verts) > len(plain.verts)
    assert evaluated.part_labels.max() == 3  # subdivision keeps the four parts
    assert len(obj.modifiers) == 1 and len(obj.data.vertices) == 13  # original untouched


def test_non_mesh_raises(bpy_empty):
    empty = bpy_empty.data.objects.new("empty", None)
    with pytest.raises(TypeError, match="not a mesh"):
        read_mesh(empty)


def test_read_shape_keys(quad_and_triangle):
    obj = quad_and_triangle
    assert read_shape_keys(obj)[0] == [] and read_shape_keys(obj)[1].shape == (0, 13, 3)
    obj.shape_key_add(name="Basis")
    kb = obj.shape_key_add(name="up", from_mix=False)
    kb.data[3].co = (0, 1, 5)
    names, coords = read_shape_keys(obj)
    assert names == ["Basis", "up"]
    assert coords.shape == (2, 13, 3) and coords.dtype == np.float32
    assert np.allclose(coords[1, 3], (0, 1, 5)) and np.allclose(coords[0, 3], (0, 1, 0))


def test_connected_components_long_chain_and_order():
    """A long shuffled path is one part, and parts are numbered by their lowest vertex."""
    n = 5000
    order = np.random.default_rng(0).permutation(n)
    chain = np.column_stack([order[:-1], order[1:]])
    labels = connected_components(n + 3, np.vstack([chain, [[n + 2, n + 1]]]))
    assert labels[:n].tolist() == [0] * n
    assert labels[n:].tolist() == [1, 2, 2]
    assert connected_components(3, np.zeros((0, 2), dtype=np.int32)).tolist() == [0, 1, 2]
