"""`--cluster`: the planned items on a local Ray cluster (started and stopped here, on
127.0.0.1, 2 CPUs, no dashboard), with the faults a farm meets: a worker killed mid-item,
an input that crashes its worker, a hung item, the driver killed and the run resumed, and
two runs pointed at one output folder."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from faceforge.ops.scale import manifest
from faceforge.ops.scale.execute import FAULT_ENV
from faceforge.ops.scale.ray_runner import LOOPBACK_ENV
from scale_helpers import crashes_blender, save_damaged_head, save_heads

pytest.importorskip("ray")
RAY = Path(sys.executable).with_name("ray")
DRIVER = "import sys; from faceforge.ops.console import main; sys.exit(main())"  # `faceforge`


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """`ray start --head` on 127.0.0.1 in its own process group; killed (the group) after."""
    port = _free_port()
    temp = Path(f"/tmp/ffray-{os.getpid()}")  # short: Ray's socket paths have a length limit
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", **LOOPBACK_ENV)  # 127.0.0.1 only
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
         f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         "--object-store-memory=100000000", "--disable-usage-stats", f"--temp-dir={temp}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    else:
        os.killpg(head.pid, signal.SIGKILL)
        pytest.fail("the local Ray cluster did not start in 120 s")
    time.sleep(3)  # the raylet registers after the GCS listens
    yield f"127.0.0.1:{port}", head.pid
    os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()



def _descendants(pid: int) -> set[int]:
    """pid and every process below it."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p not in found:
            found.add(p)
            todo += children.get(p, [])
    return found


