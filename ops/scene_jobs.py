"""The one loop behind every command that writes scene files: plan the items (input ->
output, see plan.py), check outputs and the head up front, then per item open the scene
(the input itself, or the head the input is baked onto), apply the command, and save the
result atomically into the output folder."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import bpy

from ..addon import scene_files
from . import batch, errors, outputs
from .errors import UserError
from .manifest import NAME as MANIFEST_NAME, options_signature
from .plan import Plan, PlannedItem, Source, output_name
from .targets import NoRiggedMesh


def add_output_options(p, output_help: str, format_default: str) -> None:
    """-o, --format, --overwrite, --dry-run and -v, the same for every command."""
    p.add_argument("-o", "--output", type=Path, required=True, help=output_help)
    p.add_argument("--format", help=f"output suffix (.blend, .glb, .fbx; default: {format_default})")
    add_run_options(p)


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' (1 <= I <= N) -> (I, N)."""
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        index = count = 0
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"expected I/N with 1 <= I <= N (e.g. 2/8), got {text!r}")
    return index, count


def add_run_options(p, shard: bool = True, resume: bool = True) -> None:
    """--overwrite, --dry-run, --shard, --resume and -v."""
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing outputs (and redo items an earlier run finished)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (each input -> its output) and what would stop, then stop")
    if shard:
        p.add_argument("--shard", type=parse_shard, metavar="I/N",
                       help="run only the I-th of N interleaved slices of the plan "
                            "(one task of a render-farm job)")
    if resume:
        p.add_argument("--resume", action="store_true",
                       help=f"keep a manifest in the output folder ({MANIFEST_NAME}) and "
                            f"skip items an earlier --resume run of the same command "
                            f"finished (their outputs unchanged)")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="tracebacks for failures")


OUTPUT_HELP = ("output folder: one file per input, named after it; inputs found inside a "
               "given folder keep their sub-folder")


def add_scene_job_parser(sub, command: str, help_text: str):
    """A `faceforge COMMAND SCENE... -o DIR` subparser (scene files in, scene files out)."""
    p = sub.add_parser(command, help=help_text, description=help_text)
    p.add_argument("inputs", nargs="+", type=Path, help="scene files or folders of them")
    add_output_options(p, OUTPUT_HELP, "the input's")
    return p


def add_head_job_parser(sub, command: str, help_text: str, media: str, media_help: str,
                        take: str):
    """A `faceforge COMMAND HEAD MEDIA... -o DIR` subparser with the options every such
    command shares (take, start frame, output format, overwrite); returns it."""
    p = sub.add_parser(command, help=help_text, description=help_text)
    p.add_argument("head", type=Path, help="scene file with the rigged head")
    p.add_argument(media, nargs="+", type=Path, help=media_help)
    add_output_options(p, OUTPUT_HELP, "the head's")
    p.add_argument("--take", default=take, type=take_name, help="action (take) name")
    p.add_argument("--start-frame", type=int, default=1, help="frame where the input starts")
    return p


