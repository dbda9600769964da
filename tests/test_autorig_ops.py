"""Auto-Rig Face in Blender: the operator, the CLI, separate eye objects, bad input."""
import numpy as np
import pytest

from faceforge.addon import reference_head, shape_keys
from faceforge.ml import arkit
from faceforge.ops import autorig, cli
from helpers import empty_scene_with_window


def _unrigged_head(bpy):
    """The built-in head without its ARKit keys, plus one user key of its own."""
    head = reference_head.build_reference_head(with_arkit_keys=False)
    head.shape_key_add(name="Basis")
    user = head.shape_key_add(name="MyCorrective", from_mix=False)
    user.data[0].co.x += 0.01
    for o in bpy.context.scene.objects:
        o.select_set(o == head)
    bpy.context.view_layer.objects.active = head
    return head


@pytest.fixture(scope="module")
def rigged(request):
    """Rig the built-in head once through the operator (the slow part) for several checks."""
    import bpy
    from conftest import _register_once
    _register_once()
    empty_scene_with_window()
    head = _unrigged_head(bpy)
    before = np.array([v.co[:] for v in head.data.vertices])
    bpy.ops.ed.undo_push(message="before rig")
    result = bpy.ops.faceforge.auto_rig("EXEC_DEFAULT", True)
    yield bpy, head.name, before, result


def test_operator_adds_52_arkit_keys_and_keeps_users(rigged):
    bpy, name, before, result = rigged
    assert result == {"FINISHED"}
    head = bpy.data.objects[name]
    keys = [kb.name for kb in head.data.shape_keys.key_blocks]
    assert keys[:2] == ["Basis", "MyCorrective"]
    assert tuple(keys[2:]) == arkit.ARKIT_NAMES
    assert shape_keys.faceforge_key_names(head) == list(arkit.ARKIT_NAMES)
    assert head.data.shape_keys.key_blocks["MyCorrective"].data[0].co.x == pytest.approx(before[0, 0] + 0.01)
    # the mesh itself (vertex order and positions) is untouched
    after = np.array([v.co[:] for v in head.data.vertices])
    np.testing.assert_array_equal(after, before)
    # the shapes move the face, and a preview take cycles through them
    jaw = np.array([v.co[:] for v in head.data.shape_keys.key_blocks["jawOpen"].data]) - before
    assert np.linalg.norm(jaw, axis=1).max() > 1e-3
    assert autorig.PREVIEW_TAKE in bpy.data.actions


def test_undo_restores_the_unrigged_head(rigged):
    bpy, name, _, _ = rigged
    bpy.ops.ed.undo()
    keys = [kb.name for kb in bpy.data.objects[name].data.shape_keys.key_blocks]
    assert keys == ["Basis", "MyCorrective"]


def test_rerun_replaces_only_faceforge_keys(bpy_empty):
    bpy = bpy_empty
    head = _unrigged_head(bpy)
    user_jaw = head.shape_key_add(name="jawOpen", from_mix=False)   # the user's own jawOpen
    user_jaw.data[5].co.z += 0.02
    bpy.ops.faceforge.auto_rig(preview=False)
    rep, _ = autorig.rig_objects([head], autorig.infer.RigOptions(strength=0.5), preview=False)
    assert rep[0].kept_user == ["jawOpen"] and len(rep[0].updated) == 51
    assert head.data.shape_keys.key_blocks["jawOpen"].data[5].co.z == pytest.approx(
        head.data.vertices[5].co.z + 0.02)


@pytest.mark.parametrize("make, message", [
    (lambda bpy: bpy.data.meshes.new("empty"), "empty"),
    (lambda bpy: _loose_verts(bpy), "no faces"),
    (lambda bpy: _nan_mesh(bpy), "NaN"),
])
def test_bad_meshes_get_a_clear_error_and_change_nothing(bpy_empty, make, message):
    bpy = bpy_empty
    obj = bpy.data.objects.new("bad", make(bpy))
    bpy.context.scene.collection.objects.link(obj)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.faceforge.auto_rig()
    assert obj.data.shape_keys is None


def _loose_verts(bpy):
    mesh = bpy.data.meshes.new("loose")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [(0, 1)], [])
    return mesh


def _nan_mesh(bpy):
    mesh = bpy.data.meshes.new("nan")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, float("nan"), 0)], [], [(0, 1, 2)])
    return mesh


def test_nothing_selected_is_an_error(bpy_empty):
    assert not bpy_empty.ops.faceforge.auto_rig.poll()


def test_cube_warns_no_face_and_does_not_crash(bpy_empty):
    bpy = bpy_empty
    bpy.ops.mesh.primitive_cube_add(size=0.2)
    _, result = autorig.rig_objects([bpy.context.active_object], autorig.infer.RigOptions(),
                                    preview=False)
    assert any("no face found" in w for w in result.warnings)


def _detach_eyes(bpy, head):
    """Delete the head's own eyeballs and put a UV sphere of the same size in each socket."""
    import bmesh
    bm = bmesh.new()
    bm.from_mesh(head.data)
    deform = bm.verts.layers.deform.active
    spheres = []
    for part in ("eye_left", "eye_right"):
        g = head.vertex_groups[part].index
        members = [v for v in bm.verts if g in v[deform]]
        co = np.array([v.co[:] for v in members])
        centre = co.mean(axis=0)
        radius = float(np.linalg.norm(co - centre, axis=1).max())
        bmesh.ops.delete(bm, geom=members, context="VERTS")
        bpy.ops.mesh.primitive_uv_sphere_add(radius=radius, location=tuple(centre))
        spheres.append(bpy.context.active_object)
    bm.to_mesh(head.data)
    bm.free()
    return spheres