def _group(pgid: int) -> set[int]:
    """The processes of process group pgid."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                out.add(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _listening(pids: set[int]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket (IPv4 and IPv6) the processes listen on."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            f = line.split()
            if f[3] != "0A" or f[9] not in inodes:  # 0A: LISTEN
                continue
            hex_ip, hex_port = f[1].split(":")
            raw = bytes.fromhex(hex_ip)  # 32-bit words in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.add((socket.inet_ntop(family, raw), int(hex_port, 16)))
    return found


def _elsewhere(listening) -> list:
    """The listening sockets not on the loopback interface."""
    return [(ip, port) for ip, port in listening
            if not (ip.startswith("127.") or ip == "::1" or ip.startswith("::ffff:127."))]


def _heads(bpy, folder: Path, names) -> Path:
    return save_heads(bpy, folder, names)


def _driver(argv, fault="", **kw):
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    env.pop(FAULT_ENV, None)
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.Popen([sys.executable, "-c", DRIVER] + argv, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _run(argv, fault="", timeout=300):
    proc = _driver(argv, fault)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _records(out: Path, name=None):
    return [r for r in manifest.read_records(out) if name is None or r.get("output") == name]


def _outputs(out: Path):
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def test_cluster_run_retries_a_killed_worker_fails_a_crashing_input_and_times_out_a_hung_one(
        bpy_empty, tmp_path, cluster):
    """b.blend is a damaged file on which Blender itself dies (SIGSEGV, no injection)."""
    cluster, _ = cluster
    src = _heads(bpy_empty, tmp_path / "in", list("acde"))
    if not crashes_blender(save_damaged_head(bpy_empty, src / "b.blend")):
        pytest.skip("this Blender reads the damaged file without crashing")
    out = tmp_path / "out"
    argv = ["emotion", str(src), "-o", str(out), "--cluster", cluster, "--retries", "1",
            "--item-timeout", "8"]
    killed = []

    def kill_worker_running_c():
        deadline = time.time() + 240
        while time.time() < deadline:
            for r in _records(out, "c.blend") if out.exists() else []:
                if r["state"] == "running" and r["attempt"] == 1:
                    time.sleep(0.5)  # mid-item: c sleeps 3 s
                    os.kill(r["pid"], signal.SIGKILL)
                    killed.append(r["pid"])
                    return
            time.sleep(0.1)

    t = threading.Thread(target=kill_worker_running_c)
    t.start()
    code, err = _run(argv, fault="sleep:c.blend:3,sleep:d.blend:600")
    t.join()
    assert killed, err
    assert code == 1, err
    assert "2 succeeded, 3 failed" not in err  # c was retried and finished
    assert "3 succeeded, 2 failed" in err, err
    assert f"FAILED {src / 'b.blend'}: worker crashed" in err and "(tried 2 times)" in err
    assert f"FAILED {src / 'd.blend'}: timed out after 8 s (tried 2 times)" in err
    c = [r["state"] for r in _records(out, "c.blend")]
    assert c == ["running", "crashed", "running", "done"]  # retried once, committed once
    assert _outputs(out) == ["a.blend", "c.blend", "e.blend"]
    assert not [p for p in out.iterdir() if manifest.TMP_MARK in p.name]
    pids = {r["pid"] for r in _records(out) if r["state"] == "done"}
    assert os.getpid() not in pids


def test_killed_driver_resumes_only_unfinished_items_and_third_run_does_nothing(
        bpy_empty, tmp_path, cluster):
    cluster, _ = cluster
    src = _heads(bpy_empty, tmp_path / "in", [f"h{i}" for i in range(6)])
    out = tmp_path / "out"
    argv = ["emotion", str(src), "-o", str(out), "--cluster", cluster]
    driver = _driver(argv, fault="sleep:*:2")
    deadline = time.time() + 240
    while time.time() < deadline and driver.poll() is None:
        if out.exists() and sum(r["state"] == "done" for r in _records(out)) >= 2:
            break
        time.sleep(0.1)
    driver.kill()  # kill -9
    driver.wait()
    first = {r["output"] for r in _records(out) if r["state"] == "done"}
    assert 2 <= len(first) < 6
    time.sleep(2)  # Ray ends the dead driver's workers

    code, err = _run(argv)
    assert code == 0, err
    done_now = len(_outputs(out)) - len(first)
    assert f"{done_now} succeeded, 0 failed, {len(first)} already done" in err, err
    dones = [r["output"] for r in _records(out) if r["state"] == "done" and not r.get("adopted")]
    adopted = [r["output"] for r in _records(out) if r.get("adopted")]
    assert len(_outputs(out)) == 6 and len(dones) + len(adopted) == 6
    assert len(set(dones)) == len(dones)  # nothing committed twice

    code, err = _run(argv)
    assert code == 0 and "nothing to do: 6 of 6 items already done" in err, err


def test_second_run_into_the_same_folder_is_refused_while_the_first_finishes(
        bpy_empty, tmp_path, cluster):
    cluster, _ = cluster
    src = _heads(bpy_empty, tmp_path / "in", list("abc"))
    out = tmp_path / "out"
    argv = ["emotion", str(src), "-o", str(out), "--cluster", cluster]
    first = _driver(argv, fault="sleep:*:8")  # outlasts the second driver's start-up
    deadline = time.time() + 240
    while time.time() < deadline and not (out.exists() and _records(out)):
        time.sleep(0.1)
    code, err = _run(argv)
    assert code == 1
    assert "another faceforge run is writing into" in err and f"pid {first.pid}" in err
    _, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert _outputs(out) == ["a.blend", "b.blend", "c.blend"]
    assert all(r["pid"] != os.getpid() for r in _records(out))


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux /proc")
def test_ray_listens_on_127_0_0_1_only(bpy_empty, tmp_path, cluster):
    """The test cluster and `--cluster local` (its cluster, actors and driver): every
    listening socket on the loopback interface while items run."""
    address, head_group = cluster
    ours = _listening(_group(head_group))
    assert ours and not _elsewhere(ours), ours

    src = _heads(bpy_empty, tmp_path / "in", list("ab"))
    out = tmp_path / "out"
    for runner in (["--cluster", "local", "--workers", "2"], ["--cluster", address]):
        driver = _driver(["emotion", str(src), "-o", str(out), "--overwrite"] + runner,
                         fault="sleep:*:4")
        try:
            deadline, seen = time.time() + 240, set()
            while time.time() < deadline and driver.poll() is None:
                if out.exists() and any(r["state"] == "running" and r["pid"] != driver.pid
                                        for r in _records(out)):
                    seen = _listening(_descendants(driver.pid) | _group(head_group))
                    break
                time.sleep(0.2)
            err = driver.communicate(timeout=240)[1]
        finally:
            if driver.poll() is None:
                driver.kill()
        assert driver.returncode == 0, err
        assert seen and not _elsewhere(seen), (runner, seen)


def test_missing_ray_is_a_clear_message(monkeypatch):
    import builtins
    from faceforge.ops.batch import UserError
    from faceforge.ops.scale import ray_runner
    real = builtins.__import__

    def no_ray(name, *args, **kw):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(UserError, match="--cluster needs Ray.*pip install 'ray==2.60.0'"):
        ray_runner._ray()