def take_name(text: str) -> str:
    """A --take value: any non-blank name."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a take needs a name")
    return text


def _save_suffix(args, path: Path) -> str:
    batch.check_format(args.format, scene_files.SAVE_SUFFIXES)
    suffix = path.suffix.lower()
    return args.format or (suffix if suffix in scene_files.SAVE_SUFFIXES else ".blend")


def plan_scene_jobs(args, command: str, sources: list[Source]) -> Plan:
    """Each scene file is opened, changed and saved as <out>/<rel stem><suffix>."""
    items = [PlannedItem(s.path, args.output / output_name(s, _save_suffix(args, s.path)),
                         str(s.path)) for s in sources]
    return Plan.build(command, items, args.overwrite, root=args.output,
                      options=options_signature(args), resume=getattr(args, "resume", False))


def plan_head_jobs(args, command: str, sources: list[Source]) -> Plan:
    """Each media file is baked onto a fresh copy of args.head, saved as
    <out>/<rel stem><suffix> (suffix: --format, else the head's if it can be saved)."""
    suffix = _save_suffix(args, args.head)
    items = [PlannedItem(s.path, args.output / output_name(s, suffix), str(s.path), args.head)
             for s in sources]
    return Plan.build(command, items, args.overwrite, protected=[args.head], root=args.output,
                      options=options_signature(args), resume=getattr(args, "resume", False))


def no_rig_message(scene: Path) -> str:
    return (f"no mesh in it has ARKit-named shape keys; rig it first "
            f"(faceforge rig {scene} -o FOLDER)")


def load_input_scene(path: Path) -> None:
    """Open a scene file given on the command line; UserError worded for the user."""
    batch.check_input(path, scene_files.SCENE_SUFFIXES)
    scene_files.load_scene(path)


def check_head(head: Path, check: Callable[[list], object]) -> None:
    """Open the head once and run check(objects) before any media is analysed, so a
    head-level problem is reported once, naming the head."""
    try:
        load_input_scene(head)
        check(list(bpy.context.scene.objects))
    except NoRiggedMesh:
        raise UserError(no_rig_message(head), subject=head) from None
    except (UserError, ValueError) as exc:
        raise UserError(str(exc), subject=head) from None


def prepare(args, plan: Plan, before: Callable[[], None] | None = None) -> int | None:
    """Everything before the first item: --dry-run prints the plan; plan errors stop the
    run; output folders are checked (existing outputs block their items); `before()`
    (e.g. the head check) runs once. Returns an exit code when the run stops here."""
    shard = getattr(args, "shard", None)
    if shard and not plan.errors:
        plan.items = plan.shard(*shard).items
    try:
        if getattr(args, "dry_run", False):
            plan.check_outputs(create=False)
            print(plan.text())
            return 1 if plan.errors else 0
        if plan.errors:
            for label, why in plan.errors:
                print(f"FAILED {label}: {why}", file=sys.stderr)
        else:
            plan.check_outputs()
            if before is not None and plan.runnable():
                before()
            return None
    except UserError as exc:
        errors.report(exc, f"faceforge {plan.command}")
    print(f"nothing was run ({len(plan.items)} item(s) planned)", file=sys.stderr)
    return 1


def execute(args, plan: Plan, job: Callable[[PlannedItem], str],
            before: Callable[[], None] | None = None) -> int:
    """Run a plan: prepare(), then one job per item, with a summary (exit 1 if any
    failed, 130 on Ctrl-C)."""
    stop = prepare(args, plan, before)
    if stop is not None:
        return stop
    if plan.items and len(plan.done) == len(plan.items):
        print(f"nothing to do: all {len(plan.items)} item(s) were done by an earlier run "
              f"(--overwrite redoes them)", file=sys.stderr)
        return 0

    def finished(item, state, seconds, error):
        if plan.manifest is not None:
            try:
                plan.manifest.record(plan.key(item), item, state, seconds, error)
            except OSError as exc:  # the output is committed; only resuming loses it
                print(f"  warning: could not update {plan.manifest.path}: "
                      f"{errors.message(exc)}", file=sys.stderr)
    return batch.run_batch(plan.items, job, plan.command, getattr(args, "verbose", False),
                           plan.blocked, plan.done, finished).exit_code


def run_scene_jobs(args, plan: Plan, work: Callable[[Path], str],
                   head_check: Callable[[list], object] | None = None) -> int:
    """execute() with the scene-file job: open item.scene (or the input), `work(input)`
    returns a summary line, save to item.output. `head_check(objects)` runs once on the
    head first (head jobs)."""
    def job(item: PlannedItem) -> str:
        scene = item.scene or item.input
        load_input_scene(scene)
        try:
            note = work(item.input)
        except NoRiggedMesh:
            raise UserError(no_rig_message(scene)) from None
        print(f"  {note}", file=sys.stderr)
        with outputs.atomic_output(item.output, args.overwrite) as tmp:
            scene_files.save_scene(tmp)
        return str(item.output)

    before = None
    if head_check is not None:
        def before():
            check_head(args.head, head_check)
    return execute(args, plan, job, before)
