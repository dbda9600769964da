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
from faceforge.ops.scale.plan import build_plan, parse_shard, plan_argv
from helpers import tiny_rigged_mesh
from scale_helpers import crashes_blender, save_damaged_head, save_heads

ROOT = Path(__file__).resolve().parents[1]



def _heads(bpy, folder: Path, names) -> Path:
    return save_heads(bpy, folder, names)


def _states(out: Path) -> dict:
    return {k: h.last["state"] for k, h in manifest.latest(out).items()}


def _outputs(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def test_plan_is_deterministic_and_keyed_by_what_shapes_the_output(bpy_empty, tmp_path):
    src = _heads(bpy_empty, tmp_path / "in", ["b", "a", "c"])
    argv = ["emotion", str(src), "-o", str(tmp_path / "out"), "--track", "0:happiness"]
    p1, p2 = build_plan(argv), build_plan(argv + ["--workers", "2", "--shard", "0/2"])
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
    code = cli.run(["emotion", str(tmp_path / "x"), str(tmp_path / "y"), "-o", str(out)])
    assert code == 1
    assert "is also the output of" in capsys.readouterr().err
    assert not out.exists()


def test_shards_partition_the_plan(bpy_empty, tmp_path):
    src = _heads(bpy_empty, tmp_path / "in", list("abcde"))
    plan = build_plan(["emotion", str(src), "-o", str(tmp_path / "out")])
    shards = [plan.shard(f"{i}/3") for i in range(3)]
    assert sorted(i.index for s in shards for i in s) == list(range(5))
    assert [i.index for i in shards[1]] == [1, 4]
    with pytest.raises(SystemExit, match="0..N-1"):
        parse_shard("3/3")
    with pytest.raises(SystemExit, match="I/N"):
        parse_shard("half")


def test_resume_skips_done_redoes_failed_and_third_run_does_nothing(bpy_empty, tmp_path, capsys):
    bpy = bpy_empty
    src = _heads(bpy, tmp_path / "in", ["a", "b", "c"])
    bpy.ops.wm.read_factory_settings(use_empty=True)
    tiny_rigged_mesh(keys=(), user_keys=("Smile",))  # no ARKit keys: fails
    bpy.ops.wm.save_as_mainfile(filepath=str(src / "d.blend"), copy=True)
    out = tmp_path / "out"
    argv = ["emotion", str(src), "-o", str(out), "--track", "0:happiness,1:sadness"]

    assert cli.run(argv) == 1
    assert _states(out) == {"a.blend": "done", "b.blend": "done", "c.blend": "done",
                            "d.blend": "failed"}
    (out / "b.blend").unlink()  # lost since
    mtime_a = (out / "a.blend").stat().st_mtime_ns
    _heads(bpy, src, ["d"])  # the user fixes d
    capsys.readouterr()

    assert cli.run(argv) == 0
    err = capsys.readouterr().err
    assert "resuming: 2 items already done, 2 to run" in err
    assert "2 succeeded, 0 failed, 2 already done" in err
    assert (out / "a.blend").stat().st_mtime_ns == mtime_a
    assert _outputs(out) == ["a.blend", "b.blend", "c.blend", "d.blend"]

    assert cli.run(argv) == 0
    assert "nothing to do: 4 of 4 items already done" in capsys.readouterr().err

    assert cli.run(argv + ["--overwrite"]) == 0
    assert "4 succeeded, 0 failed" in capsys.readouterr().err
    assert (out / "a.blend").stat().st_mtime_ns != mtime_a

    snap = json.loads((out / ".faceforge" / "manifest.json").read_text())
    assert [i["state"] for i in snap["items"]] == ["done"] * 4
    assert all(len(i["hash"]) == 64 and i["duration"] >= 0 for i in snap["items"])


def test_changed_options_redo_our_outputs_but_never_a_hand_edited_one(bpy_empty, tmp_path, capsys):
    src = _heads(bpy_empty, tmp_path / "in", ["a", "b"])
    out = tmp_path / "out"
    argv = ["emotion", str(src), "-o", str(out)]
    assert cli.run(argv + ["--track", "0:happiness"]) == 0
    (out / "b.blend").write_bytes(b"edited by hand")
    capsys.readouterr()
    assert cli.run(argv + ["--track", "0:sadness"]) == 1
    err = capsys.readouterr().err
    assert "1 succeeded, 1 failed" in err and "was not made by this command" in err
    assert (out / "b.blend").read_bytes() == b"edited by hand"


def test_dry_run_lists_items_with_their_state_and_writes_nothing(bpy_empty, tmp_path, capsys):
    src = _heads(bpy_empty, tmp_path / "in", ["a", "b", "c"])
    out = tmp_path / "out"
    argv = ["emotion", str(src), "-o", str(out)]
    assert cli.run(argv + ["--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "emotion: 3 items, 0 done, 3 to run" in text
    assert f"{src / 'b.blend'} -> {out / 'b.blend'}" in text
    assert not out.exists()
    assert cli.run(argv + ["--shard", "1/2"]) == 0
    assert _outputs(out) == ["b.blend"]
    capsys.readouterr()
    assert cli.run(argv + ["--dry-run"]) == 0
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
    assert cli.run(argv) == 0
    assert "nothing to do" in capsys.readouterr().err
    assert (out / "a.blend").stat().st_mtime_ns == mtime
    assert manifest.latest(out)["a.blend"].last.get("adopted") is True


def test_stale_temporary_of_a_dead_writer_is_removed(bpy_empty, tmp_path):
    src = _heads(bpy_empty, tmp_path / "in", ["a"])
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".a.faceforge-tmp-999999.blend@"
    stale.write_bytes(b"half")
    assert cli.run(["emotion", str(src), "-o", str(out)]) == 0
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
        assert cli.run(["emotion", str(src), "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert "another faceforge run is writing into" in err
        assert f"pid {holder.pid}" in err
        assert _outputs(out) == []
        assert cli.run(["emotion", str(src), "-o", str(out), "--dry-run"]) == 0  # reading is fine
    finally:
        holder.kill()
        holder.wait()
    assert cli.run(["emotion", str(src), "-o", str(out)]) == 0  # the lock died with its process


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
        assert cli.run(["emotion", str(src), "-o", str(out), "--shard", "0/1"]) == 1
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
    assert cli.run(argv) == 0
    assert _states(out) == {"anna/line1.blend": "done", "ben/line1.blend": "done"}
    (out / "ben" / "line1.blend").unlink()
    capsys.readouterr()
    assert cli.run(argv) == 0
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
    assert cli.run(argv) == 1
    err = capsys.readouterr().err
    assert "STOPPED: cannot record progress" in err and "No space left on device" in err
    assert "run the same command again to finish the rest" in err
    assert _states(out) == {"a.blend": "done", "b.blend": "running"}  # every line parses
    monkeypatch.setattr(manifest.Journal, "write", real_write)  # space freed
    assert cli.run(argv) == 0
    err = capsys.readouterr().err
    assert "2 succeeded, 0 failed, 2 already done" in err  # b's committed output adopted
    assert _states(out) == {n: "done" for n in ("a.blend", "b.blend", "c.blend", "d.blend")}


#: Runs a command twice inside a private mount namespace (unshare -rm) whose output folder
#: is a small tmpfs: once the first run has committed an item, the folder is really made
#: read-only (a read-only bind of itself mounted over it: a plain `remount,ro` is refused
#: while the run holds its lock file open for writing) or really filled (a filler file
#: takes the free space); the second run goes after the folder is writable / the space
#: freed again. The tmpfs is copied out (it goes away with the namespace) for the test.
_MOUNT_DRILL = r"""
out=$1 keep=$2 mode=$3; shift 3
mount -t tmpfs -o size=16m tmpfs "$out" || exit 97
"$@" 2>"$keep.err1" & pid=$!
until grep -qs '"state": "done"' "$out"/.faceforge/journal/*.jsonl; do
  kill -0 $pid 2>/dev/null || break; sleep 0.05; done
if [ "$mode" = ro ]; then mount --bind "$out" "$out" && mount -o remount,bind,ro "$out" || exit 98
else cat /dev/zero > "$out/.filler" 2>/dev/null; fi
wait $pid; echo $? > "$keep.code1"
if [ "$mode" = ro ]; then umount "$out" || exit 99; else rm -f "$out/.filler"; fi
"$@" 2>"$keep.err2"; echo $? > "$keep.code2"
cp -a "$out/." "$keep/"
"""
_DRIVER = "import sys; from faceforge.ops.console import main; sys.exit(main())"


def _can_mount_privately() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _can_mount_privately(), reason="needs unshare -rm (mount namespaces)")
@pytest.mark.parametrize("mode", ["ro", "full"])
def test_output_folder_made_read_only_or_full_mid_run_is_real_and_the_rerun_finishes(
        bpy_empty, tmp_path, mode):
    """No simulation: the kernel refuses the writes (EROFS from a read-only remount, which
    root cannot bypass as it bypasses chmod; ENOSPC from a full tmpfs)."""
    src = _heads(bpy_empty, tmp_path / "in", list("abcdef"))
    out, keep = tmp_path / "out", tmp_path / "kept"
    out.mkdir()
    keep.mkdir()
    env = dict(os.environ, FACEFORGE_FAULT="sleep:*:0.5")
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", _MOUNT_DRILL, "drill", str(out),
                           str(keep), mode, sys.executable, "-c", _DRIVER, "emotion", str(src),
                           "-o", str(out)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    err1, err2 = (Path(f"{keep}.err{k}").read_text() for k in (1, 2))
    code1, code2 = (int(Path(f"{keep}.code{k}").read_text()) for k in (1, 2))
    why = "Read-only file system" if mode == "ro" else "No space left on device"
    assert code1 == 1 and why in err1, err1
    assert "Traceback" not in err1
    done_first = err1.count(" -> ")  # progress lines of items committed before the stop
    assert 1 <= done_first < 6, err1
    # the rerun finishes the rest and redoes nothing committed before
    assert code2 == 0, err2
    assert f"{6 - done_first} succeeded, 0 failed, {done_first} already done" in err2, err2
    assert _outputs(keep) == [f"{n}.blend" for n in "abcdef"]
    assert not [p for p in keep.iterdir() if manifest.TMP_MARK in p.name]
    journal = keep / manifest.MANIFEST_DIR / "journal"
    for f in journal.glob("*.jsonl"):  # every line a whole record
        for line in f.read_text().splitlines():
            json.loads(line)
    latest = manifest.latest(keep)
    for n in "abcdef":
        rec = latest[f"{n}.blend"].last
        assert rec["state"] == "done" and rec["hash"] == manifest.file_hash(keep / f"{n}.blend")


def test_a_file_that_kills_the_plain_runner_is_failed_after_its_retries_not_retried_forever(
        bpy_empty, tmp_path):
    """One process runs every item (no --workers, as a farm shard does): a file on which
    Blender dies ends the run each time; past --retries the next run reports it failed
    and finishes the rest instead of dying on it again."""
    src = _heads(bpy_empty, tmp_path / "in", list("acd"))
    if not crashes_blender(save_damaged_head(bpy_empty, src / "b.blend")):
        pytest.skip("this Blender reads the damaged file without crashing")
    out = tmp_path / "out"
    argv = [sys.executable, "-c", _DRIVER, "emotion", str(src), "-o", str(out)]
    runs = [subprocess.run(argv, capture_output=True, text=True, timeout=300)
            for _ in range(3)]
    assert [r.returncode < 0 for r in runs] == [True, True, False], [r.stderr for r in runs]
    err = runs[2].stderr
    assert runs[2].returncode == 1
    assert "2 succeeded, 1 failed, 1 already done" in err, err
    assert f"FAILED {src / 'b.blend'}: FaceForge's process died while running it 2 times" in err
    assert _outputs(out) == ["a.blend", "c.blend", "d.blend"]
    assert cli.run(["emotion", str(src), "-o", str(out), "--dry-run"]) == 0
