"""`--workers N`: N local worker processes, each starting Blender and FaceForge once and
running many items (every item loads its scene afresh, so nothing carries over). A worker
that dies or passes the per-item time limit is replaced and its item retried.

Workers may be started before the plan exists (ops.scale.prestart): they know nothing of
the run until their first message.

Protocol: the driver writes one JSON line per item to the worker's stdin; the worker
answers one JSON line (its journal record) on the descriptor in FACEFORGE_RESULT_FD.
A line {"log": PATH} (no answer) sends the worker's own prints to PATH
(`<output>/.faceforge/logs/worker-K.log`); before it, they go to a temporary file that the
driver appends to that log when the worker ends. A line {"plan": ARGV} asks the worker to
plan the command (`plan_on_worker`): the `faceforge` console driver of `--workers N` does
not import Blender at all, so that its start-up does not compete with the workers'."""
from __future__ import annotations

import atexit

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

from ...ml.lipsync import CHUNK_WORKERS_ENV
from .execute import recheck
from .manifest import MANIFEST_DIR

PACKAGE = __package__.rsplit(".ops.scale", 1)[0]  # "faceforge", or bl_ext.*.faceforge in Blender
RESULT_FD_ENV = "FACEFORGE_RESULT_FD"


def worker_command() -> list[str]:
    """How to start a worker: the PyPI bpy module's Python, or the Blender binary we run in
    (bpy is always loaded there; with the bpy module it may not be loaded yet)."""
    bpy = sys.modules.get("bpy")
    blender = getattr(getattr(bpy, "app", None), "binary_path", "")
    if blender:
        return [blender, "-b", "--python-expr",
                f"import sys; from {PACKAGE}.ops.scale import workers; workers.main()"]
    return [sys.executable, "-c", f"from {PACKAGE}.ops.scale import workers; "
                                  f"raise SystemExit(workers.main())"]


def main() -> int:
    """Worker process: register FaceForge once, then run the items the driver sends."""
    start = time.perf_counter()
    import importlib
    root = importlib.import_module(PACKAGE)
    from .. import errors
    from .plan import build_plan
    from .execute import run_item
    from .manifest import Journal
    try:
        root.register()
    except (ValueError, RuntimeError):  # already registered (Blender with the extension on)
        pass
    out = os.fdopen(int(os.environ[RESULT_FD_ENV]), "w", buffering=1)
    out.write(json.dumps({"ready": True, "startup": time.perf_counter() - start}) + "\n")
    plans, journals = {}, {}
    for line in sys.stdin:
        msg = json.loads(line)
        if "log" in msg:
            _log_to(msg["log"])
            continue
        if "plan" in msg:
            out.write(json.dumps(_plan_here(msg["plan"], plans)) + "\n")
            continue
        key = tuple(msg["argv"])
        try:
            if key not in plans:
                plans[key] = build_plan(msg["argv"])
            plan = plans[key]
            item = plan.items[msg["index"]]
            if item.output != msg["output"]:
                raise RuntimeError(f"plan differs in the worker: item {item.index} is "
                                   f"{item.output}, the driver planned {msg['output']}")
            journal = journals.setdefault(str(plan.output_dir), Journal(plan.output_dir))
            rec = run_item(plan, item, msg["overwrite"], msg["attempt"], journal,
                           verbose=msg.get("verbose", False))
        except Exception as exc:  # the plan or the manifest failed: report, keep serving
            rec = dict(index=msg["index"], output=msg["name"], source=msg["source"],
                       state="failed", error=errors.message(exc), duration=0.0,
                       attempt=msg["attempt"])
        out.write(json.dumps(rec) + "\n")
    return 0


