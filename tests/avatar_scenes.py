"""Avatar files built in the tests: a head with separate eyes and teeth on a body with an
outfit, hair and glasses, skinned to an armature; and variants of the head alone."""
import bpy
import bmesh  # after bpy: the PyPI module provides bmesh once bpy is loaded
import numpy as np

from faceforge.addon import reference_head


def _split_parts(head, parts, names):
    """Move the head's vertex groups `parts` into one new object each (separate meshes)."""
    out = []
    for part, name in zip(parts, names):
        for o in bpy.context.view_layer.objects:
            o.select_set(False)
        bpy.context.view_layer.objects.active = head
        head.select_set(True)
        bpy.ops.object.mode_set(mode="EDIT")
        bpy.ops.mesh.select_all(action="DESELECT")
        groups = part if isinstance(part, tuple) else (part,)
        for g in groups:
            head.vertex_groups.active_index = head.vertex_groups[g].index
            bpy.ops.object.vertex_group_select()
        bpy.ops.mesh.separate(type="SELECTED")
        bpy.ops.object.mode_set(mode="OBJECT")
        new = [o for o in bpy.context.selected_objects if o != head][0]
        new.name = name
        out.append(new)
    return out


def _prim(op, name, **kw):
    op(**kw)
    obj = bpy.context.active_object
    obj.name = name
    return obj


def whole_avatar(skinned=True):
    """Head (skin) + EyeLeft/EyeRight + Teeth as separate objects, Tongue left in the head,
    with Body, Outfit, Hair and Glasses around it, all children of an armature."""
    head = reference_head.build_reference_head(name="Head", with_arkit_keys=False)
    eyes_teeth = _split_parts(head, ["eye_left", "eye_right", ("teeth_upper", "teeth_lower")],
                              ["EyeLeft", "EyeRight", "Teeth"])
    co = np.array([v.co[:] for v in head.data.vertices])
    lo, hi = co.min(0), co.max(0)
    centre, size = (lo + hi) / 2, hi - lo
    top = hi[2]
    body = _prim(bpy.ops.mesh.primitive_cylinder_add, "Body", radius=0.17, depth=1.4,
                 location=(centre[0], centre[1] + 0.02, lo[2] - 0.7), vertices=48)
    outfit = _prim(bpy.ops.mesh.primitive_cylinder_add, "Outfit", radius=0.19, depth=0.6,
                   location=(centre[0], centre[1] + 0.02, lo[2] - 0.35), vertices=48)
    hair = _prim(bpy.ops.mesh.primitive_uv_sphere_add, "Hair", radius=0.55 * size[0],
                 location=(centre[0], centre[1] + 0.02, top - 0.25 * size[0]), segments=32, ring_count=16)
    bm = bmesh.new()
    bm.from_mesh(hair.data)
    bmesh.ops.delete(bm, geom=[v for v in bm.verts if v.co.z < 0.1 * size[0] or v.co.y < -0.2 * size[0]],
                     context="VERTS")
    bm.to_mesh(hair.data)
    bm.free()
    eyes = [np.array([v.co[:] for v in e.data.vertices]).mean(0) for e in eyes_teeth[:2]]
    front = co[:, 1].min()
    rings = []
    for k, e in enumerate(eyes):
        rings.append(_prim(bpy.ops.mesh.primitive_torus_add, f"ring{k}", major_radius=0.025,
                           minor_radius=0.003, location=(e[0], front - 0.005, e[2]),
                           rotation=(np.pi / 2, 0, 0)))
    bridge = _prim(bpy.ops.mesh.primitive_cylinder_add, "bridge", radius=0.003, depth=0.03,
                   location=(centre[0], front - 0.005, eyes[0][2] + 0.01), rotation=(0, np.pi / 2, 0))
    arms = [_prim(bpy.ops.mesh.primitive_cylinder_add, f"arm{k}", radius=0.003, depth=0.14,
                  location=(eyes[k][0] + (0.025 if eyes[k][0] > centre[0] else -0.025),
                            front + 0.065, eyes[k][2]), rotation=(np.pi / 2, 0, 0)) for k in range(2)]
    for o in bpy.context.view_layer.objects:
        o.select_set(o in rings + [bridge] + arms)
    bpy.context.view_layer.objects.active = bridge
    bpy.ops.object.join()
    glasses = bpy.context.active_object
    glasses.name = "Glasses"
    meshes = [head, *eyes_teeth, body, outfit, hair, glasses]
    if not skinned:
        return meshes, None
    arm_data = bpy.data.armatures.new("Rig")
    rig = bpy.data.objects.new("Rig", arm_data)
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    for name, a, b in (("spine", (0, 0, lo[2] - 1.0), (0, 0, lo[2])), ("head", (0, 0, lo[2]), (0, 0, top))):
        bone = arm_data.edit_bones.new(name)
        bone.head, bone.tail = a, b
    arm_data.edit_bones["head"].parent = arm_data.edit_bones["spine"]
    bpy.ops.object.mode_set(mode="OBJECT")
    for m in meshes:
        m.parent = rig
        group = m.vertex_groups.new(name="head" if m.name not in ("Body", "Outfit") else "spine")
        group.add(list(range(len(m.data.vertices))), 1.0, "REPLACE")
        mod = m.modifiers.new("Armature", "ARMATURE")
        mod.object = rig
    return meshes, rig