def test_separate_eye_objects_rotate_with_gaze(bpy_empty):
    """Eyes as objects of their own: each eyeLook shape turns its eye rigidly, the other stays."""
    bpy = bpy_empty
    head = _unrigged_head(bpy)
    left, right = _detach_eyes(bpy, head)
    reports, result = autorig.rig_objects([head, left, right], autorig.infer.RigOptions(),
                                          preview=False)
    assert len(reports) == 3 and result.eyes is not None

    def moved(eye, shape):
        base = np.array([v.co[:] for v in eye.data.vertices])
        d = np.array([v.co[:] for v in eye.data.shape_keys.key_blocks[shape].data]) - base
        return d, base

    d, base = moved(left, "eyeLookUpLeft")
    centre = base.mean(axis=0)
    assert np.linalg.norm(d, axis=1).max() > 1e-3                     # it turns...
    np.testing.assert_allclose(np.linalg.norm(base + d - centre, axis=1),
                               np.linalg.norm(base - centre, axis=1), atol=1e-5)  # ...rigidly
    front = base[:, 1] < centre[1] - 0.5 * np.ptp(base[:, 1]) / 2      # the pupil side (-Y)
    assert d[front, 2].mean() > 0                                      # looking up
    assert np.abs(moved(right, "eyeLookUpLeft")[0]).max() == 0


def test_cli_rig_writes_rigged_files(bpy_empty, tmp_path):
    bpy = bpy_empty
    _unrigged_head(bpy)
    src = tmp_path / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(src), copy=True)
    (tmp_path / "broken.blend").write_text("not a blend file")
    out = tmp_path / "out"
    code = cli.run(["rig", str(src), str(tmp_path / "broken.blend"), "-o", str(out), "--no-preview"])
    assert code == 1 and (out / "head.blend").exists() and not (out / "broken.blend").exists()
    bpy.ops.wm.open_mainfile(filepath=str(out / "head.blend"))
    head = bpy.data.objects["FaceForge Head"]
    assert len(head.data.shape_keys.key_blocks) == 2 + 52


def test_failed_multi_object_rig_restores_every_object(bpy_empty, monkeypatch):
    """A re-rig that fails on its last object puts every object's keys back: rewritten
    FaceForge keys get their old shapes, a fresh object loses its new keys and Basis."""
    bpy = bpy_empty
    head = _unrigged_head(bpy)
    left, right = _detach_eyes(bpy, head)
    autorig.rig_objects([head, left], autorig.infer.RigOptions(), preview=False)

    def keys(obj):
        key = obj.data.shape_keys
        if key is None:
            return None
        return ({kb.name: np.array([v.co[:] for v in kb.data]) for kb in key.key_blocks},
                list(key[shape_keys.OWNED_PROP]))

    before = [keys(o) for o in (head, left, right)]
    assert before[2] is None
    real, calls = shape_keys.write_shape_keys, []

    def fail_on_third(obj, deltas, names):
        report = real(obj, deltas, names)
        calls.append(obj.name)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return report

    monkeypatch.setattr(shape_keys, "write_shape_keys", fail_on_third)
    with pytest.raises(RuntimeError, match="disk full"):
        autorig.rig_objects([head, left, right], autorig.infer.RigOptions(strength=0.5), preview=False)
    assert len(calls) == 3
    for obj, (coords, owned) in zip((head, left), before[:2]):
        after, after_owned = keys(obj)
        assert list(after) == list(coords) and after_owned == owned
        for name, co in coords.items():
            np.testing.assert_array_equal(after[name], co, err_msg=f"{obj.name}: {name}")
    assert right.data.shape_keys is None


def test_sheet_button_opens_the_52_shapes_and_leaves_the_scene(bpy_empty):
    from conftest import _register_once
    _register_once()
    bpy = bpy_empty
    head = reference_head.build_reference_head()          # carries the 52 keys
    head.select_set(True)
    bpy.context.view_layer.objects.active = head
    objects = {o.name for o in bpy.data.objects}
    values = [kb.value for kb in head.data.shape_keys.key_blocks]
    assert bpy.ops.faceforge.rig_sheet() == {"FINISHED"}
    image = bpy.data.images[autorig.SHEET_IMAGE]
    assert tuple(image.size) == (13 * 160, 4 * 160)
    assert {o.name for o in bpy.data.objects} == objects      # no camera or light left behind
    assert [kb.value for kb in head.data.shape_keys.key_blocks] == values
    assert bpy.ops.faceforge.rig_sheet() == {"FINISHED"}   # again: the same image, reloaded
    assert sum(i.name.startswith(autorig.SHEET_IMAGE) for i in bpy.data.images) == 1


def test_sheet_button_needs_a_rigged_mesh(bpy_empty):
    from conftest import _register_once
    _register_once()
    head = reference_head.build_reference_head(with_arkit_keys=False)
    head.select_set(True)
    bpy_empty.context.view_layer.objects.active = head
    assert not bpy_empty.ops.faceforge.rig_sheet.poll()
