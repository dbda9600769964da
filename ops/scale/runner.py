"""The driver of a planned command: plan, print it (`--dry-run`) or take the output
folder's lock, decide per item from the manifest (skip done, redo failed or missing),
hand the rest to a runner (this process, `--workers N`, or `--cluster` Ray) and print
one summary and exit code, the same whichever runner ran the items."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from .. import batch
from . import manifest, prestart
from .manifest import Journal
from .plan import SCALABLE, Stopped, build_plan


def add_options(sub) -> None:
    """Give every plannable command (argparse subparsers `sub`) the runner options, and
    add `faceforge farm` (render-farm jobs that run a command as shards)."""
    from . import farm
    farm.add_cli(sub)
    for name in SCALABLE:
        p = sub.choices.get(name)
        if p is None:
            continue
        g = p.add_argument_group("batch and render farms")
        if "--dry-run" not in p._option_string_actions:
            g.add_argument("--dry-run", action="store_true",
                           help="print the plan (each item's state, input -> output) and stop")
        g.add_argument("--shard", metavar="I/N",
                       help="run only items I, I+N, I+2N, ... of the plan (0 <= I < N): "
                            "one task of a farm array job")
        g.add_argument("--workers", type=int, default=1, metavar="N",
                       help="run the items in N local worker processes, each starting "
                            "Blender and the models once")
        g.add_argument("--cluster", metavar="auto|local|ADDRESS",
                       help="run the items on a Ray cluster (auto: the running one; local: "
                            "start one on this machine for the run)")
        g.add_argument("--retries", type=int, default=1, metavar="N",
                       help="retries of an item whose worker crashed or timed out (default 1)")
        g.add_argument("--item-timeout", type=float, metavar="SECONDS",
                       help="stop an item and its worker after this long (workers, cluster)")


@dataclass
class Outcome(batch.BatchResult):
    """What the run did (ops.batch.BatchResult: done now, already done before, failed,
    not run), and why it stopped early if the manifest could not be written."""
    stopped: str | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.stopped and not self.interrupted else super().exit_code

    def summary(self) -> str:
        """The same summary as ops.batch.run_batch, plus a stop and how to finish."""
        lines = [super().summary()]
        if self.stopped:
            lines.append(f"STOPPED: {self.stopped}")
        if self.interrupted or self.stopped:
            lines.append("run the same command again to finish the rest")
        return "\n".join(lines)


def print_plan(plan, items, stream=None) -> None:
    """The --dry-run listing: one line per item with its state in the manifest."""
    stream = stream or sys.stdout
    hist = manifest.latest(plan.output_dir)
    states = [hist[i.name].last["state"] if i.name in hist else "pending" for i in items]
    shard = f" (shard {plan.args.shard}: {len(items)})" if plan.args.shard else ""
    done = states.count("done")
    print(f"{plan.command}: {len(plan.items)} items{shard}, {done} done, "
          f"{len(items) - done} to run; manifest {plan.output_dir / manifest.MANIFEST_DIR}",
          file=stream)
    for item, state in zip(items, states):
        print(f"{item.index:6d}  {state:8s} {item.source} -> {item.output}", file=stream)


def _runner(opts):
    if opts.cluster:
        from . import ray_runner
        return ray_runner.run_items
    if opts.workers > 1:
        from . import workers
        return workers.run_items
    return run_here


def run_here(plan, jobs, opts, journal, report) -> None:
    """The plain runner: each item in this process, one after another. Ctrl-C stops after
    the current item even when Blender swallows the KeyboardInterrupt inside one of its
    handlers (ops.batch.CtrlC); an item it broke counts as not run."""
    from .execute import run_item
    report.ready()
    with batch.CtrlC() as ctrl_c:
        for item, overwrite in jobs:
            if ctrl_c.hit:
                break
            start = time.perf_counter()
            ctrl_c.armed = True
            try:
                rec = run_item(plan, item, overwrite, 1, journal, verbose=opts.verbose)
            finally:
                ctrl_c.armed = False
            if ctrl_c.hit and rec["state"] != "done":
                break
            report(dict(rec, latency=time.perf_counter() - start))
    if ctrl_c.hit:
        raise KeyboardInterrupt


def _timing_line(n: int, total: float, timing: dict) -> str:
    """'N items in T s (first worker ready after S s); per item: median work W s, A ms
    added' - added: the runner's cost around the item (scheduling, lock, manifest, hash)."""
    line = f"{n} items in {total:.1f} s"
    if timing["ready"] is not None:
        line += f" (first worker ready after {timing['ready']:.1f} s)"
    if timing["work"]:
        import statistics
        added = [lat - w for lat, w in zip(timing["latency"], timing["work"])]
        line += (f"; per item: median work {statistics.median(timing['work']):.3f} s, "
                 f"{1000 * statistics.median(added):.0f} ms added")
    return line


def _crashed_out(history, opts) -> str:
    """Why an item is not tried again ('' if it is): earlier runs died inside it more
    than --retries times (a process that runs items itself - the plain runner, a farm
    shard - dies with a file that crashes Blender, and a rerun would die on it again)."""
    if history is None or history.last is None or opts.overwrite:
        return ""
    crashes = history.crashes + (history.last.get("state") == "running")
    if crashes <= opts.retries:
        return ""
    return (f"FaceForge's process died while running it {crashes} times (Blender crashed on "
            f"it, or the run was killed); not tried again: check the file, or run it with "
            f"--workers to keep a crash to one worker (--overwrite tries it again)")


def run(argv: list[str], parser=None, planner=None) -> int:
    """Plan argv's command and run what is left of it; returns the exit code.
    planner(argv) -> Plan replaces planning here (the console driver of --workers has a
    worker plan: ops.scale.workers.plan_on_worker)."""
    prestart.begin(argv)  # workers start (or Ray connects) while this process plans
    try:
        return _run(argv, planner or (lambda a: build_plan(a, parser)))
    finally:
        prestart.discard()  # whatever no runner took: plan failed, nothing to do


def _run(argv: list[str], planner) -> int:
    try:
        plan = planner(argv)
    except Stopped as stop:  # the command said why (plan errors, output folder, head)
        return stop.code
    opts = plan.args
    if opts.workers < 1:
        raise SystemExit("faceforge: --workers must be at least 1")
    items = plan.shard(opts.shard)
    if opts.dry_run:
        print_plan(plan, items)
        return 0
    out = Outcome()
    journal = Journal(plan.output_dir)
    label = plan.command if not opts.shard else f"{plan.command} {opts.shard}"
    with manifest.run_lock(plan.output_dir, opts.shard):
        hist = manifest.latest(plan.output_dir)
        jobs = []
        for item in items:
            d = manifest.decide(item, hist.get(item.name), opts.overwrite, journal)
            if d.action == "skip":
                out.skipped.append(item.source)
            elif d.action == "refuse" or _crashed_out(hist.get(item.name), opts):
                why = d.why or _crashed_out(hist.get(item.name), opts)
                journal.write(index=item.index, source=item.source, output=item.name,
                              fingerprint=item.fingerprint, state="failed", error=why,
                              attempt=0, duration=0.0)
                out.failed.append((item.source, why))
            else:
                jobs.append((item, d.overwrite))
        if not jobs:
            print(f"nothing to do: {len(out.skipped)} of {len(items)} items already done "
                  f"(manifest in {plan.output_dir / manifest.MANIFEST_DIR})", file=sys.stderr)
        else:
            if out.skipped:
                print(f"resuming: {len(out.skipped)} items already done, {len(jobs)} to run",
                      file=sys.stderr)
            by_index = {item.index: item for item, _ in jobs}
            progress = batch.Progress(len(jobs), label)
            progress.update(0)
            start = time.perf_counter()

            timing = {"ready": None, "latency": [], "work": []}

            def report(rec: dict) -> None:
                if rec.get("latency") is not None and rec.get("duration") is not None:
                    timing["latency"].append(rec["latency"])
                    timing["work"].append(rec["duration"])
                if rec["state"] == "done":
                    out.ok.append(rec["source"])
                    output = by_index[rec["index"]].output
                    note = f"{rec['source']} -> {output} ({rec.get('duration') or 0:.1f} s)"
                else:
                    out.failed.append((rec.get("source", rec["output"]), rec.get("error")))
                    note = f"FAILED {rec.get('source', rec['output'])}: {rec.get('error')}"
                progress.update(len(out.ok) + len(out.failed) - (len(items) - len(jobs)
                                                                  - len(out.skipped)), note)

            def ready() -> None:  # the first worker can take items (Blender started)
                if timing["ready"] is None:
                    timing["ready"] = time.perf_counter() - start

            report.ready = ready
            try:
                _runner(opts)(plan, jobs, opts, journal, report)
            except KeyboardInterrupt:
                out.interrupted = True
                reported = set(out.ok) | {name for name, _ in out.failed}
                out.not_run = [item.source for item, _ in jobs if item.source not in reported]
            except manifest.ManifestError as exc:  # disk full, folder read-only: stop clean
                out.stopped = str(exc)
            print(_timing_line(len(jobs), time.perf_counter() - start, timing), file=sys.stderr)
        try:
            manifest.write_snapshot(plan.output_dir, plan)
        except OSError:
            pass
    print(out.summary(), file=sys.stderr)
    return out.exit_code
