"""Each capability has one service that its operator and its command both call: the
operator path and the command-line path write identical keys (MolecularNodes style).
Options use values a float32 Blender property holds exactly (0.5, not 0.8), so the two
paths get identical inputs; outputs agree to float32 rounding (two identical calls of the
rig network already differ by 6e-8)."""
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from faceforge.addon import keyframes, reference_head, scene_files
from faceforge.ml import arkit
from faceforge.ops import cli
from helpers import tiny_rigged_mesh

DATA = Path(__file__).resolve().parents[1] / "ml"
UTTERANCE = DATA / "lipsync" / "data" / "demo_utterance.wav"
CLIP = DATA / "video" / "data" / "demo_clip.mp4"
ULP = 1e-6  # float32 rounding of values near 1


def _curves(id_) -> dict:
    """{(data_path, index): [K, 2] keyframe points} of the datablock's active action."""
    return {k: np.array([p.co[:] for p in fc.keyframe_points])
            for k, fc in keyframes._active_fcurves(id_).items()}


def _state(obj) -> dict:
    """What a bake or a rig wrote on obj: shape-key coordinates, key and object curves."""
    key = obj.data.shape_keys
    blocks = {kb.name: np.array([d.co[:] for d in kb.data]) for kb in key.key_blocks} if key else {}
    return {"blocks": blocks, "keys": _curves(key), "object": _curves(obj),
            "takes": keyframes.list_takes(obj) if key else []}


def _assert_same(a: dict, b: dict) -> None:
    assert a["takes"] == b["takes"]
    for part in ("blocks", "keys", "object"):
        assert sorted(a[part]) == sorted(b[part]), part
        for k in a[part]:
            np.testing.assert_allclose(a[part][k], b[part][k], rtol=0, atol=ULP,
                                       err_msg=f"{part} {k}")


def _via_cli(bpy, tmp_path, argv, name, output="out.blend"):
    """Save the current scene as head.blend, run `faceforge argv` on it, load the result
    and return the state of object `name` in it."""
    head = tmp_path / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(head), copy=True)
    out = tmp_path / "out"
    assert cli.run([a.format(head=head, out=out) for a in argv]) == 0
    scene_files.load_scene(out / output)
    return _state(bpy.data.objects[name])


def _select(bpy, obj):
    for o in bpy.context.scene.objects:
        o.select_set(o == obj)
    bpy.context.view_layer.objects.active = obj


def test_rig(bpy_empty, tmp_path):
    bpy = bpy_empty
    suzanne = reference_head.build_suzanne()
    name = suzanne.name
    _select(bpy, suzanne)
    cli_state = _via_cli(bpy, tmp_path, ["rig", "{head}", "-o", "{out}", "--strength", "0.5"],
                         name, "head.blend")
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "head.blend"))
    suzanne = bpy.data.objects[name]
    _select(bpy, suzanne)
    assert bpy.ops.faceforge.auto_rig(strength=0.5) == {"FINISHED"}
    op_state = _state(suzanne)
    assert len(op_state["blocks"]) == 53 and op_state["keys"]
    _assert_same(op_state, cli_state)


def test_emotion(bpy_empty, tmp_path):
    bpy = bpy_empty
    name = tiny_rigged_mesh().name
    track = "0:happiness,1:sadness*0.5"
    cli_state = _via_cli(bpy, tmp_path, ["emotion", "{head}", "-o", "{out}", "--track", track,
                                         "--take", "Mood", "--start-frame", "4",
                                         "--transition", "0.5"], name,
                         "head.blend")
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "head.blend"))
    obj = bpy.data.objects[name]
    _select(bpy, obj)
    s = bpy.context.scene.faceforge
    s.emotion_track, s.emotion_take, s.start_frame = track, "Mood", 4
    s.emotion_transition = 0.5  # a float32 property: a value it holds exactly
    assert bpy.ops.faceforge.bake_emotion() == {"FINISHED"}
    op_state = _state(obj)
    assert len(op_state["keys"]) == 5
    _assert_same(op_state, cli_state)


