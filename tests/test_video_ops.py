"""Bake Video end to end with the shipped regressor: operator, undo, head rotation on a
bone, the command line over a folder of clips, and bad inputs that change nothing."""
from itertools import islice

import cv2
import numpy as np
import pytest

from faceforge.ml.video.decode import open_video
from faceforge.ops import cli, video

from helpers import action_fcurves, empty_scene_with_window, tiny_rigged_mesh


@pytest.fixture(scope="module")
def clip(shared_data):
    return shared_data / "video" / "grid" / "bbaf2n.mpg"  # 3 s of a speaking face, 25 fps


def _black_clip(path, frames=12):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (160, 120))
    for _ in range(frames):
        writer.write(np.zeros((120, 160, 3), np.uint8))
    writer.release()
    return path


def _key_action(obj):
    ad = obj.data.shape_keys.animation_data
    return ad.action if ad else None


def test_operator_bakes_the_reference_head(bpy_empty, clip):
    bpy = bpy_empty
    bpy.context.scene.render.fps = 30
    assert bpy.ops.faceforge.add_reference_head() == {"FINISHED"}
    head = bpy.context.view_layer.objects.active
    assert bpy.ops.faceforge.bake_video(filepath=str(clip), smoothing=0.05) == {"FINISHED"}
    action = _key_action(head)
    assert action.name == "Video"
    curves = {fc.data_path: fc for fc in action_fcurves(action)}
    assert len(curves) == 52
    jaw = np.array([curves['key_blocks["jawOpen"].value'].evaluate(f) for f in range(1, 91)])
    assert jaw.std() > 0.02  # the speaker's jaw moves
    assert head.animation_data.action.name == "Video (head)"
    assert bpy.context.scene.frame_end >= 90  # 3 s at 30 fps fits the scene


def test_undo_removes_the_bake(bpy_empty, clip):
    bpy = bpy_empty
    empty_scene_with_window()
    tiny_rigged_mesh()
    bpy.ops.ed.undo_push(message="before bake")
    assert bpy.ops.faceforge.bake_video("EXEC_DEFAULT", True, filepath=str(clip)) == {"FINISHED"}
    assert _key_action(bpy.data.objects["Tiny"]) is not None
    bpy.ops.ed.undo()
    assert _key_action(bpy.data.objects["Tiny"]) is None


def test_head_rotation_on_a_bone(bpy_empty, clip):
    bpy = bpy_empty
    obj = tiny_rigged_mesh()
    arm = bpy.data.objects.new("Rig", bpy.data.armatures.new("Rig"))
    bpy.context.scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    bone = arm.data.edit_bones.new("Head")
    bone.head, bone.tail = (0, 0, 0), (0, 0, 0.2)
    bpy.ops.object.mode_set(mode="OBJECT")
    bake = video.bake_video([obj], clip, head=video.HeadTarget("bone", arm, "Head"))
    paths = {fc.data_path for fc in action_fcurves(arm.animation_data.action)}
    assert paths == {'pose.bones["Head"].rotation_euler'}
    assert obj.animation_data is None or obj.animation_data.action is None
    assert "face tracked in 100% of frames" in video.summary(bake)
    with pytest.raises(ValueError, match="bone 'Neck' not found"):
        video.bake_video([obj], clip, head=video.HeadTarget("bone", arm, "Neck"))


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.mp4", "no such video file"),
    (lambda d: (d / "notes.mp4").write_text("not a video") and d / "notes.mp4", "not a video"),
    (lambda d: _black_clip(d / "black.mp4"), "no face found"),
])
def test_bad_clips_are_clear_errors_and_change_nothing(bpy_empty, tmp_path, make, message):
    bpy = bpy_empty
    obj = tiny_rigged_mesh()
    end = bpy.context.scene.frame_end
    with pytest.raises(ValueError, match=message):
        video.bake_video([obj], make(tmp_path))
    assert _key_action(obj) is None and not bpy.data.actions
    assert bpy.context.scene.frame_end == end


def test_unrigged_selection_is_refused_before_tracking(bpy_empty, clip):
    bpy = bpy_empty
    obj = tiny_rigged_mesh(keys=(), user_keys=("Smile",))
    with pytest.raises(ValueError, match="no mesh in it has mouth shape keys"):
        video.bake_video([obj], clip)
    with pytest.raises(RuntimeError, match="no mesh in it"):  # the operator's ERROR report
        bpy.ops.faceforge.bake_video(filepath=str(clip))
    with pytest.raises(ValueError, match="VRM presets"):   # asked for a set it lacks
        video.bake_video([tiny_rigged_mesh("Other")], clip, target="vrm")
    assert not bpy.data.actions


OCULUS_KEYS = [f"viseme_{s}" for s in ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn",
                                       "RR", "aa", "E", "I", "O", "U")]
VRM_KEYS = ["Fcl_MTH_A", "Fcl_MTH_I", "Fcl_MTH_U", "Fcl_MTH_E", "Fcl_MTH_O", "Fcl_EYE_Close"]


