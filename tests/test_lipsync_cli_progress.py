"""`faceforge lipsync` on long and damaged audio: progress moves inside a file (not only
between files), and a truncated file's warning reaches the summary in words."""
import re

import numpy as np
import soundfile as sf

from faceforge.ops import cli
from helpers import tiny_rigged_mesh


def _head(bpy, path):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    tiny_rigged_mesh(keys=("jawOpen", "mouthFunnel", "mouthClose", "mouthPucker"))
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    return path


def _speechlike(path, seconds, rate=16000):
    """Bursts of a voiced buzz with pauses, so recognition has chunks to work through."""
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sign(np.sin(2 * np.pi * 140 * t)) * (np.sin(2 * np.pi * 1.5 * t) > 0)
    sf.write(str(path), x.astype(np.float32), rate, subtype="PCM_16")
    return path


def test_a_long_file_reports_progress_inside_it(bpy_empty, tmp_path, capsys):
    head = _head(bpy_empty, tmp_path / "head.blend")
    audio = _speechlike(tmp_path / "long.wav", 75.0)  # three 30 s recognition chunks
    assert cli.run(["lipsync", str(head), str(audio), "-o", str(tmp_path / "out"),
                    "--engine", "phonetic"]) == 0
    err = capsys.readouterr().err
    shown = [int(m) for m in re.findall(r"long\.wav: analysing (\d+)%", err)]
    assert len(shown) >= 3 and shown == sorted(shown) and 0 < shown[-2] < 100 and shown[-1] == 100


def test_a_truncated_file_is_baked_with_a_worded_warning(bpy_empty, tmp_path, capsys):
    head = _head(bpy_empty, tmp_path / "head.blend")
    data = _speechlike(tmp_path / "full.wav", 4.0).read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[:len(data) // 2])
    assert cli.run(["lipsync", str(head), str(cut), "-o", str(tmp_path / "out"),
                    "--engine", "phonetic"]) == 0
    err = capsys.readouterr().err
    assert "truncated: read 2.00 s of the 4.00 s" in err
    assert "Warning" not in err and "Traceback" not in err
