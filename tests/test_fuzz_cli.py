"""Fuzzing the command line: damaged WAV, glTF, CSV, video and .blend files go through every
command that reads them (in this process, through faceforge.ops.cli.run). Each run must end
without a traceback or an exception class name, exit non-zero with a line
`FAILED <input>: ...`, and leave every input byte-identical. Seeded; the whole file runs in
well under a minute.

Two families of damage: "broken" corrupts the part of the file its reader cannot do
without (magic, header, JSON, index, a CSV cell or row), so the run must fail; "flipped"
changes a few random bytes anywhere, so the run may also succeed, but then it wrote its
output and still printed no traceback."""
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from faceforge.ml.livelink_csv import LiveLinkTake, write_livelink_csv

from helpers import tiny_rigged_mesh

SEEDS = range(3)
CLASS_NAME = re.compile(r"\b\w*(Error|Exception|Interrupt)\b: ")


# ---------------------------------------------------------------- clean inputs

@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """One valid file of each kind (and the rigged head the media are baked onto)."""
    bpy = pytest.importorskip("bpy")
    from conftest import _register_once
    _register_once()
    root = tmp_path_factory.mktemp("clean")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    tiny_rigged_mesh()
    bpy.ops.wm.save_as_mainfile(filepath=str(root / "head.blend"), copy=True)
    bpy.ops.export_scene.gltf(filepath=str(root / "head.glb"), export_format="GLB")
    t = np.arange(16000) / 16000
    sf.write(str(root / "voice.wav"), (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32),
             16000, subtype="PCM_16")
    rng = np.random.default_rng(0)
    write_livelink_csv(root / "take.csv", LiveLinkTake(
        times=np.arange(12) / 60, weights=rng.random((12, 52)).astype(np.float32),
        rotations=rng.normal(scale=0.1, size=(12, 9)).astype(np.float32)))
    writer = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48))
    for _ in range(10):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return root


# ---------------------------------------------------------------- damage

def _random_bytes(rng, n, avoid=b""):
    data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    return data if data != avoid[:n] else bytes(b ^ 0xFF for b in data)


def _break_wav(data: bytes, rng) -> bytes:
    """The RIFF header (magic, sizes, format) replaced by random bytes, maybe truncated too."""
    n = int(rng.integers(12, 44))
    out = _random_bytes(rng, n, data) + data[n:]
    return out[:int(rng.integers(44, len(out)))] if rng.random() < 0.5 else out


def _break_glb(data: bytes, rng) -> bytes:
    """The JSON chunk's structure damaged (a bracket or quote replaced), or the file cut
    inside the JSON, or the 12-byte header overwritten."""
    json_len = int.from_bytes(data[12:16], "little")
    kind = int(rng.integers(3))
    if kind == 0:
        structural = [20 + i for i, c in enumerate(data[20:20 + json_len]) if c in b'{}[]:"']
        out = bytearray(data)
        for at in rng.choice(structural, size=3, replace=False):
            out[at] = ord(rng.choice(list("x#@ ")))
        return bytes(out)
    if kind == 1:
        return data[:int(rng.integers(20, 20 + json_len))]
    return _random_bytes(rng, 12, data) + data[12:]


def _break_csv(data: bytes, rng) -> bytes:
    """A cell replaced by garbage, a row cut short, binary bytes, or a damaged header name."""
    lines = data.decode().splitlines()
    kind = int(rng.integers(4))
    row = int(rng.integers(1, len(lines)))
    cells = lines[row].split(",")
    if kind == 0:
        cells[int(rng.integers(2, len(cells)))] = "".join(rng.choice(list("abcxyz!#?"), size=4))
        lines[row] = ",".join(cells)
    elif kind == 1:
        lines[row] = ",".join(cells[:int(rng.integers(1, len(cells) - 1))])
    elif kind == 2:
        cut = int(rng.integers(0, len(data)))
        return data[:cut] + b"\xff\xfe\x00" + _random_bytes(rng, 16) + data[cut:]
    else:
        header = lines[0].split(",")
        at = int(rng.integers(2, len(header)))
        header[at] = header[at][:2] + "".join(rng.choice(list("QZqz"), size=2)) + header[at][2:]
        lines[0] = ",".join(header)
    return ("\n".join(lines) + "\n").encode()