@pytest.fixture
def voice(tmp_path):
    import soundfile as sf
    x, rate = sf.read(UTTERANCE)
    path = tmp_path / "voice.wav"
    sf.write(path, x[: int(1.2 * rate)], rate)
    return path


def test_lipsync(bpy_empty, tmp_path, voice):
    bpy = bpy_empty
    name = tiny_rigged_mesh(keys=arkit.ARKIT_NAMES).name
    cli_state = _via_cli(bpy, tmp_path, ["lipsync", "{head}", str(voice), "-o", "{out}",
                                         "--engine", "phonetic", "--take", "Talk"], name,
                         "voice.blend")
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "head.blend"))
    obj = bpy.data.objects[name]
    _select(bpy, obj)
    assert bpy.ops.faceforge.bake_lipsync(filepath=str(voice), engine="phonetic",
                                          take="Talk") == {"FINISHED"}
    op_state = _state(obj)
    assert len(op_state["keys"]) > 10 and op_state["object"]  # mouth and head motion
    _assert_same(op_state, cli_state)


def test_video(bpy_empty, tmp_path):
    import cv2
    from faceforge.ml.video.decode import open_video
    bpy = bpy_empty
    frames = tmp_path / "take"
    frames.mkdir()
    for i, (_, rgb) in enumerate(islice(open_video(CLIP), 8)):
        cv2.imwrite(str(frames / f"f_{i:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    name = tiny_rigged_mesh(keys=arkit.ARKIT_NAMES).name
    cli_state = _via_cli(bpy, tmp_path, ["video", "{head}", str(frames), "-o", "{out}",
                                         "--gain", "mouth=1.5", "--neutral", "none"],
                         name, "take.blend")
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "head.blend"))
    obj = bpy.data.objects[name]
    _select(bpy, obj)
    assert bpy.ops.faceforge.bake_video(filepath=str(frames), gain_mouth=1.5,
                                        calibration="NONE") == {"FINISHED"}
    op_state = _state(obj)
    assert len(op_state["keys"]) == 52 and op_state["object"]
    _assert_same(op_state, cli_state)


def _csv(path):
    from faceforge.ml import livelink_csv
    rng = np.random.default_rng(3)
    livelink_csv.write_livelink_csv(path, livelink_csv.LiveLinkTake(
        times=np.arange(30) / 60.0, weights=rng.random((30, 52)).astype(np.float32),
        rotations=rng.uniform(-0.3, 0.3, (30, 9)).astype(np.float32)), fps=60)
    return path


def test_import_and_export_csv(bpy_empty, tmp_path):
    bpy = bpy_empty
    src = _csv(tmp_path / "take.csv")
    name = tiny_rigged_mesh(keys=arkit.ARKIT_NAMES).name
    cli_state = _via_cli(bpy, tmp_path, ["import-csv", "{head}", str(src), "-o", "{out}",
                                         "--head-rotation"], name, "head.blend")
    cli_csv = tmp_path / "cli_csv"
    assert cli.run(["export-csv", str(tmp_path / "out" / "head.blend"), "-o", str(cli_csv)]) == 0
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "head.blend"))
    obj = bpy.data.objects[name]
    _select(bpy, obj)
    assert bpy.ops.faceforge.import_livelink_csv(filepath=str(src),
                                                 apply_head_rotation=True) == {"FINISHED"}
    op_state = _state(obj)
    assert len(op_state["keys"]) == 52
    _assert_same(op_state, cli_state)
    op_csv = tmp_path / "op.csv"
    assert bpy.ops.faceforge.export_livelink_csv(filepath=str(op_csv)) == {"FINISHED"}
    assert op_csv.read_text() == (cli_csv / "head_take.csv").read_text() == src.read_text()