def _plan_here(argv: list[str], plans: dict) -> dict:
    """Plan argv in this worker for the driver, keeping the plan for its items: {"plan":
    Plan.to_message()} or {"stopped": exit code}, with what planning printed ("out",
    "err"), which the driver prints as if it had planned itself."""
    import io
    from contextlib import redirect_stderr, redirect_stdout
    from ..batch import guarded
    from .plan import Stopped, build_plan
    printed = {"out": io.StringIO(), "err": io.StringIO()}

    def plan_it():
        try:
            plans[tuple(argv)] = build_plan(argv)
        except Stopped as stop:  # the command said why (plan errors, output folder, head)
            return stop.code
        except SystemExit as stop:  # argparse, or a usage message
            if isinstance(stop.code, str):
                print(stop.code, file=sys.stderr)
                return 1
            return stop.code or 0
        return None

    verbose = bool({"-v", "--verbose"} & set(argv))
    with redirect_stdout(printed["out"]), redirect_stderr(printed["err"]):
        code = guarded(argv[0], verbose, plan_it)
    reply = {k: v.getvalue() for k, v in printed.items()}
    if tuple(argv) in plans:
        return dict(reply, plan=plans[tuple(argv)].to_message())
    return dict(reply, stopped=code if code is not None else 1)


def plan_on_worker(argv: list[str]):
    """The plan of argv, built by the first worker started early (it keeps the plan for
    its items, and the driver stays free of Blender); raises plan.Stopped with the
    command's exit code when the command ended before its items."""
    from ..errors import UserError
    from .plan import Plan, Stopped
    if not _early:
        _early.append(Worker())
    worker = _early[0]
    try:
        worker.wait_ready()
        worker.send({"plan": list(argv)})
        reply = worker.receive(None)
    except Died as exc:
        raise UserError(f"a worker could not start Blender and FaceForge ({exc}): "
                        f"{worker.printed_tail()}") from None
    sys.stdout.write(reply["out"])
    sys.stderr.write(reply["err"])
    if "stopped" in reply:
        raise Stopped(reply["stopped"])
    return Plan.from_message(reply["plan"])


