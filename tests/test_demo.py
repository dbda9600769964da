"""The README's demo: .blend, .glb with ARKit-named morph targets, and a contact sheet."""
import numpy as np

from faceforge.addon import keyframes
from faceforge.addon.scene_files import glb_json
from faceforge.ml.arkit import ARKIT_NAMES
from faceforge.ops import demo
from helpers import has_audio, vse_strips


def test_demo_writes_blend_glb_and_contact_sheet(bpy_empty, tmp_path):
    bpy = bpy_empty
    paths = demo.run_demo(tmp_path)
    names = ["demo.blend", "demo.glb", "demo.png", "demo_lipsync.png", "demo_video.png",
             "demo_fit.png"]
    assert [p.name for p in paths] == names
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    blend, glb, png = paths[:3]

    gltf = glb_json(glb)
    assert tuple(gltf["meshes"][0]["extras"]["targetNames"]) == ARKIT_NAMES
    anim = gltf["animations"][0]  # the active take; the others live in the .blend
    assert anim["name"] == "Demo Emotion"
    assert any(c["target"]["path"] == "weights" for c in anim["channels"])

    img = bpy.data.images.load(str(png))
    w, h = img.size
    px = np.empty(w * h * 4, np.float32)
    img.pixels.foreach_get(px)
    px = px.reshape(h, w, 4)[..., :3]
    th, tw = h // 3, w // 4
    tiles = px.reshape(3, th, 4, tw, 3).swapaxes(1, 2).reshape(12, th, tw, 3)
    assert px.std() > 0.05  # faces, not a blank sheet
    change = np.abs(tiles - tiles[0]).max(axis=-1)
    assert (change > 0.1).sum(axis=(1, 2)).max() > 200  # the faces move between frames

    fit_png = bpy.data.images.load(str(paths[-1]))  # photo | average face | fitted
    fw, fh = fit_png.size
    assert fw == 3 * fh
    fpx = np.empty(fw * fh * 4, np.float32)
    fit_png.pixels.foreach_get(fpx)
    tiles = fpx.reshape(fh, 3, fh, 4)[..., :3].swapaxes(0, 1)
    assert np.abs(tiles[2] - tiles[1]).max(axis=-1).__gt__(0.1).sum() > 100  # the fit moved the face

    bpy.ops.wm.open_mainfile(filepath=str(blend))
    rig = bpy.data.objects["FaceForge Head"].find_armature()  # fitted to the photo
    assert rig is not None and any(
        max(map(abs, pb.location)) + max(abs(s - 1) for s in pb.scale) + max(map(abs, pb.rotation_euler)) > 1e-4
        for pb in rig.pose.bones)
    for name in ("FaceForge Head", "Suzanne"):  # both auto-rigged, both performing
        obj = bpy.data.objects[name]
        assert len(obj.data.shape_keys.key_blocks) == 53
        assert obj.data.shape_keys.animation_data.action.name.startswith("Demo Emotion")
        assert set(demo.TAKES) <= set(keyframes.list_takes(obj))
    assert bpy.context.scene.frame_end >= 241
    if has_audio():  # the utterance plays with its take (PyPI bpy 4.2 has no Audaspace)
        assert vse_strips()["Demo Lip-Sync"].sound is not None
