"""The plan, the manifest and resume: reruns skip what is done and redo what is not,
shards split the plan, --dry-run shows it, two runs never write one folder together."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from faceforge.ops import cli
from faceforge.ops.scale import manifest
from faceforge.ops.scale.plan import build_plan, plan_argv
from helpers import tiny_rigged_mesh
from scale_helpers import save_heads

ROOT = Path(__file__).resolve().parents[1]



def _run(argv) -> int:
    """The command through the scale layer in this process (its manifest, resume, locks)."""
    return cli.run(list(argv) + ["--workers", "1"])


def _heads(bpy, folder: Path, names) -> Path:
    return save_heads(bpy, folder, names)


def _states(out: Path) -> dict:
    return {k: h.last["state"] for k, h in manifest.latest(out).items()}


def _outputs(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def test_plan_is_deterministic_and_keyed_by_what_shapes_the_output(bpy_empty, tmp_path):
    src = _heads(bpy_empty, tmp_path / "in", ["b", "a", "c"])
    argv = ["emotion", str(src), "-o", str(tmp_path / "out"), "--track", "0:happiness"]
    p1, p2 = build_plan(argv), build_plan(argv + ["--workers", "2", "--shard", "1/2"])
    assert [i.name for i in p1.items] == ["a.blend", "b.blend", "c.blend"]
    assert p1.items == p2.items  # runner options change nothing about the items
    p3 = build_plan(argv[:-1] + ["0:sadness"])
    assert [i.fingerprint for i in p3.items] != [i.fingerprint for i in p1.items]
    assert [i.output for i in p3.items] == [i.output for i in p1.items]
    assert plan_argv(argv + ["--workers", "2", "--shard=1/2", "--overwrite"]) == argv


def test_two_inputs_for_one_output_are_refused_before_any_work(bpy_empty, tmp_path, capsys):
    _heads(bpy_empty, tmp_path / "x", ["voice"])
    _heads(bpy_empty, tmp_path / "y", ["voice"])
    out = tmp_path / "out"
    code = _run(["emotion", str(tmp_path / "x"), str(tmp_path / "y"), "-o", str(out)])
    assert code == 1
    assert "is also the output of" in capsys.readouterr().err
    assert not out.exists()


def test_shards_partition_the_plan(bpy_empty, tmp_path):
    src = _heads(bpy_empty, tmp_path / "in", list("abcde"))
    plan = build_plan(["emotion", str(src), "-o", str(tmp_path / "out")])
    shards = [plan.shard((i, 3)) for i in (1, 2, 3)]
    assert sorted(i.index for s in shards for i in s) == list(range(5))
    assert [i.index for i in shards[1]] == [1, 4]
    from faceforge.ops.plan import PlannedItem, Plan as OpsPlan  # the command's own slices
    ops_plan = OpsPlan("emotion", [PlannedItem(Path(i.source), Path(i.output), i.label)
                                   for i in plan.items])
    assert [str(i.output) for i in ops_plan.shard(2, 3).items] == [i.output for i in shards[1]]


def test_resume_skips_done_redoes_failed_and_third_run_does_nothing(bpy_empty, tmp_path, capsys):
    bpy = bpy_empty
    src = _heads(bpy, tmp_path / "in", ["a", "b", "c"])
    bpy.ops.wm.read_factory_settings(use_empty=True)
    tiny_rigged_mesh(keys=(), user_keys=("Smile",))  # no ARKit keys: fails
    bpy.ops.wm.save_as_mainfile(filepath=str(src / "d.blend"), copy=True)
    out = tmp_path / "out"
    argv = ["emotion", str(src), "-o", str(out), "--track", "0:happiness,1:sadness"]

    assert _run(argv) == 1
    assert _states(out) == {"a.blend": "done", "b.blend": "done", "c.blend": "done",
                            "d.blend": "failed"}
    (out / "b.blend").unlink()  # lost since
    mtime_a = (out / "a.blend").stat().st_mtime_ns
    _heads(bpy, src, ["d"])  # the user fixes d
    capsys.readouterr()

    assert _run(argv) == 0
    err = capsys.readouterr().err
    assert "resuming: 2 items already done, 2 to run" in err
    assert "2 succeeded, 0 failed, 2 already done" in err
    assert (out / "a.blend").stat().st_mtime_ns == mtime_a
    assert _outputs(out) == ["a.blend", "b.blend", "c.blend", "d.blend"]

    assert _run(argv) == 0
    assert "nothing to do: 4 of 4 items already done" in capsys.readouterr().err

    assert _run(argv + ["--overwrite"]) == 0
    assert "4 succeeded, 0 failed" in capsys.readouterr().err
    assert (out / "a.blend").stat().st_mtime_ns != mtime_a

    snap = json.loads((out / ".faceforge" / "manifest.json").read_text())
    assert [i["state"] for i in snap["items"]] == ["done"] * 4
    assert all(len(i["hash"]) == 64 and i["duration"] >= 0 for i in snap["items"])


def test_changed_options_redo_our_outputs_but_never_a_hand_edited_one(bpy_empty, tmp_path, capsys):
    src = _heads(bpy_empty, tmp_path / "in", ["a", "b"])
    out = tmp_path / "out"
    argv = ["emotion", str(src), "-o", str(out)]
    assert _run(argv + ["--track", "0:happiness"]) == 0
    (out / "b.blend").write_bytes(b"edited by hand")
    capsys.readouterr()
    assert _run(argv + ["--track", "0:sadness"]) == 1
    err = capsys.readouterr().err
    assert "1 succeeded, 1 failed" in err and "was not made by this command" in err
    assert (out / "b.blend").read_bytes() == b"edited by hand"


def test_dry_run_lists_items_with_their_state_and_writes_nothing(bpy_empty, tmp_path, capsys):
    src = _heads(bpy_empty, tmp_path / "in", ["a", "b", "c"])
    out = tmp_path / "out"
    argv = ["emotion", str(src), "-o", str(out)]
    assert _run(argv + ["--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "emotion: 3 items, 0 done, 3 to run" in text
    assert f"{src / 'b.blend'} -> {out / 'b.blend'}" in text
    assert not out.exists()
    assert _run(argv + ["--shard", "2/2"]) == 0
    assert _outputs(out) == ["b.blend"]
    capsys.readouterr()
    assert _run(argv + ["--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "1 done, 2 to run" in lines[0]
    assert [ln.split()[1] for ln in lines[1:]] == ["pending", "done", "pending"]


def test_output_committed_by_a_killed_attempt_is_adopted_not_redone(bpy_empty, tmp_path, capsys):
    src = _heads(bpy_empty, tmp_path / "in", ["a"])
    out = tmp_path / "out"
    argv = ["emotion", str(src), "-o", str(out)]
    plan = build_plan(argv)
    item = plan.items[0]
    journal = manifest.Journal(out)  # what a process killed between commit and record leaves
    journal.write(index=0, source=item.source, output=item.name, fingerprint=item.fingerprint,
                  state="running", attempt=1)
    plan.run_item(item, overwrite=False)
    mtime = (out / "a.blend").stat().st_mtime_ns
    capsys.readouterr()
    assert _run(argv) == 0
    assert "nothing to do" in capsys.readouterr().err
    assert (out / "a.blend").stat().st_mtime_ns == mtime
    assert manifest.latest(out)["a.blend"].last.get("adopted") is True


def test_stale_temporary_of_a_dead_writer_is_removed(bpy_empty, tmp_path):
    src = _heads(bpy_empty, tmp_path / "in", ["a"])
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".a.faceforge-tmp-999999.blend@"
    stale.write_bytes(b"half")
    assert _run(["emotion", str(src), "-o", str(out)]) == 0
    assert _outputs(out) == ["a.blend"] and not stale.exists()


HOLD_LOCK = """
import sys, time
from faceforge.ops.scale import manifest
with manifest.run_lock(sys.argv[1], None):
    print("held", flush=True)
    time.sleep(60)
