"""`--cluster auto|local|ADDRESS`: run the planned items on a Ray cluster. Each Ray actor
is one worker that starts Blender and FaceForge once and runs many items; an actor that
dies (crash, kill, lost node) is replaced and its item retried `--retries` times; an
item past `--item-timeout` has its actor killed. The driver shows progress as results
arrive and prints the same summary and exit code as a local run.

Outputs and the manifest live in the -o folder, which every node must see at the same
path (shared storage). Ray is optional: imported only here, never part of the extension."""
from __future__ import annotations

import os
import sys
import time
from collections import deque
from contextlib import contextmanager
from pathlib import Path

from ...ml.lipsync import CHUNK_WORKERS_ENV
from ..errors import UserError
from .execute import FAULT_ENV, recheck

PACKAGE = __package__.rsplit(".ops.scale", 1)[0]
#: environment the actors need from the driver (where FaceForge is, test drills)
FORWARDED_ENV = ("PYTHONPATH", FAULT_ENV, "BLENDER_USER_RESOURCES")


def _ray():
    try:
        import ray
    except ImportError:
        raise UserError("--cluster needs Ray, which is not installed: pip install "
                        "'ray==2.60.0' (scripts/setup.sh does; the Blender extension does not "
                        "bundle it)") from None
    return ray


#: Ray on Linux replaces a node address of 127.0.0.1 by the machine's network address and
#: its processes then listen on every interface; with this variable at 0 (its switch for
#: single-machine clusters) every Ray process of the node listens on 127.0.0.1 only.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def is_loopback(address: str) -> bool:
    """Whether a --cluster value means this machine only: 'local', or a loopback host."""
    if address == "local":
        return True
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    return host == "localhost" or host.startswith("127.") or host == "::1"


@contextmanager
def _loopback_only(active: bool):
    """While Ray starts (or this driver joins a cluster on 127.0.0.1): its processes, and
    this driver's own Ray server, listen on 127.0.0.1 only."""
    if not active:
        yield
        return
    saved = {k: os.environ.get(k) for k in LOOPBACK_ENV}
    os.environ.update(LOOPBACK_ENV)  # read by ray when imported, and by the processes it starts
    constants = sys.modules.get("ray._private.ray_constants")
    old = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    if constants is not None:  # ray imported before: its constant was read already
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if constants is not None:
            constants.ENABLE_RAY_CLUSTER = old
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def connect(address: str, cpus: int):
    """ray.init for `address`: 'local' starts a private single-node cluster (listening on
    127.0.0.1 only, no dashboard) with `cpus` CPUs; 'auto' or host:port joins a running
    one (a cluster on 127.0.0.1 is joined without listening elsewhere either)."""
    loopback = is_loopback(address)
    with _loopback_only(loopback):
        ray = _ray()
        root = str(Path(__file__).resolve().parents[3])  # the folder holding the package
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        env[CHUNK_WORKERS_ENV] = "0"  # each actor has its CPU; a long clip stays on it
        common = dict(runtime_env={"env_vars": env}, log_to_driver=False,
                      logging_level="WARNING", configure_logging=True)
        if address == "local":
            ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                     object_store_memory=100 * 1024 * 1024, **common)
        else:
            try:
                ray.init(address=address, **common)
            except (ConnectionError, RuntimeError) as exc:
                raise UserError(f"--cluster {address}: no Ray cluster there ({exc}); start "
                                f"one with `ray start --head` or use --cluster local") from exc
    if address == "local":
        nodes = {n.get("NodeManagerAddress") for n in ray.nodes()}
        if nodes != {"127.0.0.1"}:  # never run a private cluster reachable from outside
            ray.shutdown()
            raise UserError(f"--cluster local: Ray started on {', '.join(map(str, nodes))}, "
                            f"not 127.0.0.1 only; stopped")
    return ray


class ItemWorker:
    """One Ray actor: FaceForge registered once, then items run one after another."""

    def __init__(self):
        start = time.perf_counter()
        import importlib
        root = importlib.import_module(PACKAGE)
        try:
            root.register()
        except (ValueError, RuntimeError):  # already registered
            pass
        self.plans, self.journals = {}, {}
        self.startup = time.perf_counter() - start

    def ready(self) -> dict:
        return {"pid": os.getpid(), "startup": self.startup}

    def run(self, argv, index, output, overwrite, attempt) -> dict:
        from .execute import run_item
        from .manifest import Journal
        from .plan import build_plan
        key = tuple(argv)
        if key not in self.plans:
            self.plans[key] = build_plan(list(argv))
        plan = self.plans[key]
        item = plan.items[index]
        if item.output != output:
            raise RuntimeError(f"plan differs on this node: item {index} is {item.output}, "
                               f"the driver planned {output}")
        journal = self.journals.setdefault(str(plan.output_dir), Journal(plan.output_dir))
        return run_item(plan, item, overwrite, attempt, journal)


