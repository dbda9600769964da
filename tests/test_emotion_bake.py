"""Bake Emotion end to end: operator, undo, missing keys, user keys, bad input."""
import numpy as np
import pytest

from helpers import SOME_ARKIT, action_fcurves, empty_scene_with_window, key_curve_values, tiny_rigged_mesh


def _active_action(obj):
    ad = obj.data.shape_keys.animation_data
    return ad.action if ad else None


def test_operator_bakes_emotion_and_reports_missing(bpy_empty):
    bpy = bpy_empty
    obj = tiny_rigged_mesh()
    user = obj.data.shape_keys.key_blocks["MyCorrective"]
    user_before = (user.value, [tuple(d.co) for d in user.data])
    s = bpy.context.scene.faceforge
    s.emotion_track = "0:neutral,1:happiness,3:sadness"
    s.emotion_take = "Take A"
    assert bpy.ops.faceforge.bake_emotion() == {"FINISHED"}
    action = _active_action(obj)
    assert action is not None and action.name == "Take A"
    fps = bpy.context.scene.render.fps
    smile = key_curve_values(obj, "mouthSmileLeft", [1, 1 + 2 * fps, 1 + 4 * fps])
    brow = key_curve_values(obj, "browInnerUp", [1, 1 + 2 * fps, 1 + 4 * fps])
    assert smile[0] < 0.05 and smile[1] > 0.3 and smile[2] < smile[1]  # neutral, happy, sad
    assert brow[2] > brow[1]  # sadness raises the inner brows
    # The user's own key is never animated or changed.
    assert (user.value, [tuple(d.co) for d in user.data]) == user_before
    assert not any("MyCorrective" in fc.data_path for fc in action_fcurves(action))


def test_takes_coexist_and_regions(bpy_empty):
    bpy = bpy_empty
    obj = tiny_rigged_mesh()
    s = bpy.context.scene.faceforge
    s.emotion_track = "0:happiness"
    s.emotion_take = "Upper"
    s.emotion_region = "UPPER"
    bpy.ops.faceforge.bake_emotion()
    paths = {fc.data_path for fc in action_fcurves(_active_action(obj))}
    assert 'key_blocks["browInnerUp"].value' in paths
    assert 'key_blocks["jawOpen"].value' not in paths  # the mouth is left to lip-sync
    s.emotion_region = "ALL"
    s.emotion_take = "Whole"
    bpy.ops.faceforge.bake_emotion()
    assert {"Upper", "Whole"} <= set(bpy.data.actions.keys())
    assert _active_action(obj).name == "Whole"


def test_undo_removes_the_bake(bpy_empty):
    bpy = bpy_empty
    empty_scene_with_window()
    tiny_rigged_mesh()
    bpy.ops.ed.undo_push(message="before bake")
    # Called as the UI calls it: with an undo push for operators flagged UNDO.
    assert bpy.ops.faceforge.bake_emotion("EXEC_DEFAULT", True) == {"FINISHED"}
    assert bpy.data.objects["Tiny"].data.shape_keys.animation_data.action is not None
    bpy.ops.ed.undo()
    ad = bpy.data.objects["Tiny"].data.shape_keys.animation_data
    assert ad is None or ad.action is None


@pytest.mark.parametrize("keys, user_keys, track, message", [
    ((), ("Smile", "Frown"), None, "no selected mesh has ARKit-named shape keys"),
    (SOME_ARKIT, (), "0:happiness,2:notanemotion", "notanemotion"),
    (SOME_ARKIT, (), "0:happiness,oops", "oops"),
])
def test_bad_input_is_a_clear_error_and_changes_nothing(bpy_empty, keys, user_keys, track, message):
    bpy = bpy_empty
    obj = tiny_rigged_mesh(keys=keys, user_keys=user_keys)
    if track:
        bpy.context.scene.faceforge.emotion_track = track
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.faceforge.bake_emotion()
    assert obj.data.shape_keys.animation_data is None
    assert len(bpy.data.actions) == 0


def test_key_names_as_artists_write_them(bpy_empty):
    bpy = bpy_empty
    obj = tiny_rigged_mesh(keys=("JawOpen", "mouthSmile_L", "mouthSmile_R"), user_keys=())
    bpy.context.scene.faceforge.emotion_track = "0:happiness"
    assert bpy.ops.faceforge.bake_emotion() == {"FINISHED"}
    vals = key_curve_values(obj, "mouthSmile_L", [1])
    assert vals[0] > 0.3
    assert np.isfinite(vals).all()
