"""Small Blender scenes for tests: a tiny mesh with some ARKit-named shape keys."""
import bpy
import numpy as np

SOME_ARKIT = ("browInnerUp", "jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft")


def tiny_rigged_mesh(name="Tiny", keys=SOME_ARKIT, user_keys=("MyCorrective",)):
    """A cube whose shape keys carry ARKit names (each moving one vertex) plus user keys."""
    mesh = bpy.data.meshes.new(name)
    verts = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh.from_pydata(verts.tolist(), [], faces)
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for i, k in enumerate(tuple(keys) + tuple(user_keys)):
        kb = obj.shape_key_add(name=k, from_mix=False)
        kb.data[i % 8].co.z += 0.5
    for o in bpy.context.scene.objects:
        o.select_set(False)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj
    return obj


def key_curve_values(obj, key_name, frames):
    """Evaluate the shape key's value F-curve of the active action at frames."""
    scene = bpy.context.scene
    out = []
    for f in frames:
        scene.frame_set(int(f))
        out.append(obj.data.shape_keys.key_blocks[key_name].value)
    return np.array(out)


def empty_scene_with_window():
    """The factory scene with its window (undo needs one) and no objects in it."""
    bpy.ops.wm.read_factory_settings(use_empty=False)
    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o)


# ---------------------------------------------------- version-neutral access (4.2 .. 5.x)

def vse_strips(scene=None):
    """The scene's sequencer strips: `strips` from Blender 4.4 on, `sequences` before
    (none without a sequence editor)."""
    editor = (scene or bpy.context.scene).sequence_editor
    if editor is None:
        return []
    strips = getattr(editor, "strips", None)
    return editor.sequences if strips is None else strips


def action_fcurves(action) -> list:
    """Every F-curve of an action: the channelbags of its layers (layered actions, 4.4+;
    the only kind in 5.0) or the legacy `action.fcurves` (4.2)."""
    if getattr(action, "layers", None) is not None and len(action.layers):
        return [fc for layer in action.layers for strip in layer.strips
                for bag in strip.channelbags for fc in bag.fcurves]
    return list(getattr(action, "fcurves", None) or [])


def has_audio() -> bool:
    """Whether this Blender build plays and loads sound (bpy 4.2 from PyPI has no Audaspace:
    sound strips then load no audio)."""
    return bool(getattr(bpy.app.build_options, "audaspace", True))


def suzanne_arrays():
    """Blender's Suzanne (the built-in copy, modifiers off) as (verts [V,3] float64,
    tris [F,3], part labels [V])."""
    from faceforge.addon import mesh_io, reference_head
    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = reference_head.build_suzanne()
    obj.modifiers.clear()
    a = mesh_io.read_mesh(obj)
    return a.verts.astype(np.float64), a.tris, a.part_labels