def actor_class(ray):
    """ItemWorker as a Ray actor: one CPU each, never restarted by Ray (the driver replaces
    a dead one itself, so it can count retries per item)."""
    return ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(ItemWorker)


def run_items(plan, jobs, opts, journal, report) -> None:
    """Run jobs [(item, overwrite)] as Ray actor tasks; report(record) per final outcome."""
    started = time.perf_counter()
    local = opts.cluster == "local"
    ray = connect(opts.cluster, max(opts.workers, 1))
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        n = min(opts.workers if (opts.workers > 1 or local) else cpus, len(jobs))
        Worker = actor_class(ray)
        print(f"ray: {n} workers on {cpus} CPUs ({time.perf_counter() - started:.1f} s to "
              f"connect)", file=sys.stderr)
        _drive(ray, Worker, n, plan, jobs, opts, journal, report)
    finally:
        if ray.is_initialized():
            ray.shutdown()


def _drive(ray, Worker, n, plan, jobs, opts, journal, report) -> None:
    from ray.exceptions import RayActorError, RayTaskError
    queue = deque((item, ow, 1) for item, ow in jobs)
    idle: list = []
    starting: dict = {}  # ready() ref -> actor still starting Blender (not yet timed)
    inflight: dict = {}  # ref -> (actor, item, overwrite, attempt, start)
    failed_starts = [0]

    def spawn() -> None:
        actor = Worker.remote()
        starting[actor.ready.remote()] = actor

    def crashed(item, overwrite, attempt, why) -> None:
        rec = journal.write(index=item.index, source=item.source, output=item.name,
                            fingerprint=item.fingerprint, attempt=attempt, state="crashed",
                            error=why, duration=None)
        if attempt <= opts.retries:
            queue.appendleft((item, overwrite, attempt + 1))
        else:
            rec = journal.write(**{k: rec[k] for k in ("index", "source", "output",
                                                       "fingerprint", "attempt")},
                                state="failed", duration=None,
                                error=f"{why} (tried {attempt} time{'s' * (attempt > 1)})")
            report(rec)
        if queue:
            spawn()  # a fresh worker takes the dead one's place

    for _ in range(n):
        spawn()
    while queue or inflight:
        while idle and queue:
            item, overwrite, attempt = queue.popleft()
            if attempt > 1:
                done, overwrite = recheck(plan, item, overwrite, journal)
                if done is not None:
                    report(done)
                    continue
            actor = idle.pop()
            ref = actor.run.remote(plan.argv, item.index, item.output, overwrite, attempt)
            inflight[ref] = (actor, item, overwrite, attempt, time.monotonic())
        if not inflight and not starting:
            if queue:
                spawn()
            continue
        ready, _ = ray.wait(list(inflight) + list(starting), num_returns=1, timeout=0.5)
        for ref in ready:
            if ref in starting:
                actor = starting.pop(ref)
                try:
                    ray.get(ref)
                    idle.append(actor)
                    report.ready()
                except RayActorError as exc:
                    failed_starts[0] += 1
                    if failed_starts[0] > 2 * n + 2:
                        raise UserError(f"Ray workers cannot start FaceForge: {exc}") from exc
                    spawn()
                continue
            actor, item, overwrite, attempt, sent = inflight.pop(ref)
            try:
                rec = dict(ray.get(ref), latency=time.monotonic() - sent)
            except RayActorError as exc:
                crashed(item, overwrite, attempt, _died(exc))
                continue
            except RayTaskError as exc:  # the plan failed in the worker: the item's failure
                rec = journal.write(index=item.index, source=item.source, output=item.name,
                                    fingerprint=item.fingerprint, attempt=attempt,
                                    state="failed", error=str(exc.cause), duration=None)
            idle.append(actor)
            report(rec)
        if opts.item_timeout:
            now = time.monotonic()
            for ref, (actor, item, overwrite, attempt, start) in list(inflight.items()):
                if now - start > opts.item_timeout:
                    del inflight[ref]
                    ray.kill(actor, no_restart=True)
                    crashed(item, overwrite, attempt, f"timed out after {opts.item_timeout:g} s")
    for actor in idle:
        ray.kill(actor, no_restart=True)


def _died(exc) -> str:
    """'worker crashed (...)' from Ray's actor-death error, in the local runner's words."""
    text = str(exc)
    for sig in ("SIGKILL", "SIGABRT", "SIGSEGV"):
        if sig in text:
            return f"worker crashed ({sig})"
    if "killed" in text.lower() or "exit" in text.lower():
        return "worker crashed (its process died)"
    return "worker crashed"
