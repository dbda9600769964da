"""`--workers N`: local worker processes that start once and run many items; a worker
killed or crashing mid-item is replaced and the item retried; a hung item times out."""
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from faceforge.ops import cli
from faceforge.ops.scale import manifest
from faceforge.ops.scale.execute import FAULT_ENV
from scale_helpers import crashes_blender, save_damaged_head, save_heads



def _heads(bpy, folder: Path, names) -> Path:
    return save_heads(bpy, folder, names, marker=True)


def _records(out: Path, name: str) -> list[dict]:
    return [r for r in manifest.read_records(out) if r.get("output") == name]


def _no_temporaries(out: Path) -> bool:
    return not [p for p in out.iterdir() if manifest.TMP_MARK in p.name]


@pytest.fixture
def fault(monkeypatch):
    def set_fault(spec):
        monkeypatch.setenv(FAULT_ENV, spec)
    return set_fault


def test_two_workers_each_reuse_one_process_and_nothing_leaks(bpy_empty, tmp_path, capsys):
    bpy = bpy_empty
    src = _heads(bpy, tmp_path / "in", list("abcd"))
    out = tmp_path / "out"
    code = cli.run(["emotion", str(src), "-o", str(out), "--track", "0:happiness",
                    "--workers", "2"])
    assert code == 0
    assert "4 succeeded, 0 failed" in capsys.readouterr().err
    done = [r for r in manifest.read_records(out) if r["state"] == "done"]
    pids = {r["pid"] for r in done}
    assert len(done) == 4 and len(pids) == 2 and os.getpid() not in pids
    for n in "abcd":  # every output holds its own input's objects and nothing of another's
        bpy.ops.wm.open_mainfile(filepath=str(out / f"{n}.blend"))
        extras = sorted(o.name for o in bpy.data.objects if o.name.startswith("only_in_"))
        assert extras == [f"only_in_{n}"]
        assert "Emotion" in bpy.data.actions and len(bpy.data.actions) == 1
    assert _no_temporaries(out)


def test_crashing_input_fails_after_retries_and_a_hung_one_times_out(bpy_empty, tmp_path,
                                                                     capsys, fault):
    """b.blend is a damaged file on which Blender itself dies (SIGSEGV, no injection)."""
    src = _heads(bpy_empty, tmp_path / "in", list("acd"))
    if not crashes_blender(save_damaged_head(bpy_empty, src / "b.blend")):
        pytest.skip("this Blender reads the damaged file without crashing")
    out = tmp_path / "out"
    fault("sleep:c.blend:60")
    code = cli.run(["emotion", str(src), "-o", str(out), "--workers", "2", "--retries", "1",
                    "--item-timeout", "4"])
    err = capsys.readouterr().err
    assert code == 1
    assert "2 succeeded, 2 failed" in err
    assert "FAILED " + str(src / "b.blend") + ": worker crashed (SIGSEGV) (tried 2 times)" in err
    assert "FAILED " + str(src / "c.blend") + ": timed out after 4 s (tried 2 times)" in err
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == \
        ["a.blend", "d.blend"]
    assert [r["state"] for r in _records(out, "b.blend")] == \
        ["running", "crashed", "running", "crashed", "failed"]
    assert _no_temporaries(out)


def test_worker_killed_mid_item_is_replaced_and_the_item_committed_once(bpy_empty, tmp_path,
                                                                        capsys, fault):
    src = _heads(bpy_empty, tmp_path / "in", list("abc"))
    out = tmp_path / "out"
    fault("sleep:b.blend:3")
    killed = []

    def kill_when_b_runs():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            for r in _records(out, "b.blend") if out.exists() else []:
                if r["state"] == "running":
                    os.kill(r["pid"], signal.SIGKILL)
                    killed.append(r["pid"])
                    return
            time.sleep(0.1)

    t = threading.Thread(target=kill_when_b_runs)
    t.start()
    code = cli.run(["emotion", str(src), "-o", str(out), "--workers", "2"])
    t.join()
    assert killed and code == 0
    assert "3 succeeded, 0 failed" in capsys.readouterr().err
    states = [r["state"] for r in _records(out, "b.blend")]
    assert states == ["running", "crashed", "running", "done"]
    assert _records(out, "b.blend")[1]["error"] == "worker crashed (SIGKILL)"
    assert _no_temporaries(out)