"""


def test_second_run_into_a_locked_folder_is_refused_clearly(bpy_empty, tmp_path, capsys):
    src = _heads(bpy_empty, tmp_path / "in", ["a"])
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)],
                              stdout=subprocess.PIPE, text=True, env=os.environ)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert _run(["emotion", str(src), "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert "another faceforge run is writing into" in err
        assert f"pid {holder.pid}" in err
        assert _outputs(out) == []
        assert _run(["emotion", str(src), "-o", str(out), "--dry-run"]) == 0  # reading is fine
    finally:
        holder.kill()
        holder.wait()
    assert _run(["emotion", str(src), "-o", str(out)]) == 0  # the lock died with its process


def test_an_item_another_process_is_writing_is_reported_busy(bpy_empty, tmp_path, monkeypatch):
    from faceforge.ops.scale import execute
    monkeypatch.setattr(execute, "LOCK_WAIT", 0.5)
    src = _heads(bpy_empty, tmp_path / "in", ["a"])
    out = tmp_path / "out"
    code = f"""
import sys, time
from faceforge.ops.scale import manifest
with manifest.item_lock(sys.argv[1], "a.blend"):
    print("held", flush=True)
    time.sleep(60)
"""
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE,
                              text=True, env=os.environ)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert _run(["emotion", str(src), "-o", str(out), "--shard", "1/1"]) == 1
        assert _states(out) == {}  # a busy item is not recorded as this run's attempt
    finally:
        holder.kill()
        holder.wait()


def test_same_name_in_sub_folders_are_separate_items_in_the_manifest(bpy_empty, tmp_path, capsys):
    src = tmp_path / "in"
    _heads(bpy_empty, src / "anna", ["line1"])
    _heads(bpy_empty, src / "ben", ["line1"])
    out = tmp_path / "out"
    argv = ["emotion", str(src), "-o", str(out)]
    assert _run(argv) == 0
    assert _states(out) == {"anna/line1.blend": "done", "ben/line1.blend": "done"}
    (out / "ben" / "line1.blend").unlink()
    capsys.readouterr()
    assert _run(argv) == 0
    assert "1 succeeded, 0 failed, 1 already done" in capsys.readouterr().err


def test_disk_full_mid_run_stops_clearly_and_the_rerun_finishes(bpy_empty, tmp_path, capsys,
                                                                monkeypatch):
    import errno
    src = _heads(bpy_empty, tmp_path / "in", list("abcd"))
    out = tmp_path / "out"
    argv = ["emotion", str(src), "-o", str(out)]
    real_write = manifest.Journal.write
    calls = []

    def write_until_full(self, **record):
        calls.append(record.get("state"))
        if len(calls) > 3:  # b's 'done' record: its output is committed, the disk is full
            raise manifest.ManifestError("cannot record progress in out/.faceforge: "
                                         + os.strerror(errno.ENOSPC)) from OSError(errno.ENOSPC, "")
        return real_write(self, **record)

    monkeypatch.setattr(manifest.Journal, "write", write_until_full)
    assert _run(argv) == 1
    err = capsys.readouterr().err
    assert "STOPPED: cannot record progress" in err and "No space left on device" in err
    assert "run the same command again to finish the rest" in err
    assert _states(out) == {"a.blend": "done", "b.blend": "running"}  # every line parses
    monkeypatch.setattr(manifest.Journal, "write", real_write)  # space freed
    assert _run(argv) == 0
    err = capsys.readouterr().err
    assert "2 succeeded, 0 failed, 2 already done" in err  # b's committed output adopted
    assert _states(out) == {n: "done" for n in ("a.blend", "b.blend", "c.blend", "d.blend")}
