"""How the command line speaks: `FAILED <input>: what is wrong and what to do`, no
exception class names, no tracebacks without -v, head problems once per head, Ctrl-C
ends with a summary and exit 130, bad option values refused up front."""
import re

import numpy as np
import pytest

from faceforge.ml import arkit
from faceforge.ops import autorig, batch, cli, emotion
from helpers import tiny_rigged_mesh

CLASS_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception)\b|Traceback|Interrupt\b")


def _save(bpy, path, rigged=True, keys=None):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if rigged:
        tiny_rigged_mesh(keys=keys or arkit.ARKIT_NAMES[:5])
    else:
        tiny_rigged_mesh(keys=(), user_keys=("Smile",))
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    return path


def _wav(path, seconds=0.4, rate=16000):
    import soundfile as sf
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * 200 * t), rate)
    return path


def _clean(err: str) -> None:
    assert not CLASS_NAME.search(err), err


def test_head_without_arkit_keys_is_reported_once(bpy_empty, tmp_path, capsys):
    bpy = bpy_empty
    head = _save(bpy, tmp_path / "head.blend", rigged=False)
    wavs = [_wav(tmp_path / f"{n}.wav") for n in "abc"]
    code = cli.run(["lipsync", str(head), *map(str, wavs), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("FAILED") == 1 and err.count("ARKit") == 1
    assert f"FAILED {head}: no mesh in it has ARKit-named shape keys; rig it first" in err
    assert "selected" not in err and "a.wav" not in err
    _clean(err)


def test_ctrl_c_ends_with_a_summary_and_exit_130(bpy_empty, tmp_path, capsys, monkeypatch):
    bpy = bpy_empty
    inputs = [_save(bpy, tmp_path / f"{n}.blend") for n in "abc"]
    real, calls = emotion.bake_emotion, []

    def interrupted_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(emotion, "bake_emotion", interrupted_on_second)
    out = tmp_path / "out"
    assert cli.run(["emotion", *map(str, inputs), "-o", str(out)]) == 130
    err = capsys.readouterr().err
    assert "interrupted (Ctrl-C): 1 succeeded, 0 failed, 2 not run" in err
    assert f"NOT RUN {inputs[1]}" in err and f"NOT RUN {inputs[2]}" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.blend"]  # no half-written file
    _clean(err)


def test_run_batch_interrupt():
    def job(item):
        if item == 2:
            raise KeyboardInterrupt
        return "ok"
    res = batch.run_batch([1, 2, 3], job, "test")
    assert res.ok == ["1"] and res.not_run == ["2", "3"] and res.exit_code == 130


def test_import_csv_into_a_folder(bpy_empty, tmp_path, capsys):
    from faceforge.addon import keyframes
    from test_livelink_ops import _random_csv
    bpy = bpy_empty
    head = _save(bpy, tmp_path / "head.blend", keys=arkit.ARKIT_NAMES)
    _random_csv(tmp_path / "take.csv")
    out = tmp_path / "out"
    assert cli.run(["import-csv", str(head), str(tmp_path / "take.csv"), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["head.blend"]
    bpy.ops.wm.open_mainfile(filepath=str(out / "head.blend"))
    assert keyframes.list_takes(bpy.data.objects["Tiny"]) == ["take"]


def test_import_csv_onto_an_unrigged_head(bpy_empty, tmp_path, capsys):
    from test_livelink_ops import _random_csv
    bpy = bpy_empty
    head = _save(bpy, tmp_path / "head.blend", rigged=False)
    _random_csv(tmp_path / "take.csv")
    assert cli.run(["import-csv", str(head), str(tmp_path / "take.csv"), "-o",
                    str(tmp_path / "out.blend")]) == 1
    err = capsys.readouterr().err
    assert f"FAILED {head}: no mesh in it has ARKit-named shape keys; rig it first" in err
    assert not (tmp_path / "out.blend").exists()
    _clean(err)


def test_export_csv_errors_are_plain(bpy_empty, tmp_path, capsys):
    bpy = bpy_empty
    plain = _save(bpy, tmp_path / "plain.blend", rigged=False)
    still = _save(bpy, tmp_path / "still.blend")
    assert cli.run(["export-csv", str(plain), str(still), "-o", str(tmp_path / "csv"),
                    "--take", "Nope"]) == 1
    err = capsys.readouterr().err
    assert f"FAILED {plain}: no mesh with ARKit-named shape keys found (rig it first)" in err
    assert f"FAILED {still}: 'Tiny' has no take 'Nope'" in err
    _clean(err)


def test_head_rotation_values(bpy_empty, tmp_path, capsys):
    bpy = bpy_empty
    head = _save(bpy, tmp_path / "head.blend")
    clip = tmp_path / "c.mp4"
    clip.write_text("x")
    with pytest.raises(SystemExit, match="--head-rotation must be object, none or ARMATURE:BONE"):
        cli.run(["video", str(head), str(clip), "-o", str(tmp_path / "o"), "--head-rotation", "foo"])
    assert cli.run(["video", str(head), str(clip), "-o", str(tmp_path / "o"),
                    "--head-rotation", "Rig:head"]) == 1
    err = capsys.readouterr().err
    assert f"FAILED {head}: --head-rotation: no armature named 'Rig' in it (armatures: none)" in err
    assert err.count("FAILED") == 1
    _clean(err)


def test_no_blender_gui_wording(bpy_empty, tmp_path, capsys):
    bpy = bpy_empty
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("Nothing", None))
    empty = tmp_path / "empty.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(empty), copy=True)
    plain = _save(bpy, tmp_path / "plain.blend", rigged=False)
    assert cli.run(["rig", str(empty), "-o", str(tmp_path / "o")]) == 1
    assert cli.run(["emotion", str(plain), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert f"FAILED {empty}: it holds no mesh to rig" in err
    assert f"FAILED {plain}: no mesh in it has ARKit-named shape keys; rig it first" in err
    assert "select" not in err
    _clean(err)


@pytest.mark.parametrize("name, content, says", [
    ("notes.glb", b"hello, not a model", "not a valid binary glTF file"),
    ("notes.gltf", b"{\"asset\": 1}", "not a valid glTF file"),
    ("notes.blend", b"hello", "not a .blend file Blender can read"),
])
def test_not_a_scene_file(bpy_empty, tmp_path, capfd, name, content, says):
    (tmp_path / name).write_bytes(content)
    assert cli.run(["rig", str(tmp_path / name), "-o", str(tmp_path / "o")]) == 1
    captured = capfd.readouterr()
    assert f"FAILED {tmp_path / name}: {says}: it may be damaged, or another format" in captured.err
    assert "Bad glTF" not in captured.err + captured.out
    _clean(captured.err + captured.out)


@pytest.mark.parametrize("argv, says", [
    (["rig", "{f}", "--strength", "-5"], "--strength must be between 0 and 5, got -5"),
    (["rig", "{f}", "--strength", "1e9"], "--strength must be between 0 and 5, got 1e+09"),
    (["rig", "{f}", "--strength", "nan"], "--strength must be between 0 and 5, got nan"),
    (["video", "{f}", "{f}", "--gain", "mouth=-1"], "gain for 'mouth' must be within 0-10"),
    (["video", "{f}", "{f}", "--gain", "jaw=1e6"], "gain for 'jaw' must be within 0-10"),
])
def test_bad_strength_and_gain_are_refused_before_any_work(tmp_path, argv, says, monkeypatch):
    monkeypatch.setattr(autorig, "rig_objects", lambda *a, **k: pytest.fail("rig ran"))
    f = tmp_path / "h.blend"
    with pytest.raises(SystemExit, match=re.escape(says)):
        cli.run([a.format(f=f) for a in argv] + ["-o", str(tmp_path / "o")])


def test_the_rig_service_refuses_bad_strength(bpy_empty):
    """The check is in the service, so every caller (operator, scripts) gets it."""
    obj = tiny_rigged_mesh()
    for options in (autorig.infer.RigOptions(strength=-5),
                    autorig.infer.RigOptions(region_strength={"mouth": 99.0})):
        with pytest.raises(ValueError, match="strength must be between 0 and 5"):
            autorig.rig_objects([obj], options)
    assert len(obj.data.shape_keys.key_blocks) == 7  # untouched


def test_rig_reports_its_stages(bpy_empty, tmp_path, capsys):
    from faceforge.addon import reference_head
    bpy = bpy_empty
    reference_head.build_suzanne()
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "s.blend"), copy=True)
    assert cli.run(["rig", str(tmp_path / "s.blend"), "-o", str(tmp_path / "o"),
                    "--no-preview"]) == 0
    err = capsys.readouterr().err
    shown = [int(m) for m in re.findall(r"s\.blend: rigging (\d+)%", err)]
    assert len(shown) >= 4 and shown == sorted(shown) and shown[-1] == 100


def test_ctrl_c_in_a_real_run(bpy_empty, tmp_path):
    """SIGINT to the console script in the middle of a batch: summary, exit 130, only
    whole outputs left."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    exe = Path(sys.executable).with_name("faceforge")
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    bpy = bpy_empty
    head = _save(bpy, tmp_path / "head.blend")
    voices = tmp_path / "voices"
    voices.mkdir()
    for n in range(6):
        _wav(voices / f"line{n}.wav", seconds=4.0)
    out = tmp_path / "out"
    proc = subprocess.Popen([str(exe), "lipsync", str(head), str(voices), "-o", str(out),
                             "--engine", "phonetic"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines, deadline = [], time.monotonic() + 240
    for line in proc.stderr:  # wait for the first finished item
        lines.append(line)
        if "1/6" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    err = "".join(lines) + rest
    assert proc.returncode == 130, err
    assert "interrupted (Ctrl-C): " in err and "not run" in err and "Traceback" not in err
    done = sorted(p.name for p in out.iterdir())
    assert done and all(n.endswith(".blend") and not n.startswith(".") for n in done), done


def test_no_temporary_name_in_what_a_run_prints(bpy_empty, tmp_path, capfd):
    """Blender's own 'Saved copy as .a.faceforge-tmp-123.blend' once showed on stdout."""
    bpy = bpy_empty
    src = _save(bpy, tmp_path / "a.blend")
    capfd.readouterr()
    assert cli.run(["emotion", str(src), "-o", str(tmp_path / "out"), "--format", ".blend"]) == 0
    assert cli.run(["emotion", str(src), "-o", str(tmp_path / "out"), "--format", ".glb"]) == 0
    captured = capfd.readouterr()
    assert "faceforge-tmp" not in captured.out + captured.err
    assert f"-> {tmp_path / 'out' / 'a.glb'}" in captured.err


def test_command_wide_values_fail_once_up_front(tmp_path, capsys):
    head, wav = tmp_path / "head.blend", tmp_path / "a.wav"
    with pytest.raises(SystemExit, match="--transcript: no such file or folder"):
        cli.run(["lipsync", str(head), str(wav), "-o", str(tmp_path / "o"),
                 "--transcript", str(tmp_path / "missing.txt")])
    with pytest.raises(SystemExit):
        cli.run(["lipsync", str(head), str(wav), "-o", str(tmp_path / "o"), "--take", " "])
    assert "a take needs a name" in capsys.readouterr().err


def test_failed_lines_name_the_input_once(bpy_empty, tmp_path, capsys):
    """'FAILED x.wav: x.wav: not a readable audio file' and 'FAILED Source(path=...)'."""
    from test_livelink_ops import _random_csv
    bpy = bpy_empty
    head = _save(bpy, tmp_path / "head.blend", keys=arkit.ARKIT_NAMES)
    (tmp_path / "junk.wav").write_bytes(b"RIFF\x00\x01junk" * 50)
    (tmp_path / "junk.csv").write_bytes(b"\xff\xd8 not text" * 50)
    _random_csv(tmp_path / "good.csv")
    assert cli.run(["lipsync", str(head), str(tmp_path / "junk.wav"), "-o", str(tmp_path / "o")]) == 1
    assert cli.run(["import-csv", str(head), str(tmp_path / "junk.csv"), str(tmp_path / "good.csv"),
                    "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    for name in ("junk.wav", "junk.csv"):
        failed = [line for line in err.splitlines() if line.startswith(f"  FAILED {tmp_path / name}")]
        assert len(failed) == 1 and f"{tmp_path / name}: {tmp_path / name}" not in failed[0]
    assert "Source(" not in err and (tmp_path / "o" / "head.blend").exists()
    _clean(err)