def _break_video(data: bytes, rng) -> bytes:
    """OpenCV's mp4v files keep their index (moov) at the end: cut anywhere before it, or
    overwrite the container header."""
    if rng.random() < 0.5:
        return data[:int(rng.integers(0, data.rfind(b"moov") - 4))]
    n = int(rng.integers(16, 256))
    return _random_bytes(rng, n, data) + data[n:]


def _break_blend(data: bytes, rng) -> bytes:
    """The 12-byte BLENDER header overwritten (random bytes), maybe truncated too."""
    out = _random_bytes(rng, 12, data) + data[12:]
    return out[:int(rng.integers(12, len(out)))] if rng.random() < 0.5 else out


def _flip(data: bytes, rng) -> bytes:
    """A few random bytes anywhere set to random values."""
    out = bytearray(data)
    for at in rng.integers(0, len(out), size=int(rng.integers(1, 8))):
        out[at] = int(rng.integers(0, 256))
    return bytes(out)


# (command line before the input and output, damaged file, damage, output after -o)
CASES = {
    "lipsync": (lambda c, bad, out: ["lipsync", str(c / "head.blend"), str(bad), "-o", str(out)],
                "voice.wav", _break_wav),
    "video": (lambda c, bad, out: ["video", str(c / "head.blend"), str(bad), "-o", str(out)],
              "clip.mp4", _break_video),
    "import-csv": (lambda c, bad, out: ["import-csv", str(c / "head.blend"), str(bad),
                                        "-o", str(out / "head.blend")], "take.csv", _break_csv),
    "rig": (lambda c, bad, out: ["rig", str(bad), "-o", str(out)], "head.glb", _break_glb),
    "emotion": (lambda c, bad, out: ["emotion", str(bad), "-o", str(out)], "head.glb", _break_glb),
    "export-csv": (lambda c, bad, out: ["export-csv", str(bad), "-o", str(out)], "head.blend",
                   _break_blend),
}


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _run(clean, tmp_path, capsys, command, damage, seed):
    """Damage a clean input, run the command on it; returns (exit, stderr, bad path, out)."""
    from faceforge.ops import cli
    argv, name, _ = CASES[command]
    rng = np.random.default_rng([seed, sorted(CASES).index(command), damage is _flip])
    bad = tmp_path / "inputs" / f"damaged_{seed}{Path(name).suffix}"
    bad.parent.mkdir()
    bad.write_bytes(damage((clean / name).read_bytes(), rng))
    before, clean_before = _digest(bad.parent), _digest(clean)
    out = tmp_path / "out"
    capsys.readouterr()
    code = cli.run(argv(clean, bad, out))
    err = capsys.readouterr().err
    assert _digest(bad.parent) == before and _digest(clean) == clean_before, "an input changed"
    assert "Traceback" not in err, err
    return code, err, bad, out


def _assert_failed_cleanly(code, err, bad):
    assert code != 0, err
    assert not CLASS_NAME.search(err), f"an exception class name reached the user:\n{err}"
    lines = [ln for ln in err.splitlines() if ln.startswith(f"FAILED {bad}: ")]
    assert lines, f"no line 'FAILED {bad}: ...' in:\n{err}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("command", sorted(CASES))
def test_broken_inputs_fail_cleanly(clean, tmp_path, capsys, command, seed):
    code, err, bad, out = _run(clean, tmp_path, capsys, command, CASES[command][2], seed)
    _assert_failed_cleanly(code, err, bad)
    left = [p for p in out.iterdir() if p.name != ".faceforge"] if out.exists() else []
    assert not left, "a failed run left output behind (the run's manifest aside)"


@pytest.mark.parametrize("command", sorted(CASES))
def test_flipped_bytes_succeed_or_fail_cleanly(clean, tmp_path, capsys, command):
    code, err, bad, out = _run(clean, tmp_path, capsys, command, _flip, 0)
    if code == 0:
        assert out.exists() and any(out.iterdir()), f"exit 0 but nothing written:\n{err}"
    else:
        _assert_failed_cleanly(code, err, bad)


def test_console_script_exit_status_survives_teardown(clean, tmp_path):
    # On Blender 4.2 the bpy module crashed at exit (SIGSEGV, status -11) whenever classes
    # were still registered, so a failed run could not report 1.
    bad = tmp_path / "broken.glb"
    bad.write_bytes(b"glTF" + bytes(64))
    script = Path(sys.executable).with_name("faceforge")
    cmd = [str(script)] if script.exists() else [
        sys.executable, "-c", "import sys; from faceforge.ops.cli import main; sys.exit(main())"]
    run = subprocess.run(cmd + ["rig", str(bad), "-o", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