def test_workers_start_before_the_driver_plans_and_none_outlive_a_run_without_items(
        bpy_empty, tmp_path, capsys, monkeypatch):
    from faceforge.ops.scale import plan as scale_plan, prestart, runner
    from faceforge.ops.scale import workers as scale_workers
    src = _heads(bpy_empty, tmp_path / "in", list("ab"))
    out = tmp_path / "out"
    argv = ["emotion", str(src), "-o", str(out), "--workers", "2"]
    assert prestart.requested(argv) == 2
    assert prestart.requested(argv + ["--cluster", "local"]) == 0
    assert prestart.requested(argv + ["--dry-run"]) == 0
    assert prestart.requested(["import-csv", "x.csv", "--workers", "2"]) == 0
    real_build = scale_plan.build_plan
    at_plan = []

    def build_plan(*a, **kw):  # what runs while the driver plans
        at_plan.append([w.proc for w in scale_workers._early if w.proc.poll() is None])
        return real_build(*a, **kw)

    monkeypatch.setattr(runner, "build_plan", build_plan)
    assert cli.run(argv) == 0
    assert "2 succeeded, 0 failed" in capsys.readouterr().err
    started = at_plan[0]
    assert len(started) == 2  # both workers were starting while the plan was built
    done_by = {r["pid"] for r in manifest.read_records(out) if r["state"] == "done"}
    assert done_by <= {p.pid for p in started}  # and they are the ones that ran the items
    assert (out / manifest.MANIFEST_DIR / "logs" / "worker-0.log").exists()

    assert cli.run(argv) == 0  # nothing to do: the workers started for it are ended
    assert "nothing to do" in capsys.readouterr().err
    assert len(at_plan[1]) == 2 and all(p.poll() is not None for p in at_plan[1])
    assert not scale_workers._early


_CONSOLE = ("import sys; from faceforge.ops.console import main; code = main(); "
            "print('driver imported bpy:', 'bpy' in sys.modules, file=sys.stderr); "
            "sys.exit(code)")


def _console(*argv):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-c", _CONSOLE, *argv], capture_output=True,
                          text=True, timeout=300)


def test_console_driver_of_workers_never_imports_blender_and_ends_like_the_plain_run(
        bpy_empty, tmp_path):
    """`faceforge … --workers 2` plans on a worker: the driver's own start-up (Blender)
    would compete with the workers' for the cores. Its summary, outputs, exit codes and
    messages are those of the plain run."""
    src = _heads(bpy_empty, tmp_path / "in", list("abc"))
    args = ["emotion", str(src), "--track", "0:happiness"]
    plain = _console(*args, "-o", str(tmp_path / "plain"))
    assert plain.returncode == 0, plain.stderr
    assert "driver imported bpy: True" in plain.stderr
    run = _console(*args, "-o", str(tmp_path / "out"), "--workers", "2")
    assert run.returncode == 0, run.stderr
    assert "driver imported bpy: False" in run.stderr
    assert "3 succeeded, 0 failed" in run.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.blend")) == \
        sorted(p.name for p in (tmp_path / "plain").glob("*.blend")) == \
        ["a.blend", "b.blend", "c.blend"]
    assert len({r["pid"] for r in manifest.read_records(tmp_path / "out")
                if r["state"] == "done"}) == 2
    again = _console(*args, "-o", str(tmp_path / "out"), "--workers", "2")
    assert again.returncode == 0 and "nothing to do: 3 of 3 items already done" in again.stderr
    # what the command says when it stops before its items reaches the user unchanged
    bad = _console(*args, "-o", str(tmp_path / "out"), "--workers", "2", "--bogus")
    assert bad.returncode == 2 and "unrecognized arguments: --bogus" in bad.stderr
    missing = [str(tmp_path / "none.blend"), "--track", "0:happiness"]
    want = _console("emotion", *missing, "-o", str(tmp_path / "m1"))
    got = _console("emotion", *missing, "-o", str(tmp_path / "m2"), "--workers", "2")
    assert got.returncode == want.returncode == 1
    line = f"FAILED {tmp_path / 'none.blend'}: no such file or folder"
    assert line in got.stderr and line in want.stderr
