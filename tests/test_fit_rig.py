"""Fit to Photo's rig: the generator on the built-in heads, limits, any armature's channels."""
import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from faceforge.addon import face_rig, reference_head  # noqa: E402
from faceforge.addon.mesh_io import read_shape_keys  # noqa: E402


@pytest.fixture
def rigged_head(bpy_empty):
    head = reference_head.build_reference_head()
    arm = face_rig.generate_rig(head)
    return head, arm


def test_generator_places_mirrored_limited_bones(rigged_head):
    head, arm = rigged_head
    space, notes = face_rig.param_space(arm)
    assert 20 <= len(space) <= 40 and not notes
    bones = arm.data.bones
    # Mirrored pairs sit symmetrically about the face's midline; brows above eyes above mouth.
    for base in ("brow", "eye", "mouth_corner", "jaw"):
        left, right = bones[f"{base}.L"].head_local, bones[f"{base}.R"].head_local
        assert left.x > 0.01 > -0.01 > right.x and abs(left.z - right.z) < 1e-6
    assert bones["brow.L"].head_local.z > bones["eye.L"].head_local.z > bones["mouth"].head_local.z
    # Tied pairs: one parameter writes both bones, the right one mirrored.
    p = space.params[space.names.index("mouth_corner.L/location[0]")]
    assert {t[0] for t in p.targets} == {"mouth_corner.L", "mouth_corner.R"}
    # Weights: every skin vertex's weights sum to one (the root takes the rest).
    groups = {g.index: g.name for g in head.vertex_groups}
    total = np.zeros(len(head.data.vertices))
    for v in head.data.vertices:
        total[v.index] = sum(g.weight for g in v.groups if groups[g.group] in bones)
    assert np.allclose(total, 1.0, atol=2e-3)


def test_pose_moves_landmarks_and_never_touches_mesh_or_keys(rigged_head):
    head, arm = rigged_head
    space, _ = face_rig.param_space(arm)
    binding = face_rig.Binding.load(arm)
    verts_before = np.array([v.co[:] for v in head.data.vertices])
    _, keys_before = read_shape_keys(head)
    rng = np.random.default_rng(0)
    vals = np.vstack([space.rest, space.sample(rng, 3)])
    pts = face_rig.sample_landmarks(arm, head, space, binding, vals)
    moved = np.linalg.norm(pts[1:] - pts[0], axis=2).max(axis=1) / binding.unit
    assert (moved > 0.03).all()
    assert np.allclose(face_rig.get_values(arm, space), space.rest)  # pose restored
    assert np.array_equal(verts_before, np.array([v.co[:] for v in head.data.vertices]))
    assert np.array_equal(keys_before, read_shape_keys(head)[1])


def test_limits_respected(rigged_head):
    head, arm = rigged_head
    space, _ = face_rig.param_space(arm)
    face_rig.set_values(arm, space, space.hi + 10 * (space.hi - space.lo))
    assert np.allclose(face_rig.get_values(arm, space), space.hi)
    # A user typing past a limit: the Limit constraints clamp the evaluated pose.
    pb = arm.pose.bones["chin"]
    pb.location[1] = 1.0
    bpy.context.view_layer.update()
    lo, hi = face_rig._limits(pb, "location", 1)
    local = arm.data.bones["chin"].matrix_local.inverted() @ pb.matrix
    assert lo <= local.translation.y <= hi + 1e-6 < 1.0


def test_existing_armature_channels(bpy_empty):
    mesh = reference_head.build_reference_head(with_arkit_keys=False)
    arm = bpy.data.objects.new("Rig", bpy.data.armatures.new("Rig"))
    bpy.context.scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    for name, x in (("cheek.L", 0.04), ("cheek.R", -0.04), ("nose", 0.0)):
        b = arm.data.edit_bones.new(name)
        b.head, b.tail = (x, -0.1, 0.0), (x, -0.1, 0.02)
    bpy.ops.object.mode_set(mode="OBJECT")
    for pb in arm.pose.bones:
        pb.lock_location = pb.lock_rotation = pb.lock_scale = (True, True, True)
        pb.lock_rotation_w = True
    with pytest.raises(face_rig.RigError, match="locked"):
        face_rig.param_space(arm)
    arm.pose.bones["cheek.L"].lock_location[0] = False
    con = arm.pose.bones["cheek.L"].constraints.new("LIMIT_LOCATION")
    con.owner_space = "LOCAL"
    con.use_min_x = con.use_max_x = True
    con.min_x, con.max_x = -0.005, 0.01
    arm.pose.bones["nose"].lock_scale[0] = False  # no limit: a default range, with a note
    space, notes = face_rig.param_space(arm)
    assert space.names == ["cheek.L/location[0]", "nose/scale[0]"]
    assert space.params[0].targets[1] == ("cheek.R", "location", 0, -1.0)
    assert (space.lo[0], space.hi[0]) == pytest.approx((-0.005, 0.01))
    assert notes and "default range" in notes[0]
    face_rig.set_values(arm, space, np.array([0.01, 1.1]))
    assert arm.pose.bones["cheek.R"].location[0] == pytest.approx(-0.01)
    with pytest.raises(face_rig.RigError, match="no mesh"):
        face_rig.deformed_mesh(arm)


def test_suzanne_has_no_detectable_face(bpy_empty):
    monkey = reference_head.build_suzanne()
    with pytest.raises(face_rig.RigError, match="no face was found"):
        face_rig.generate_rig(monkey)
    assert not [o for o in bpy.data.objects if o.type == "ARMATURE"]


def test_front_render_styles(rigged_head):
    """The render looks: "flat" is the binding's picture whatever else the scene holds,
    "shaded" adds shadows and specular, "cycles" keeps the scene's lights and materials, and
    every look leaves the scene's settings as they were."""
    head, arm = rigged_head
    scene = bpy.context.scene
    light = bpy.data.objects.new("Key", bpy.data.lights.new("Key", "SUN"))
    scene.collection.objects.link(light)
    shading = scene.display.shading
    before = (scene.render.engine, shading.show_shadows, shading.show_specular_highlight,
              light.hide_render)
    flat, _ = face_rig.front_render(scene, head, resolution=96)
    shaded, _ = face_rig.front_render(scene, head, resolution=96, style="shaded")
    scene.cycles.samples = 2
    lit, _ = face_rig.front_render(scene, head, resolution=96, style="cycles")
    light.hide_render = True
    dark, _ = face_rig.front_render(scene, head, resolution=96, style="cycles")
    assert (scene.render.engine, shading.show_shadows, shading.show_specular_highlight,
            light.hide_render) == before[:3] + (True,)
    assert np.abs(flat.astype(int) - shaded).mean() > 1.0
    assert lit.mean() > dark.mean() + 5  # the sun lights the head; without it, the world only
    with pytest.raises(ValueError, match="render style"):
        face_rig.front_render(scene, head, style="toon")
