"""Baking weights into takes: values on frames, layered actions, takes, reduction, read-back."""
import numpy as np
import pytest

from faceforge.addon import keyframes
from faceforge.addon.keyframes import bake_weights, list_takes, read_weights, set_active_take
from faceforge.addon.shape_keys import write_shape_keys
from faceforge.ml.arkit import ARKIT_NAMES

T = 40


@pytest.fixture
def head(bpy_empty):
    """A small grid with all 52 ARKit keys."""
    bpy_empty.ops.mesh.primitive_grid_add(x_subdivisions=3, y_subdivisions=3)
    obj = bpy_empty.context.object
    write_shape_keys(obj, np.zeros((52, len(obj.data.vertices), 3)), ARKIT_NAMES)
    return obj


def _weights(t=T, k=52, seed=0):
    return np.random.default_rng(seed).random((t, k))


def _read_all(obj, t=T):
    return read_weights(obj, ARKIT_NAMES, np.arange(1, t + 1))


def _n_keys(obj):
    curves = keyframes._active_fcurves(obj.data.shape_keys).values()
    return [len(fc.keyframe_points) for fc in curves]


def _value_at(bpy, obj, name, frame):
    bpy.context.scene.frame_set(frame)
    return obj.data.shape_keys.key_blocks[name].value


def test_values_on_frames_equal_input(head, bpy_empty):
    w = _weights()
    report = bake_weights(head, w, ARKIT_NAMES, start_frame=10)
    assert report.baked == list(ARKIT_NAMES) and report.missing == []
    assert report.actions == ["FaceForge"]
    for t, name in [(0, "jawOpen"), (17, "eyeBlinkLeft"), (T - 1, "tongueOut")]:
        expected = w[t, ARKIT_NAMES.index(name)]
        assert _value_at(bpy_empty, head, name, 10 + t) == pytest.approx(expected, abs=1e-6)
    fc = next(iter(keyframes._active_fcurves(head.data.shape_keys).values()))
    assert {k.interpolation for k in fc.keyframe_points} == {"LINEAR"}


def test_times_and_sample_rate_map_to_scene_frames(head, bpy_empty):
    scene = bpy_empty.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    w = _weights(4, 1)
    bake_weights(head, w, ["jawOpen"], sample_rate=15, take="rate")
    co = [tuple(k.co) for k in keyframes._active_fcurves(head.data.shape_keys)[
        ('key_blocks["jawOpen"].value', 0)].keyframe_points]
    assert [f for f, _ in co] == [1, 3, 5, 7]
    bake_weights(head, w, ["jawOpen"], times=[0.0, 0.1, 0.5, 1.0], take="times")
    assert read_weights(head, ["jawOpen"], [1, 4, 16, 31])[:, 0] == pytest.approx(w[:, 0], abs=1e-6)


def test_layered_action_structure(head):
    bake_weights(head, _weights(), ARKIT_NAMES)
    key = head.data.shape_keys
    action = key.animation_data.action
    if not hasattr(action, "layers"):
        pytest.skip("legacy actions (Blender < 4.4)")
    bag = action.layers[0].strips[0].channelbags[0]
    assert bag.slot == key.animation_data.action_slot
    assert len(bag.fcurves) == 52
    assert all(len(fc.keyframe_points) == T for fc in bag.fcurves)
    assert action.use_fake_user


def test_takes_coexist_and_switch(head, bpy_empty):
    a, b = _weights(seed=1), _weights(seed=2)
    bake_weights(head, a, ARKIT_NAMES, take="A")
    bake_weights(head, b, ARKIT_NAMES, take="B")
    assert list_takes(head) == ["A", "B"]
    assert head.data.shape_keys.animation_data.action.name == "B"
    assert _read_all(head) == pytest.approx(b, abs=1e-6)
    set_active_take(head, "A")
    assert _read_all(head) == pytest.approx(a, abs=1e-6)
    with pytest.raises(ValueError, match="no take 'C'"):
        set_active_take(head, "C")


