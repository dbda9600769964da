"""Auto-Rig on whole files: the face found among body, outfit, hair and glasses, on a
skinned avatar, in other units and axes, lying on its back, as a face-only mask,
without eyeballs; and a clear refusal for a file with nothing face-like."""
import numpy as np
import pytest

from avatar_scenes import whole_avatar
from faceforge.addon import avatar, reference_head
from faceforge.ml.autorig.find_head import NoFaceError
from faceforge.ops import autorig, cli

LEFT_ALONE = ("Body", "Outfit", "Hair", "Glasses")
FACE_MESHES = ("Head", "EyeLeft", "EyeRight", "Teeth")


def _keys(obj, name):
    base = np.array([v.co[:] for v in obj.data.vertices])
    return np.array([v.co[:] for v in obj.data.shape_keys.key_blocks[name].data]) - base


def _rig(objects, **kw):
    return autorig.rig_objects(list(objects), autorig.infer.RigOptions(**kw), preview=False, find=True)


def test_whole_skinned_avatar_rigs_the_face_and_leaves_the_rest(bpy_empty, tmp_path):
    bpy = bpy_empty
    meshes, rig = whole_avatar()
    weights = {m.name: [v.groups[0].weight for v in m.data.vertices] for m in meshes}
    bones = {b.name: (tuple(b.head_local), tuple(b.tail_local)) for b in rig.data.bones}
    # selecting the armature alone finds every mesh of the avatar
    assert {o.name for o in avatar.avatar_meshes([rig], bpy.context.scene.objects)} == {m.name for m in meshes}
    _, result = _rig(avatar.avatar_meshes([rig], bpy.context.scene.objects))
    for name in LEFT_ALONE:
        assert bpy.data.objects[name].data.shape_keys is None, name
    for name in FACE_MESHES:
        assert len(bpy.data.objects[name].data.shape_keys.key_blocks) == 53, name
    report = " ".join(result.notes)
    for text in ("EyeLeft: eye", "Teeth: mouth interior (2 parts)", "Glasses: left alone", "Body: left alone"):
        assert text in report
    assert result.eyes is not None
    # the jaw opens the lips downward; the eyes turn; the teeth follow the jaw
    head = bpy.data.objects["Head"]
    jaw = _keys(head, "jawOpen")
    assert jaw[:, 2].min() < -0.005
    assert np.abs(_keys(bpy.data.objects["EyeLeft"], "eyeLookUpLeft")).max() > 1e-3
    assert np.abs(_keys(bpy.data.objects["Teeth"], "jawOpen")).max() > 1e-3
    # armature and weights untouched
    assert {b.name: (tuple(b.head_local), tuple(b.tail_local)) for b in rig.data.bones} == bones
    for m in meshes:
        assert [v.groups[0].weight for v in m.data.vertices] == weights[m.name]
    # glTF export keeps the morph targets and the skin
    out = tmp_path / "avatar.glb"
    bpy.ops.export_scene.gltf(filepath=str(out), export_morph=True, export_skins=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=str(out))
    heads = [o for o in bpy.data.objects if o.type == "MESH" and o.data.shape_keys is not None
             and "jawOpen" in o.data.shape_keys.key_blocks]
    assert heads and any(o.find_armature() is not None for o in heads)


def test_avatar_in_centimetres_far_from_the_origin_via_gltf(bpy_empty, tmp_path):
    """A Y-up glTF of an avatar in centimetres placed 40 m away: found without options."""
    bpy = bpy_empty
    meshes, rig = whole_avatar()
    rig.scale = (100.0, 100.0, 100.0)
    rig.location = (4000.0, -2500.0, 300.0)
    src = tmp_path / "cm.glb"
    bpy.ops.export_scene.gltf(filepath=str(src), export_morph=True, export_skins=True)
    out = tmp_path / "out"
    assert cli.run(["rig", str(src), "-o", str(out), "--no-preview", "--format", ".blend"]) == 0
    bpy.ops.wm.open_mainfile(filepath=str(out / "cm.blend"))
    keyed = {o.name for o in bpy.data.objects if o.type == "MESH" and o.data.shape_keys is not None}
    assert {"Head", "EyeLeft", "EyeRight", "Teeth"} <= keyed
    assert not keyed & set(LEFT_ALONE)


def test_file_with_nothing_face_like_is_refused_and_unchanged(bpy_empty, tmp_path):
    bpy = bpy_empty
    bpy.ops.mesh.primitive_cube_add(size=0.3)
    bpy.ops.mesh.primitive_cylinder_add(radius=0.1, depth=1.0, location=(0, 0, -1))
    src = tmp_path / "props.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(src), copy=True)
    with pytest.raises(NoFaceError, match="no face found"):
        _rig(bpy.context.scene.objects)
    assert all(o.data.shape_keys is None for o in bpy.context.scene.objects)
    out = tmp_path / "out"
    assert cli.run(["rig", str(src), "-o", str(out)]) == 1
    assert not (out / "props.blend").exists()


def _head_lying_on_its_back(bpy):
    head = reference_head.build_reference_head(with_arkit_keys=False)
    head.rotation_euler = (-np.pi / 2, 0.0, 0.0)   # the face now looks up (+Z)
    bpy.context.view_layer.update()
    return head


def test_head_on_its_back_is_turned_and_said(bpy_empty):
    """The face check runs even with eyeballs found: the head looks up, not along -Y;
    the rig says so, and its jaw opens toward the chin (world -Y once lying down)."""
    bpy = bpy_empty
    head = _head_lying_on_its_back(bpy)
    _, result = autorig.rig_objects([head], autorig.infer.RigOptions(), preview=False)
    assert any("looks toward +Z" in w for w in result.warnings)
    jaw_world = _keys(head, "jawOpen") @ np.array(head.matrix_world)[:3, :3].T
    moved = np.linalg.norm(jaw_world, axis=1) > 1e-3
    assert jaw_world[moved, 1].mean() < 0        # down the face = toward world -Y
    assert abs(jaw_world[moved, 2].mean()) < abs(jaw_world[moved, 1].mean())


