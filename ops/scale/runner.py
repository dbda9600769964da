"""The driver of a planned command: plan, print it (`--dry-run`) or take the output
folder's lock, decide per item from the manifest (skip done, redo failed or missing),
hand the rest to a runner (this process, `--workers N`, or `--cluster` Ray) and print
one summary and exit code, the same whichever runner ran the items."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from .. import batch
from . import manifest
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
        g = p.add_argument_group("batch and render farms (--workers and --cluster runs keep "
                                 "a manifest in <output>/.faceforge/ and always resume)")
        g.add_argument("--workers", type=int, metavar="N",
                       help="run the items in N local worker processes, each starting "
                            "Blender and the models once (1: in this process, with the "
                            "manifest)")
        g.add_argument("--cluster", metavar="auto|local|ADDRESS",
                       help="run the items on a Ray cluster (auto: the running one; local: "
                            "start one on this machine for the run)")
        g.add_argument("--retries", type=int, default=1, metavar="N",
                       help="retries of an item whose worker crashed or timed out (default 1)")
        g.add_argument("--item-timeout", type=float, metavar="SECONDS",
                       help="stop an item and its worker after this long (workers, cluster)")


@dataclass
class Outcome:
    """What the run did: items done now, already done before, failed (name, why)."""
    ok: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    interrupted: bool = False
    stopped: str | None = None  # why the run stopped early (the manifest cannot be written)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed or self.stopped or not (self.ok or self.skipped) else 0

    def summary(self) -> str:
        line = f"{len(self.ok)} succeeded, {len(self.failed)} failed"
        if self.skipped:
            line += f", {len(self.skipped)} already done"
        lines = [line] + [f"  FAILED {name}: {why}" for name, why in self.failed]
        if self.stopped:
            lines.append(f"  STOPPED: {self.stopped}")
        if self.interrupted or self.stopped:
            lines.append("run the same command again to finish the rest")
        return "\n".join(lines)


def print_plan(plan, items, stream=None) -> None:
    """The --dry-run listing: one line per item with its state in the manifest."""
    stream = stream or sys.stdout
    hist = manifest.latest(plan.output_dir)
    states = [hist[i.name].last["state"] if i.name in hist else "pending" for i in items]
    spec = getattr(plan.args, "shard", None)
    shard = f" (shard {spec[0]}/{spec[1]}: {len(items)})" if spec else ""
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
    """The plain runner: each item in this process, one after another."""
    from .execute import run_item
    report.ready()
    for item, overwrite in jobs:
        start = time.perf_counter()
        rec = run_item(plan, item, overwrite, 1, journal, verbose=opts.verbose)
        report(dict(rec, latency=time.perf_counter() - start))


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


def wanted(args) -> bool:
    """Whether this layer runs the command: --workers or --cluster was given (plain runs,
    --shard and --resume are the command's own)."""
    return getattr(args, "workers", None) is not None or bool(getattr(args, "cluster", None))


def run(argv: list[str], parser=None) -> int:
    """Plan argv's command and run what is left of it; returns the exit code."""
    try:
        plan = build_plan(argv, parser)
    except Stopped as stop:  # the command said why (plan errors, output folder, head)
        return stop.code
    opts = plan.args
    if opts.workers is None:
        opts.workers = 1
    if opts.workers < 1:
        raise SystemExit("faceforge: --workers must be at least 1")
    items = plan.shard(getattr(opts, "shard", None))
    if opts.dry_run:
        print_plan(plan, items)
        return 0
    out = Outcome()
    journal = Journal(plan.output_dir)
    spec = getattr(opts, "shard", None)
    label = plan.command if not spec else f"{plan.command} {spec[0]}/{spec[1]}"
    with manifest.run_lock(plan.output_dir, spec):
        hist = manifest.latest(plan.output_dir)
        jobs = []
        for item in items:
            d = manifest.decide(item, hist.get(item.name), opts.overwrite, journal)
            if d.action == "skip":
                out.skipped.append(item.source)
            elif d.action == "refuse":
                journal.write(index=item.index, source=item.source, output=item.name,
                              fingerprint=item.fingerprint, state="failed", error=d.why,
                              attempt=0, duration=0.0)
                out.failed.append((item.source, d.why))
            else:
                jobs.append((item, d.overwrite))
        if not jobs:
            print(f"nothing to do: {len(out.skipped)} of {len(items)} items already done "
                  f"(manifest in {plan.output_dir / manifest.MANIFEST_DIR})", file=sys.stderr)
        else:
            if out.skipped:
                print(f"resuming: {len(out.skipped)} items already done, {len(jobs)} to run",
                      file=sys.stderr)
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
                    note = f"{rec['source']} -> {rec['output']} ({rec.get('duration') or 0:.1f} s)"
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
            except manifest.ManifestError as exc:  # disk full, folder read-only: stop clean
                out.stopped = str(exc)
            print(_timing_line(len(jobs), time.perf_counter() - start, timing), file=sys.stderr)
        try:
            manifest.write_snapshot(plan.output_dir, plan)
        except OSError:
            pass
    print(out.summary(), file=sys.stderr)
    return out.exit_code