@pytest.mark.parametrize("keys", [OCULUS_KEYS, VRM_KEYS], ids=["oculus", "vrm"])
def test_head_with_only_visemes_or_vrm_presets_gets_the_mouth_retargeted(bpy_empty, clip,
                                                                         keys):
    """A Ready Player Me / VRoid head carries no ARKit keys: its own mouth shapes follow
    the speaker (and VRM's blink the eyes); a head with ARKit keys beside them keeps ARKit."""
    from helpers import key_curve_values
    obj = tiny_rigged_mesh(keys=keys, user_keys=())
    bake = video.bake_video([obj], clip)
    rep = bake.results[0][1]
    assert len(rep.baked) == len(keys) and not rep.missing
    frames = np.arange(1, 76, 2)
    mouth = [k for k in keys if not k.endswith(("sil", "Close"))]
    values = np.stack([key_curve_values(obj, k, frames) for k in mouth], axis=1)
    assert values.max() > 0.2 and (values.std(0) > 0.02).sum() >= 2  # the mouth moves
    assert values.sum(1).max() <= 1.0 + 1e-4                        # a mix, as viseme rigs want
    both = tiny_rigged_mesh("Both", keys=list(keys) + ["jawOpen", "eyeBlinkLeft"], user_keys=())
    bake = video.bake_video([both], clip, take="Both")
    assert "jawOpen" in bake.results[0][1].baked


def test_cli_bakes_a_folder_and_reports_failures(bpy_empty, tmp_path, clip):
    bpy = bpy_empty
    tiny_rigged_mesh()
    head = tmp_path / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(head))
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "talk.mpg").write_bytes(clip.read_bytes())
    _black_clip(clips / "empty.mp4")
    frames = tmp_path / "frames"  # an image sequence folder is one clip
    frames.mkdir()
    for i, (_, rgb) in enumerate(islice(open_video(clip), 10)):
        cv2.imwrite(str(frames / f"f_{i:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    code = cli.run(["video", str(head), str(clips), str(frames), "-o", str(out),
                    "--neutral", "0-1", "--gain", "mouth=1.2", "--take", "Perf"])
    assert code == 1  # the faceless clip failed, the others were written
    assert sorted(p.name for p in out.iterdir() if p.name != ".faceforge") == ["frames.blend",
                                                                               "talk.blend"]
    bpy.ops.wm.open_mainfile(filepath=str(out / "talk.blend"))
    assert _key_action(bpy.data.objects["Tiny"]).name == "Perf"
    with pytest.raises(SystemExit, match="--gain"):
        cli.run(["video", str(head), str(clips), "-o", str(out), "--gain", "ears=2"])



def test_clip_longer_than_the_scene_extends_it_and_says_so(bpy_empty, clip):
    bpy = bpy_empty
    scene = bpy.context.scene
    scene.frame_end = 20
    bake = video.bake_video([tiny_rigged_mesh()], clip, start_frame=5)
    assert scene.frame_end == 5 + len(bake.analysis.weights) - 1
    assert "extended it from frame 20" in video.summary(bake)


def _keys(obj):
    """{data_path: [(frame, value), ...]} of the object's shape-key take."""
    return {fc.data_path: [tuple(k.co) for k in fc.keyframe_points]
            for fc in action_fcurves(_key_action(obj))}


def test_operator_and_cli_write_the_same_keys_for_each_method(bpy_empty, tmp_path, clip):
    bpy = bpy_empty
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, (_, rgb) in enumerate(islice(open_video(clip), 12)):
        cv2.imwrite(str(frames / f"f_{i:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    head = tmp_path / "head.blend"
    tiny_rigged_mesh()
    bpy.ops.wm.save_as_mainfile(filepath=str(head))
    baked = {}
    for method, two in (("landmarker", False), ("landmarker", True), ("regressor", False)):
        bpy.ops.wm.open_mainfile(filepath=str(head))
        bpy.data.objects["Tiny"].select_set(True)
        assert bpy.ops.faceforge.bake_video(filepath=str(frames), method=method.upper(),
                                            two_trackers=two) == {"FINISHED"}
        baked[method, two] = _keys(bpy.data.objects["Tiny"])
        out = tmp_path / f"{method}{'_two' if two else ''}"
        assert cli.run(["video", str(head), str(frames), "-o", str(out), "--method", method]
                       + (["--two-trackers"] if two else [])) == 0
        bpy.ops.wm.open_mainfile(filepath=str(out / "frames.blend"))
        assert _keys(bpy.data.objects["Tiny"]) == baked[method, two]
    assert len({repr(k) for k in baked.values()}) == 3  # the three ways bake differently


def test_live_preview_shows_frames_on_each_set_and_puts_every_value_back(bpy_empty):
    """The operator's live preview (interactive sessions only) writes values, never keys,
    on each mesh's own set, and restores them when tracking ends or is cancelled."""
    arkit_head = tiny_rigged_mesh("A", keys=("jawOpen", "eyeBlinkLeft"), user_keys=("Mine",))
    visemes = tiny_rigged_mesh("V", keys=OCULUS_KEYS, user_keys=())
    arkit_head.data.shape_keys.key_blocks["Mine"].value = 0.4
    before = [[kb.value for kb in o.data.shape_keys.key_blocks] for o in (arkit_head, visemes)]
    targets = video.check_targets([arkit_head, visemes], "Video", video.HeadTarget())
    preview = video.LivePreview(targets)
    assert not preview.show()                                # nothing tracked yet
    frame = np.zeros(52, np.float32)
    from faceforge.ml.arkit import INDEX
    frame[[INDEX["jawOpen"], INDEX["eyeBlinkLeft"]]] = (0.7, 0.9)
    preview(frame)
    assert preview.show()
    a = arkit_head.data.shape_keys.key_blocks
    assert (a["jawOpen"].value, a["eyeBlinkLeft"].value, a["Mine"].value) == \
        pytest.approx((0.7, 0.9, 0.4))
    v = visemes.data.shape_keys.key_blocks
    assert v["viseme_aa"].value > 0.2                        # an open jaw reads as aa
    preview.restore()
    assert [[kb.value for kb in o.data.shape_keys.key_blocks]
            for o in (arkit_head, visemes)] == before
    assert arkit_head.data.shape_keys.animation_data is None  # values only, no keys
