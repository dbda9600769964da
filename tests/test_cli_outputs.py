"""Outputs of the command line: planned before any work, never colliding, never replacing
a file without --overwrite (even one a concurrent run writes), stale temporaries cleaned."""
import multiprocessing
import os
import subprocess
import time
import sys
from pathlib import Path

import numpy as np
import pytest

from faceforge.addon import keyframes
from faceforge.ops import cli, emotion
from helpers import tiny_rigged_mesh


def _save(bpy, path, name="Tiny"):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    tiny_rigged_mesh(name=name)
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    return path


@pytest.fixture
def count_bakes(monkeypatch):
    """Count calls of the emotion service (the work the checks must come before)."""
    calls = []
    real = emotion.bake_emotion

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)
    monkeypatch.setattr(emotion, "bake_emotion", counted)
    return calls


def test_same_name_in_sub_folders_keeps_both_results(bpy_empty, tmp_path):
    """voices/a/x + voices/b/x once became one output holding only the second result."""
    bpy = bpy_empty
    _save(bpy, tmp_path / "in" / "a" / "h.blend", name="FromA")
    _save(bpy, tmp_path / "in" / "b" / "h.blend", name="FromB")
    out = tmp_path / "out"
    assert cli.run(["emotion", str(tmp_path / "in"), "-o", str(out), "--overwrite"]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.blend"))
    assert written == ["a/h.blend", "b/h.blend"]
    bpy.ops.wm.open_mainfile(filepath=str(out / "a" / "h.blend"))
    assert "FromA" in bpy.data.objects


def test_lipsync_voice_lines_of_two_characters(bpy_empty, tmp_path):
    """The issue's case: voices/a/voice.wav and voices/b/voice.wav onto one head."""
    import soundfile as sf
    bpy = bpy_empty
    head = _save(bpy, tmp_path / "head.blend")
    rate = 16000
    for sub, seconds in (("a", 0.5), ("b", 1.0)):
        (tmp_path / "voices" / sub).mkdir(parents=True)
        t = np.arange(int(seconds * rate)) / rate
        sf.write(tmp_path / "voices" / sub / "voice.wav", 0.3 * np.sin(2 * np.pi * 220 * t), rate)
    out = tmp_path / "out"
    assert cli.run(["lipsync", str(head), str(tmp_path / "voices"), "-o", str(out),
                    "--engine", "energy", "--overwrite"]) == 0
    lengths = []
    for sub in ("a", "b"):
        bpy.ops.wm.open_mainfile(filepath=str(out / sub / "voice.blend"))
        lengths.append(keyframes.take_frames(bpy.data.objects["Tiny"]).max())
    assert lengths[0] < lengths[1]  # each file holds its own take


def test_colliding_inputs_are_an_error_before_any_work(bpy_empty, tmp_path, capsys):
    """h.blend + h.glb with --format .blend: once both rigged, one result silently lost."""
    bpy = bpy_empty
    _save(bpy, tmp_path / "h.blend")
    bpy.ops.export_scene.gltf(filepath=str(tmp_path / "h.glb"), export_format="GLB")
    out = tmp_path / "out"
    code = cli.run(["rig", str(tmp_path / "h.blend"), str(tmp_path / "h.glb"), "-o", str(out),
                    "--format", ".blend", "--overwrite"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"FAILED {tmp_path / 'h.glb'}: its output {out / 'h.blend'} is also the output of" in err
    assert "nothing was run" in err and not out.exists()


def test_existing_output_is_found_before_the_work(bpy_empty, tmp_path, capsys, count_bakes):
    bpy = bpy_empty
    _save(bpy, tmp_path / "a.blend")
    _save(bpy, tmp_path / "b.blend")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.blend").write_text("theirs")
    code = cli.run(["emotion", str(tmp_path / "a.blend"), str(tmp_path / "b.blend"), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and len(count_bakes) == 1  # only b was baked
    assert f"FAILED {tmp_path / 'a.blend'}: {out / 'a.blend'} already exists (pass --overwrite" in err
    assert (out / "a.blend").read_text() == "theirs" and (out / "b.blend").exists()


def test_unwritable_output_folder_is_found_before_the_work(bpy_empty, tmp_path, capsys,
                                                            count_bakes):
    bpy = bpy_empty
    _save(bpy, tmp_path / "a.blend")
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "out"
    assert cli.run(["emotion", str(tmp_path / "a.blend"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert not count_bakes
    assert f"FAILED {out}: cannot use it as the output folder: Not a directory" in err
    assert "faceforge-tmp" not in err and "Error" not in err


def test_dry_run_prints_the_plan_and_writes_nothing(bpy_empty, tmp_path, capsys, count_bakes):
    bpy = bpy_empty
    _save(bpy, tmp_path / "in" / "a.blend")
    _save(bpy, tmp_path / "in" / "sub" / "b.blend")
    out = tmp_path / "out"
    assert cli.run(["emotion", str(tmp_path / "in"), "-o", str(out), "--format", ".glb",
                    "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert f"{tmp_path / 'in' / 'a.blend'} -> {out / 'a.glb'}" in text
    assert f"{tmp_path / 'in' / 'sub' / 'b.blend'} -> {out / 'sub' / 'b.glb'}" in text
    assert not out.exists() and not count_bakes


def test_plan_items_and_shards(tmp_path):
    from faceforge.ops import plan
    (tmp_path / "v" / "x").mkdir(parents=True)
    for name in ("v/1.wav", "v/x/1.wav", "v/2.wav", "v/skip.txt"):
        (tmp_path / name).write_text("")
    sources = plan.find_sources([tmp_path / "v", tmp_path / "gone.wav"], (".wav",))
    items = [plan.PlannedItem(s.path, tmp_path / "o" / plan.output_name(s, ".blend"), str(s.path))
             for s in sources]
    p = plan.Plan.build("lipsync", items)
    assert not p.errors
    assert [i.output.relative_to(tmp_path / "o").as_posix() for i in p.items] == [
        "1.blend", "2.blend", "x/1.blend", "gone.blend"]
    shards = [p.shard(i, 3).items for i in (1, 2, 3)]
    assert sorted(i.label for s in shards for i in s) == sorted(i.label for i in p.items)


# ------------------------------------------------------------------ exclusive writes
def _atomic_output():
    """The atomic writer (found where earlier versions kept it, so this test shows how
    they failed)."""
    from faceforge.ops import batch
    try:
        from faceforge.ops import outputs
    except ImportError:
        return batch.atomic_output
    return outputs.atomic_output


def test_a_file_written_meanwhile_is_never_replaced(tmp_path):
    from faceforge.ops.batch import UserError
    target = tmp_path / "r.blend"
    with pytest.raises(UserError, match="already exists"):
        with _atomic_output()(target) as tmp:
            tmp.write_text("ours")
            target.write_text("theirs")  # another run commits first
    assert target.read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.blend"]  # no temporary left


def test_commit_without_hard_links_is_still_exclusive(tmp_path, monkeypatch):
    from faceforge.ops import outputs
    def no_links(src, dst):
        raise OSError(outputs.errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(outputs.os, "link", no_links)
    target = tmp_path / "r.csv"
    with outputs.atomic_output(target) as tmp:
        tmp.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(outputs.OutputError, match="already exists"):
        with outputs.atomic_output(tmp_path / "s.csv") as tmp:
            tmp.write_text("ours")
            (tmp_path / "s.csv").write_text("theirs")
    assert (tmp_path / "s.csv").read_text() == "theirs"


def _race(folder: str, rounds: int, start, results):
    from faceforge.ops.batch import UserError
    atomic_output = _atomic_output()
    start.wait()
    won = []
    for n in range(rounds):
        try:
            with atomic_output(Path(folder) / f"{n}.txt") as tmp:
                tmp.write_text(str(os.getpid()))
                time.sleep(0.002)  # a save takes a while: both runs are inside it
            won.append(n)
        except UserError:
            pass
    results.put((os.getpid(), won))


def test_two_concurrent_runs_never_overwrite_each_other(tmp_path):
    ctx = multiprocessing.get_context("fork")
    start, results, rounds = ctx.Barrier(2), ctx.Queue(), 40
    procs = [ctx.Process(target=_race, args=(str(tmp_path), rounds, start, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    won = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    for n in range(rounds):  # each name written once, by the run that says it wrote it
        winners = [pid for pid, names in won.items() if n in names]
        assert len(winners) == 1 and (tmp_path / f"{n}.txt").read_text() == str(winners[0])
    assert len(list(tmp_path.iterdir())) == rounds


def test_stale_temporaries_of_dead_processes_are_cleaned(tmp_path):
    from faceforge.ops import outputs, plan
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    host = outputs._host()
    stale = [f".a.faceforge-tmp-{host}-{dead}.blend@", f".b.faceforge-tmp-{dead}.glb",
             f".c.faceforge-tmp-{host}-{dead}.csv"]
    kept = [f".d.faceforge-tmp-{host}-{os.getpid()}.blend",  # a live process's
            f".e.faceforge-tmp-otherhost-{dead}.blend",       # another machine's: unknown
            "notes.faceforge-tmp.txt", "a.blend"]
    for name in stale + kept:
        (tmp_path / name).write_text("x")
    item = plan.PlannedItem(tmp_path / "in.blend", tmp_path / "a2.blend", "in.blend")
    plan.Plan.build("rig", [item]).check_outputs()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_demo_respects_overwrite(bpy_empty, tmp_path, capsys, monkeypatch):
    from faceforge.ops import demo
    built = []
    monkeypatch.setattr(demo, "build_demo_scene", lambda *a: built.append(a) or 1 / 0)
    (tmp_path / "demo.png").write_text("mine")
    assert cli.run(["demo", "-o", str(tmp_path)]) == 1
    assert (tmp_path / "demo.png").read_text() == "mine" and not built
    assert "demo.png already exists (pass --overwrite" in capsys.readouterr().err


# ------------------------------------------------------------------ shards and resume
def test_shards_split_the_plan_without_overlap(bpy_empty, tmp_path, capsys, count_bakes):
    bpy = bpy_empty
    for n in "abcde":
        _save(bpy, tmp_path / "in" / f"{n}.blend")
    out = tmp_path / "out"
    assert cli.run(["emotion", str(tmp_path / "in"), "-o", str(out), "--shard", "1/2",
                    "--dry-run"]) == 0
    assert capsys.readouterr().out.count(" -> ") == 3 and not count_bakes
    assert cli.run(["emotion", str(tmp_path / "in"), "-o", str(out), "--shard", "1/2"]) == 0
    first = sorted(p.name for p in out.glob("*.blend"))
    assert cli.run(["emotion", str(tmp_path / "in"), "-o", str(out), "--shard", "2/2"]) == 0
    assert first == ["a.blend", "c.blend", "e.blend"] and len(count_bakes) == 5
    assert sorted(p.name for p in out.glob("*.blend")) == [f"{n}.blend" for n in "abcde"]
    with pytest.raises(SystemExit):
        cli.run(["emotion", str(tmp_path / "in"), "-o", str(out), "--shard", "3/2"])


def test_resume_runs_only_what_did_not_finish(bpy_empty, tmp_path, capsys, monkeypatch):
    bpy = bpy_empty
    inputs = [str(_save(bpy, tmp_path / "in" / f"{n}.blend")) for n in "abc"]
    out = tmp_path / "out"
    real, calls = emotion.bake_emotion, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if fail_on and len(calls) == fail_on:
            raise RuntimeError("worker lost")
        return real(*args, **kwargs)
    monkeypatch.setattr(emotion, "bake_emotion", flaky)
    argv = ["emotion", *inputs, "-o", str(out), "--resume"]

    fail_on = 2
    assert cli.run(argv) == 1 and len(calls) == 3
    fail_on, calls[:] = 0, []
    assert cli.run(argv) == 0 and len(calls) == 1  # only b again
    assert "1 succeeded, 0 failed, 2 already done by an earlier run" in capsys.readouterr().err
    assert cli.run(argv) == 0 and len(calls) == 1  # a third run does nothing, and says so
    assert "nothing to do: all 3 item(s) were done by an earlier run" in capsys.readouterr().err

    (out / "a.blend").write_bytes(b"changed by hand")  # not what the run wrote: protected
    with (out / ".faceforge-manifest.jsonl").open("a") as f:
        f.write('{"key": "cut by a kill')  # a torn last line is ignored
    assert cli.run(argv) == 1 and len(calls) == 1
    assert f"{out / 'a.blend'} already exists" in capsys.readouterr().err
    assert cli.run(argv + ["--track", "0:anger"]) == 1  # other options: not the same items
    assert len(calls) == 1
    assert cli.run(argv + ["--overwrite"]) == 0 and len(calls) == 4  # --overwrite redoes all