def test_rebake_replaces_take(head, bpy_empty):
    bake_weights(head, _weights(seed=1), ARKIT_NAMES, take="A")
    new = _weights(T // 2, seed=3)
    bake_weights(head, new, ARKIT_NAMES, take="A")
    assert [a.name for a in bpy_empty.data.actions] == ["A"]
    assert list_takes(head) == ["A"]
    assert _read_all(head, T // 2) == pytest.approx(new, abs=1e-6)
    assert _n_keys(head) == [T // 2] * 52


def test_missing_keys_reported(bpy_empty):
    bpy_empty.ops.mesh.primitive_cube_add()
    teeth = bpy_empty.context.object
    write_shape_keys(teeth, np.zeros((2, 8, 3)), ["jawOpen", "mouthClose"])
    teeth.shape_key_add(name="TongueOut", from_mix=False)  # the user's, other spelling
    report = bake_weights(teeth, _weights(), ARKIT_NAMES)
    assert report.baked == ["jawOpen", "mouthClose", "tongueOut"]
    assert len(report.missing) == 49 and "eyeBlinkLeft" in report.missing
    assert read_weights(teeth, ["tongueOut", "eyeBlinkLeft"], [5])[0].tolist() == pytest.approx(
        [_weights()[4, 51], 0.0])


def test_nothing_to_bake_raises_and_changes_nothing(bpy_empty):
    bpy_empty.ops.mesh.primitive_cube_add()
    cube = bpy_empty.context.object
    with pytest.raises(ValueError, match="no shape key for any"):
        bake_weights(cube, _weights(), ARKIT_NAMES)
    assert len(bpy_empty.data.actions) == 0 and cube.animation_data is None


@pytest.mark.parametrize("kwargs", [
    {"weights": np.full((T, 52), np.nan)},
    {"weights": _weights(T, 51)},
    {"times": np.zeros(T)},
    {"head_rotation": np.zeros((T, 4))},
])
def test_invalid_input_leaves_scene_as_it_was(head, bpy_empty, kwargs):
    bake_weights(head, _weights(), ARKIT_NAMES, take="A")
    weights = kwargs.pop("weights", _weights())
    with pytest.raises(ValueError):
        bake_weights(head, weights, ARKIT_NAMES, take="A", **kwargs)
    assert [a.name for a in bpy_empty.data.actions] == ["A"]
    assert _read_all(head) == pytest.approx(_weights(), abs=1e-6)


def test_failure_while_writing_removes_half_made_action(head, bpy_empty, monkeypatch):
    bake_weights(head, _weights(), ARKIT_NAMES, take="A")
    real = keyframes._build_action

    def flaky(id_, name, channels):
        if id_ == head:
            raise RuntimeError("boom")
        return real(id_, name, channels)

    monkeypatch.setattr(keyframes, "_build_action", flaky)
    with pytest.raises(RuntimeError):
        bake_weights(head, _weights(seed=5), ARKIT_NAMES, take="A", head_rotation=np.zeros((T, 3)))
    assert [a.name for a in bpy_empty.data.actions] == ["A"]
    assert head.animation_data is None
    assert _read_all(head) == pytest.approx(_weights(), abs=1e-6)


def test_head_rotation(head, bpy_empty):
    head.rotation_mode = "QUATERNION"
    rot = np.random.default_rng(4).uniform(-0.5, 0.5, (T, 3))
    report = bake_weights(head, _weights(), ARKIT_NAMES, take="A", head_rotation=rot)
    assert report.actions == ["A", "A (head)"]
    assert head.rotation_mode == "XYZ"
    assert head.animation_data.action.name == "A (head)"
    bpy_empty.context.scene.frame_set(8)
    assert tuple(head.rotation_euler) == pytest.approx(tuple(rot[7]), abs=1e-6)
    bake_weights(head, _weights(), ARKIT_NAMES, take="B")  # no head motion in this take
    assert head.animation_data.action is None
    set_active_take(head, "A")
    assert head.animation_data.action.name == "A (head)"


def test_reduction_within_tolerance(head):
    t = np.arange(400)
    w = np.column_stack([0.5 + 0.5 * np.sin(t * f) for f in np.linspace(0.01, 0.2, 52)])
    bake_weights(head, w, ARKIT_NAMES, reduce_tolerance=0.01)
    assert sum(_n_keys(head)) < 0.5 * w.size
    assert np.abs(read_weights(head, ARKIT_NAMES, t + 1) - w).max() <= 0.01 + 1e-6


def test_read_weights_falls_back_to_evaluate_and_key_value(head):
    w = _weights(T, 1)
    bake_weights(head, w, ["jawOpen"])
    fc = keyframes._active_fcurves(head.data.shape_keys)[('key_blocks["jawOpen"].value', 0)]
    for k in fc.keyframe_points:
        k.interpolation = "CONSTANT"
    head.data.shape_keys.key_blocks["cheekPuff"].value = 0.25
    out = read_weights(head, ["jawOpen", "cheekPuff"], [1.5, 3.0])
    assert out[:, 0] == pytest.approx(w[[0, 2], 0], abs=1e-6)
    assert out[:, 1] == pytest.approx([0.25, 0.25])