def test_wrong_forward_option_with_eyeballs_is_corrected(bpy_empty):
    bpy = bpy_empty
    head = reference_head.build_reference_head(with_arkit_keys=True)
    truth = _keys(head, "jawOpen")
    bare = reference_head.build_reference_head(name="bare", with_arkit_keys=False)
    _, result = autorig.rig_objects([bare], autorig.infer.RigOptions(forward_axis="+X"), preview=False)
    assert any("looks toward -Y" in w for w in result.warnings)
    pred = _keys(bare, "jawOpen")
    moved = np.linalg.norm(truth, axis=1) > 1e-3
    cos = (pred[moved] * truth[moved]).sum() / np.linalg.norm(pred[moved]) / np.linalg.norm(truth[moved])
    assert cos > 0.8


def _delete_verts(head, drop):
    import bmesh
    bm = bmesh.new()
    bm.from_mesh(head.data)
    bm.verts.ensure_lookup_table()
    bmesh.ops.delete(bm, geom=[bm.verts[i] for i in np.flatnonzero(drop)], context="VERTS")
    bm.to_mesh(head.data)
    bm.free()


def _groups(head, names):
    out = np.zeros(len(head.data.vertices), bool)
    for v in head.data.vertices:
        out[v.index] = any(head.vertex_groups[g.group].name in names for g in v.groups)
    return out


def test_face_only_mask_is_found_and_rigged(bpy_empty):
    """The front of the head alone (no back, no eyeballs, no mouth interior), as ARKit
    and scanners give it: a face is found and the jaw opens downward."""
    bpy = bpy_empty
    head = reference_head.build_reference_head(with_arkit_keys=False)
    co = np.array([v.co[:] for v in head.data.vertices])
    eyes = _groups(head, ("eye_left", "eye_right"))
    inner = _groups(head, ("eye_left", "eye_right", "teeth_upper", "teeth_lower", "tongue"))
    eye_y = co[eyes, 1].mean()
    _delete_verts(head, inner | (co[:, 1] > eye_y + 0.015) | (co[:, 2] < co[eyes, 2].mean() - 0.15))
    _, result = _rig([head])
    assert result.face_found
    assert not any("looks toward" in w for w in result.warnings)
    jaw = _keys(head, "jawOpen")
    chin = np.argmin(np.array([v.co.z for v in head.data.vertices]) + 10 * np.abs([v.co.x for v in head.data.vertices]))
    assert jaw[:, 2].min() < -0.004 and jaw[chin, 2] < 0


def test_painted_eyes_blink_and_gaze_moves_nothing(bpy_empty):
    """No eyeballs (eyes painted on the surface): the lids still come down in a blink,
    the eyeLook shapes move nothing and the report says so."""
    bpy = bpy_empty
    head = reference_head.build_reference_head(with_arkit_keys=False)
    _delete_verts(head, _groups(head, ("eye_left", "eye_right")))
    _, result = _rig([head])
    assert any("eyeLook shapes move nothing" in w for w in result.warnings)
    assert np.abs(_keys(head, "eyeLookUpLeft")).max() == 0
    blink = _keys(head, "eyeBlinkLeft")
    co = np.array([v.co[:] for v in head.data.vertices])
    moving = np.linalg.norm(blink, axis=1) > 1e-3
    assert moving.any() and blink[moving, 2].mean() < 0
    assert co[moving, 0].mean() > 0              # on the subject's left (+X)


def test_cli_sheet_draws_the_52_shapes_and_leaves_the_scene(bpy_empty, tmp_path):
    bpy = bpy_empty
    reference_head.build_suzanne()
    engine = bpy.context.scene.render.engine
    src = tmp_path / "monkey.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(src), copy=True)
    out = tmp_path / "out"
    assert cli.run(["rig", str(src), "-o", str(out), "--sheet"]) == 0
    sheet = out / "monkey_shapes.png"
    img = bpy.data.images.load(str(sheet))
    w, h = img.size
    px = np.empty(w * h * 4, np.float32)
    img.pixels.foreach_get(px)
    px = px.reshape(h, w, 4)[::-1]            # top row first
    assert (w, h) == (13 * 160, 4 * 160)
    tiles = [px[r * 160:(r + 1) * 160, c * 160:(c + 1) * 160, :3] for r in range(4) for c in range(13)]
    jaw = autorig.arkit.INDEX["jawOpen"]
    assert np.abs(tiles[jaw] - tiles[0]).mean() > 1e-3        # the shapes differ
    bpy.ops.wm.open_mainfile(filepath=str(out / "monkey.blend"))
    assert "FaceForge Sheet Camera" not in bpy.data.objects
    assert bpy.context.scene.render.engine == engine
    assert autorig.PREVIEW_TAKE in bpy.data.actions


def test_operator_on_the_selected_armature_rigs_the_avatars_face(bpy_empty):
    """In Blender, selecting only the avatar's armature (or any of its meshes) and
    clicking Auto-Rig finds the face among all the avatar's meshes."""
    bpy = bpy_empty
    meshes, rig = whole_avatar()
    for o in bpy.context.scene.objects:
        o.select_set(o == rig)
    bpy.context.view_layer.objects.active = rig
    assert bpy.ops.faceforge.auto_rig(preview=False) == {"FINISHED"}
    keyed = {o.name for o in bpy.context.scene.objects if o.type == "MESH" and o.data.shape_keys is not None}
    assert keyed == set(FACE_MESHES)
