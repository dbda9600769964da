"""The plan of one command as this layer runs it: the command's own plan (ops.plan: input
x options -> one output path, built before any work, the same in every process that
builds it from the same argv), each item with a fingerprint of what shapes its output.
Each item runs through the command's own job function, captured from the command instead
of run, so every runner does exactly what the plain command does."""
from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

from .. import batch
from ..errors import UserError

#: Commands that write one output per input, and so can be planned, resumed and sharded.
SCALABLE = ("rig", "emotion", "lipsync", "video", "fit")
#: Options that choose how a plan runs, not what it makes (not part of an item's identity).
#: The parsed options a driver needs to run a plan built elsewhere (Plan.to_message).
RUN_OPTIONS = ("command", "workers", "cluster", "shard", "dry_run", "item_timeout", "retries",
               "overwrite", "verbose")
RUNNER_FLAGS = {"--workers": 1, "--cluster": 1, "--shard": 1, "--item-timeout": 1,
                "--retries": 1, "--dry-run": 0, "--overwrite": 0, "-v": 0, "--verbose": 0}


@dataclass(frozen=True)
class Item:
    """One unit of work: `source` made into `output` (index: position in the whole plan;
    name: the output's path inside the output folder, the manifest's key; label: how the
    command names the item in its messages)."""
    index: int
    source: str
    output: str
    fingerprint: str
    name: str = ""
    label: str = ""


@dataclass
class Plan:
    """Every item of one command line, in order, and how to run one of them."""
    command: str
    argv: list[str]
    output_dir: Path
    items: list[Item]
    args: object = None          # parsed argparse namespace (None until captured)
    job: Callable | None = None  # the command's own per-input job: job(source) -> note
    sources: list | None = None  # the objects the command passes to job, by index

    def shard(self, spec: str | None) -> list[Item]:
        """The items of shard 'I/N' (0 <= I < N, every N-th item from I), or all of them."""
        if not spec:
            return list(self.items)
        i, n = parse_shard(spec)
        return [it for it in self.items if it.index % n == i]

    def to_message(self) -> dict:
        """The plan as JSON data, without its job: what a driver that does not import
        Blender needs to run it on workers (from_message)."""
        return {"command": self.command, "argv": self.argv, "output_dir": str(self.output_dir),
                "items": [asdict(i) for i in self.items],
                "args": {k: getattr(self.args, k, None) for k in RUN_OPTIONS}}

    @classmethod
    def from_message(cls, msg: dict) -> "Plan":
        return cls(msg["command"], list(msg["argv"]), Path(msg["output_dir"]),
                   [Item(**i) for i in msg["items"]], args=SimpleNamespace(**msg["args"]))

    def run_item(self, item: Item, overwrite: bool) -> str:
        """Run the command's job for this item (in this process); returns its note."""
        if self.job is None:
            raise RuntimeError("plan was built without its job (build_plan(capture=True))")
        self.args.overwrite = overwrite
        return self.job(self.sources[item.index])


def parse_shard(spec: str) -> tuple[int, int]:
    """'I/N' -> (I, N); a clear message for anything else."""
    try:
        i, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise SystemExit(f"faceforge: --shard takes I/N (e.g. 0/8), not {spec!r}") from None
    if n < 1 or not 0 <= i < n:
        raise SystemExit(f"faceforge: --shard {spec}: I must be 0..N-1 (shards count from 0)")
    return i, n


def plan_argv(argv: list[str]) -> list[str]:
    """argv without the runner options: what decides the outputs."""
    out, skip = [], 0
    for a in argv:
        if skip:
            skip -= 1
            continue
        flag = a.split("=", 1)[0]
        if flag in RUNNER_FLAGS:
            skip = RUNNER_FLAGS[flag] if "=" not in a else 0
            continue
        out.append(a)
    return out


def _stat_key(path) -> list:
    """What identifies a file's content cheaply: resolved path, size, modification time."""
    p = Path(path)
    try:
        st = p.stat()
        return [str(p.resolve()), st.st_size, st.st_mtime_ns]
    except OSError:
        return [str(p), None, None]


#: Namespace entries that are not part of an item's identity: its inputs, the output
#: folder and how the plan runs.
_NOT_OPTIONS = {"inputs", "audio", "clips", "photos", "output", "func", "overwrite", "verbose",
                "workers", "cluster", "shard", "dry_run", "item_timeout", "retries"}


def _options(args) -> str:
    """The parsed options that shape each output, as stable text."""
    return json.dumps({k: v for k, v in sorted(vars(args).items()) if k not in _NOT_OPTIONS},
                      default=str, sort_keys=True)


def _fingerprint(options: str, source, head) -> str:
    """Hash of what determines one output: the options, the input and the head file."""
    key = json.dumps([options, _stat_key(source), _stat_key(head) if head else None])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class Stopped(Exception):
    """The command stopped before running any item (plan errors, an unwritable output
    folder, a bad head: it has printed why); `code` is its exit status."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


@contextmanager
def _captured_batch():
    """Within the block, batch.run_batch records (items, job) instead of running them."""
    seen = {}
    original = batch.run_batch

    def capture(items, job, label, verbose=False, blocked=None):
        seen.update(items=list(items), job=job, label=label)
        return batch.BatchResult(ok=["planned"])

    batch.run_batch = capture
    try:
        yield seen
    finally:
        batch.run_batch = original


@contextmanager
def _no_folders_made(active: bool):
    """While planning for --dry-run, the command checks its output folders without
    creating them."""
    if not active:
        yield
        return
    from .. import plan as ops_plan
    original = ops_plan.Plan.check_outputs
    ops_plan.Plan.check_outputs = lambda self, create=True: original(self, create=False)
    try:
        yield
    finally:
        ops_plan.Plan.check_outputs = original


_parser_factory: Callable | None = None


def use_parser(factory: Callable) -> None:
    """The command line's parser builder (ops.cli registers it when it loads, so this layer
    plans any command without importing the module that imports it)."""
    global _parser_factory
    _parser_factory = factory


def command_parser():
    """A fresh parser of the whole command line (ops.cli.build_parser)."""
    if _parser_factory is None:
        raise RuntimeError("the command line is not loaded (import faceforge.ops.cli first)")
    return _parser_factory()


def build_plan(argv: list[str], parser=None) -> Plan:
    """Parse argv and let the command build its own plan (naming rule, collisions,
    writable folders, the head checked once), capturing its items and job instead of
    running them. Raises Stopped when the command ended before its items."""
    parser = parser or command_parser()
    args = parser.parse_args(argv)
    if args.command not in SCALABLE:
        raise UserError(f"{args.command} cannot be planned (only {', '.join(SCALABLE)})")
    dry = getattr(args, "dry_run", False)
    args.dry_run = False  # the command plans; this layer prints the plan with its states
    with _captured_batch() as seen, _no_folders_made(dry):
        code = args.func(args)
    args.dry_run = dry
    if "job" not in seen:
        raise Stopped(code or 1)
    options = _options(args)
    head = getattr(args, "head", None)
    out_dir = Path(args.output)
    items = []
    for n, planned in enumerate(seen["items"]):
        out = Path(planned.output)
        try:
            rel = out.resolve().relative_to(out_dir.resolve()).as_posix()
        except ValueError:
            rel = out.name
        items.append(Item(n, str(planned.input), str(out),
                          _fingerprint(options, planned.input, head), rel, str(planned.label)))
    return Plan(args.command, list(argv), out_dir, items, args=args, job=seen["job"],
                sources=seen["items"])