def _log_to(path: str) -> None:
    """From now on this process's stdout and stderr (Python's and Blender's) go to path."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def blas_threads(workers: int) -> int:
    """Each worker's share of the cores, as BLAS threads (as Ray sets for its actors)."""
    return max(1, (os.cpu_count() or 1) // workers)


class Died(Exception):
    """The worker process ended (crash, kill) before answering."""


class Worker:
    """One worker process and the pipes to it; its prints go to a temporary file until
    `use_log` names the run's log."""

    def __init__(self, threads: int = 1):
        read_fd, write_fd = os.pipe()
        self.log, self.log_path = tempfile.TemporaryFile(prefix="faceforge-worker-"), None
        env = dict(os.environ, **{RESULT_FD_ENV: str(write_fd)})
        if "OMP_NUM_THREADS" not in env and "OPENBLAS_NUM_THREADS" not in env:
            env["OMP_NUM_THREADS"] = str(threads)  # its share of the cores, as Ray does
        env[CHUNK_WORKERS_ENV] = "0"  # a long clip's chunks stay in the worker, on its core
        self.proc = subprocess.Popen(worker_command(), stdin=subprocess.PIPE, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env, pass_fds=(write_fd,),
                                     start_new_session=True)
        os.close(write_fd)
        self.fd, self.buf = read_fd, b""
        self.started = False  # its first line ({"ready": ...}) was read

    def wait_ready(self) -> None:
        """Wait until Blender and FaceForge have started in it (Died if it did not)."""
        if not self.started:
            self.receive(None)
            self.started = True

    def use_log(self, path: Path) -> None:
        """Send the worker's prints to `path` from now on (its earlier ones follow them
        there when it ends)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = path
        self.send({"log": str(path)})

    def send(self, msg: dict) -> None:
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise Died(self.death()) from exc

    def receive(self, timeout: float | None) -> dict:
        """The next answer; Died if the process ended, TimeoutError past `timeout` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            wait = None if deadline is None else max(deadline - time.monotonic(), 0)
            ready, _, _ = select.select([self.fd], [], [], wait)
            if not ready:
                raise TimeoutError
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise Died(self.death())
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def printed_tail(self, n: int = 1500) -> str:
        """The end of what the worker printed before its run's log was named."""
        try:
            self.log.seek(0)
            return self.log.read()[-n:].decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""

    def death(self) -> str:
        code = self.proc.wait()
        if code < 0:
            return f"worker crashed ({signal.Signals(-code).name})"
        return f"worker exited with code {code}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.close()

    def close(self) -> None:
        if self.log_path is not None and not self.log.closed:
            try:  # what it printed before use_log: start-up messages
                self.log.seek(0)
                early = self.log.read()
                if early:
                    with open(self.log_path, "ab") as f:
                        f.write(b"--- start-up ---\n" + early)
            except OSError:
                pass
        for f in (self.proc.stdin, self.log):
            try:
                f.close()
            except OSError:
                pass
        try:
            os.close(self.fd)
        except OSError:
            pass


def _serialised(report):
    """report (and report.ready) callable from several lane threads, one call at a time."""
    guard = threading.Lock()

    def call(rec):
        with guard:
            report(rec)

    def ready():
        with guard:
            report.ready()

    call.ready = ready
    return call


def run_items(plan, jobs, opts, journal, report) -> None:
    """Run jobs [(item, overwrite)] on opts.workers processes; report(record) per outcome.

    An item whose worker died or passed opts.item_timeout is retried opts.retries times
    (on a fresh worker); its failure otherwise is final.
    """
    queue = deque((item, ow, 1) for item, ow in jobs)
    lock = threading.Lock()
    report = _serialised(report)
    threads = blas_threads(opts.workers)
    log_dir = Path(plan.output_dir) / MANIFEST_DIR / "logs"
    errors: list[BaseException] = []

    def next_job():
        with lock:
            return queue.popleft() if queue else None

    def lane(number: int) -> None:
        worker = None
        try:
            while True:
                job = next_job()
                if job is None:
                    break
                item, overwrite, attempt = job
                if attempt > 1:
                    done, overwrite = recheck(plan, item, overwrite, journal)
                    if done is not None:
                        report(done)
                        continue
                if worker is None:
                    worker = (take_early(1) or [None])[0] or Worker(threads)
                    try:
                        worker.use_log(log_dir / f"worker-{number}.log")
                        worker.wait_ready()
                        report.ready()
                    except Died:
                        pass  # the item's send or receive below says how it died
                sent = time.perf_counter()
                try:
                    worker.send(dict(argv=plan.argv, index=item.index, output=item.output,
                                     name=item.name, source=item.source,
                                     overwrite=overwrite, attempt=attempt,
                                     verbose=bool(getattr(plan.args, "verbose", False))))
                    rec = worker.receive(opts.item_timeout)
                    rec["latency"] = time.perf_counter() - sent
                except (Died, TimeoutError) as exc:
                    why = (f"timed out after {opts.item_timeout:g} s"
                           if isinstance(exc, TimeoutError) else str(exc))
                    worker.kill()
                    worker = None
                    rec = journal.write(index=item.index, source=item.source, output=item.name,
                                        fingerprint=item.fingerprint, attempt=attempt,
                                        state="crashed", error=why, duration=None)
                    if attempt <= opts.retries:
                        with lock:
                            queue.appendleft((item, overwrite, attempt + 1))
                        continue
                    rec = dict(rec, state="failed",
                               error=f"{why} (tried {attempt} time{'s' * (attempt > 1)})")
                    journal.write(**{k: v for k, v in rec.items()
                                     if k not in ("time", "seq", "host", "pid")})
                report(rec)
        except BaseException as exc:  # a manifest error: stop everything, say why
            errors.append(exc)
            with lock:
                queue.clear()
        finally:
            if worker is not None:
                worker.proc.stdin.close()
                try:
                    worker.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                worker.close()

    lanes = [threading.Thread(target=lane, args=(k,), daemon=True)
             for k in range(min(opts.workers, len(jobs)))]
    for t in lanes:
        t.start()
    for t in lanes:
        while t.is_alive():
            t.join(0.2)
    discard_early()  # started early for more items than there were
    if errors:
        raise errors[0]


# ---------------------------------------------------------------- started before planning
_early: list[Worker] = []  # started by `ops.scale.prestart` before Blender was imported


def start_early(n: int) -> None:
    """Start n workers now, before the driver imports Blender and plans (once)."""
    if _early:
        return
    for _ in range(n):
        _early.append(Worker(threads=blas_threads(n)))
    atexit.unregister(discard_early)
    atexit.register(discard_early)


def take_early(n: int) -> list[Worker]:
    """Up to n workers started early (still running), for the runner to keep."""
    taken = []
    while _early and len(taken) < n:
        w = _early.pop(0)
        if w.proc.poll() is None:
            taken.append(w)
        else:
            w.close()
    return taken


def discard_early() -> None:
    """Kill the workers started early that no runner took (they hold no item)."""
    while _early:
        _early.pop().kill()
