"""Inputs that are damaged or incomplete: a truncated WAV says how much was read, image
sequences take their frame rate from --fps or fps.txt (and say when they assume 30)."""
import struct
import warnings
from itertools import islice

import cv2
import numpy as np
import pytest
import soundfile as sf

from faceforge.ml.lipsync.audio import AudioWarning, load_audio
from faceforge.ml.video import pipeline
from faceforge.ml.video.decode import FPS_SIDECAR, VideoError, VideoWarning, open_video


@pytest.fixture(scope="module")
def grid_clip(shared_data):
    return shared_data / "video" / "grid" / "bbaf2n.mpg"  # 3 s of a speaking face, 25 fps


@pytest.fixture(scope="module")
def sequence(tmp_path_factory, grid_clip):
    """The clip's first 25 frames as PNG files in a folder of their own."""
    folder = tmp_path_factory.mktemp("seq") / "frames"
    folder.mkdir()
    for i, (_, rgb) in enumerate(islice(open_video(grid_clip), 25)):
        cv2.imwrite(str(folder / f"f_{i:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


def _wav(path, seconds=4.0, rate=16000):
    x = np.random.default_rng(0).uniform(-0.5, 0.5, int(seconds * rate)).astype(np.float32)
    sf.write(str(path), x, rate, subtype="PCM_16")
    return path


# ---------------------------------------------------------------- audio

def test_truncated_wav_says_how_much_was_read(tmp_path):
    # The body was cut in half: libsndfile reads the 2 s that are there without a word,
    # so the bake used to cover half the take silently.
    data = _wav(tmp_path / "full.wav").read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[:len(data) // 2])
    notes = []
    with pytest.warns(AudioWarning, match=r"truncated: read 2\.00 s of the 4\.00 s its header declares \(50%\)"):
        samples, rate = load_audio(cut, notes=notes)
    assert len(samples) == pytest.approx(2 * rate, abs=20)
    assert len(notes) == 1 and str(cut) in notes[0]


def test_whole_and_streamed_wavs_warn_about_nothing(tmp_path):
    whole = _wav(tmp_path / "whole.wav")
    streamed = bytearray(whole.read_bytes())  # a pipe-written WAV: sizes unknown (~0)
    at = streamed.find(b"data") + 4
    streamed[at:at + 4] = struct.pack("<I", 0xFFFFFFFF)
    (tmp_path / "streamed.wav").write_bytes(bytes(streamed))
    for path in (whole, tmp_path / "streamed.wav"):
        notes = []
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            samples, rate = load_audio(path, notes=notes)
        assert notes == [] and len(samples) == 4 * rate


# ---------------------------------------------------------------- video

def test_image_sequence_without_a_rate_warns_that_it_assumes_30(sequence):
    # It used to play at 30 fps without a word: a 25 fps take came out 5/6 as long.
    with pytest.warns(VideoWarning, match="assuming 30 fps.*--fps.*fps.txt"):
        src = open_video(sequence)
    assert src.fps == 30 and len(src.warnings) == 1


def test_image_sequence_rate_from_argument_or_sidecar(sequence, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        src = open_video(sequence, fps=25)
        assert src.fps == 25 and src.warnings == []
        assert [t for t, _ in islice(src, 3)] == pytest.approx([0, 0.04, 0.08])
    folder = tmp_path / "with_sidecar"
    folder.mkdir()
    for f in sorted(sequence.iterdir())[:3]:
        (folder / f.name).write_bytes(f.read_bytes())
    for text, rate in (("25\n", 25.0), ("30000/1001", 30000 / 1001), (" 12.5 ", 12.5)):
        (folder / FPS_SIDECAR).write_text(text)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert open_video(folder).fps == pytest.approx(rate)
            assert open_video(folder / "f_%03d.png").fps == pytest.approx(rate)
        assert open_video(folder, fps=50).fps == 50  # the argument wins
    for text in ("fast", "0", "-25", "1/0", "nan", "1e9"):
        (folder / FPS_SIDECAR).write_text(text)
        with pytest.raises(VideoError, match=f"{FPS_SIDECAR}.*frame rate between 0 and 1000"):
            open_video(folder)


@pytest.mark.parametrize("fps", [0, -25, float("nan"), float("inf"), 5000, "fast"])
def test_bad_fps_is_refused(sequence, fps):
    with pytest.raises(VideoError, match="fps must be a frame rate between 0 and 1000"):
        open_video(sequence, fps=fps)


def test_fps_for_a_video_file_is_not_used_and_says_so(grid_clip):
    with pytest.warns(VideoWarning, match="plays at its own 25 fps; the frame rate 30"):
        assert open_video(grid_clip, fps=30).fps == 25
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert open_video(grid_clip, fps=25).fps == 25


def test_truncated_video_says_how_much_was_read(tmp_path, grid_clip):
    frames = [rgb for _, rgb in islice(open_video(grid_clip), 20)]
    writer = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (360, 288))
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    data = (tmp_path / "clip.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[:len(data) // 2])
    src = open_video(tmp_path / "cut.avi")
    with pytest.warns(VideoWarning, match=r"decoded \d+ of 20 frames \(0\.\d\d of 0\.80 s\)"):
        list(src)


class _Zeros:
    """Stand-in regressor: the test is about time, not expressions (the real one's face
    template, which the still-face filter aligns landmarks to, is kept)."""

    def __init__(self):
        from faceforge.ml.video.regressor import load_regressor
        real = load_regressor()
        self.template, self.stable = real.template, real.stable

    def predict(self, landmarks, aspect=1.0):
        return np.zeros((len(landmarks), 52), np.float32), np.zeros((len(landmarks), 3), np.float32)


def test_sequence_fps_sets_the_take_length(sequence):
    # 25 frames at 25 fps last 1 s; the old code played them at 30 fps (0.83 s).
    res = pipeline.analyse_video(sequence, 50.0, pipeline.VideoOptions(sequence_fps=25),
                                 regressor=_Zeros())
    assert res.duration == pytest.approx(1.0) and len(res.weights) == 50
    assert not any("assuming" in w for w in res.warnings)
    res = pipeline.analyse_video(sequence, 50.0, regressor=_Zeros())
    assert res.duration == pytest.approx(25 / 30)
    assert any("assuming 30 fps" in w for w in res.warnings)  # reaches the bake's summary


def test_cli_video_takes_fps(bpy_empty, tmp_path, sequence, capsys):
    from faceforge.ops import cli

    from helpers import tiny_rigged_mesh
    bpy = bpy_empty
    bpy.context.scene.render.fps = 50
    tiny_rigged_mesh()
    head = tmp_path / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(head))
    assert cli.run(["video", str(head), str(sequence), "-o", str(tmp_path / "out"), "--fps", "25"]) == 0
    assert "assuming" not in capsys.readouterr().err
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "out" / "frames.blend"))
    action = bpy.data.objects["Tiny"].data.shape_keys.animation_data.action
    assert tuple(action.frame_range) == pytest.approx((1, 50))  # 1 s at the scene's 50 fps
    assert cli.run(["video", str(head), str(sequence), "-o", str(tmp_path / "out30")]) == 0
    assert "assuming 30 fps" in capsys.readouterr().err
