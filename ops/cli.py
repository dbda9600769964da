"""The command line: `faceforge <command>` (with the PyPI bpy module) and
`blender -b -c faceforge <command>` (inside Blender). Both run the same functions
as the operators, one job per input file, and exit non-zero if any input failed."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import bpy

from ..addon import scene_files
from ..ml import livelink_csv
from ..ml.autorig import infer
from . import autorig, batch, demo, emotion, fit, lipsync, livelink, video
from .batch import UserError

COMMANDS_HELP = "rig, emotion, lipsync, video, fit, import-csv, export-csv, demo"


def _output_for(src: Path, out_dir: Path, suffix: str | None) -> Path:
    return out_dir / (src.stem + (suffix or src.suffix))


def _scene_job(args, label: str, work) -> int:
    """Open each scene file, run work(src) on it, save the result into the output folder."""
    batch.check_format(args.format, scene_files.SAVE_SUFFIXES)
    inputs = batch.expand_inputs(args.inputs, scene_files.SCENE_SUFFIXES)

    def job(src: Path) -> str:
        batch.check_input(src, scene_files.SCENE_SUFFIXES)
        target = _output_for(src, args.output, args.format)
        if target.suffix.lower() not in scene_files.SAVE_SUFFIXES:
            target = target.with_suffix(".blend")
        if target.resolve() == src.resolve():
            raise UserError(f"{src}: output would overwrite the input; choose another -o folder")
        scene_files.load_scene(src)
        try:
            print(f"  {work(src)}", file=sys.stderr)
        except ValueError as exc:
            raise UserError(f"{src}: {exc}") from exc
        with batch.atomic_output(target, args.overwrite) as tmp:
            scene_files.save_scene(tmp)
        return str(target)

    return batch.run_batch(inputs, job, label, args.verbose).exit_code


def cmd_rig(args) -> int:
    options = infer.RigOptions(forward_axis=args.forward, include_eyes=not args.no_eyes,
                               include_mouth_interior=not args.no_mouth_interior,
                               strength=args.strength)

    def work(src: Path) -> str:
        objects = bpy.context.scene.objects
        if args.object:
            objects = [o for o in objects if o.name in args.object]
            if len(objects) != len(args.object):
                raise ValueError(f"no object named {sorted(set(args.object) - {o.name for o in objects})}")
        reports, result = autorig.rig_objects(objects, options, preview=not args.no_preview)
        notes = [f"rigged {len(reports)} mesh(es) with 52 ARKit shapes"] + result.warnings
        return "; ".join(notes)

    return _scene_job(args, "rig", work)


def cmd_emotion(args) -> int:
    def work(src: Path) -> str:
        return emotion.describe(emotion.bake_emotion(
            bpy.context.scene.objects, args.track, take=args.take, start_frame=args.start_frame,
            duration=args.duration, ease=args.ease, transition=args.transition,
            regions=args.region, reduce_tolerance=args.reduce))

    return _scene_job(args, "emotion", work)


def cmd_import_csv(args) -> int:
    batch.check_format(args.output.suffix.lower() or None, scene_files.SAVE_SUFFIXES)
    batch.check_input(args.head, scene_files.SCENE_SUFFIXES)
    scene_files.load_scene(args.head)
    head = livelink.target_object(bpy.context.scene.objects, args.object)
    csvs = batch.expand_inputs(args.csv, (".csv",))

    def job(path: Path) -> str:
        batch.check_input(path, (".csv",))
        try:
            rep = livelink.import_csv(head, path, take=None, start_frame=args.start_frame,
                                      apply_head_rotation=args.head_rotation)
        except (livelink_csv.LiveLinkCsvError, ValueError) as exc:
            raise UserError(str(exc)) from exc
        return f"take '{path.stem}' ({len(rep.baked)} shapes)"

    result = batch.run_batch(csvs, job, "import-csv", args.verbose)
    if result.ok:
        with batch.atomic_output(args.output, args.overwrite) as tmp:
            scene_files.save_scene(tmp)
        print(f"wrote {args.output}", file=sys.stderr)
    return result.exit_code


def cmd_export_csv(args) -> int:
    inputs = batch.expand_inputs(args.inputs, (".blend",))

    def job(src: Path) -> str:
        batch.check_input(src, (".blend",))
        scene_files.load_scene(src)
        head = livelink.target_object(bpy.context.scene.objects, args.object)
        takes = [args.take] if args.take else livelink.takes_of(head)
        if not takes:
            raise UserError(f"{src}: {head.name} has no animation on its ARKit shape keys")
        written = []
        for take in takes:
            target = args.output / f"{src.stem}_{_safe(take)}.csv"
            with batch.atomic_output(target, args.overwrite) as tmp:
                livelink.export_csv(head, tmp, take=take)
            written.append(target.name)
        return ", ".join(written)

    return batch.run_batch(inputs, job, "export-csv", args.verbose).exit_code


def cmd_demo(args) -> int:
    paths = demo.run_demo(args.output, overwrite=True)
    for p in paths:
        print(f"wrote {p}", file=sys.stderr)
    return 0


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faceforge", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true", help="tracebacks for failures")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           help=COMMANDS_HELP)

    r = sub.add_parser("rig", help="Auto-Rig Face: give each file's head the 52 ARKit shape keys")
    r.add_argument("inputs", nargs="+", type=Path, help="scene files or folders of them")
    r.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    r.add_argument("--object", nargs="+", help="meshes forming the head (default: every mesh)")
    r.add_argument("--forward", default="-Y", choices=("-Y", "+Y", "-X", "+X", "+Z", "-Z"),
                   help="the direction the face looks in")
    r.add_argument("--no-eyes", action="store_true", help="leave eyeballs still")
    r.add_argument("--no-mouth-interior", action="store_true", help="leave teeth and tongue still")
    r.add_argument("--strength", type=float, default=1.0)
    r.add_argument("--no-preview", action="store_true", help="skip the preview take")
    r.add_argument("--format", help="output suffix (.blend, .glb, .fbx; default: the input's)")
    r.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    r.set_defaults(func=cmd_rig)

    e = sub.add_parser("emotion", help="bake an emotion track onto every rigged mesh of each file")
    e.add_argument("inputs", nargs="+", type=Path, help="scene files or folders of them")
    e.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    e.add_argument("--track", default=demo.DEMO_TRACK,
                   help="time:emotion[*intensity],... e.g. '0:neutral,2:happiness*0.8,4:sadness'")
    e.add_argument("--duration", type=float, help="seconds (default: last key + 1 s)")
    e.add_argument("--take", default="Emotion", help="action (take) name")
    e.add_argument("--start-frame", type=int, default=1)
    e.add_argument("--ease", choices=("smooth", "linear", "constant"), default="smooth")
    e.add_argument("--transition", type=float, default=0.4, help="seconds per transition")
    e.add_argument("--region", nargs="+", help="bake only these face regions, e.g. upper")
    e.add_argument("--reduce", type=float, default=0.0, help="keyframe reduction tolerance")
    e.add_argument("--format", help="output suffix (.blend, .glb, .fbx; default: the input's)")
    e.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    e.set_defaults(func=cmd_emotion)

    lipsync.add_cli(sub)
    video.add_cli(sub)
    fit.add_cli(sub)

    i = sub.add_parser("import-csv", help="bake Live Link Face CSVs onto a head, one take each")
    i.add_argument("head", type=Path, help="scene file with the rigged head")
    i.add_argument("csv", nargs="+", type=Path, help="CSV files or folders of them")
    i.add_argument("-o", "--output", type=Path, required=True, help="output scene file")
    i.add_argument("--object", help="mesh to bake onto (default: the one with most ARKit keys)")
    i.add_argument("--start-frame", type=int, default=1)
    i.add_argument("--head-rotation", action="store_true",
                   help="also rotate the object by the CSV's head yaw/pitch/roll")
    i.add_argument("--overwrite", action="store_true")
    i.set_defaults(func=cmd_import_csv)

    x = sub.add_parser("export-csv", help="write shape-key takes of .blend files as Live Link Face CSV")
    x.add_argument("inputs", nargs="+", type=Path, help=".blend files or folders of them")
    x.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    x.add_argument("--object", help="mesh to read (default: the one with most ARKit keys)")
    x.add_argument("--take", help="only this take (default: every take)")
    x.add_argument("--overwrite", action="store_true")
    x.set_defaults(func=cmd_export_csv)

    d = sub.add_parser("demo", help="built-in head + 10 s emotion performance -> .blend, .glb, .png")
    d.add_argument("-o", "--output", type=Path, default=Path("out"))
    d.set_defaults(func=cmd_demo)
    return p


def run(argv) -> int:
    """Parse argv and run one command in the current (already registered) session."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"faceforge: {exc}", file=sys.stderr)
        return 1


def main(argv=None) -> int:
    """Console entry point (PyPI bpy): register FaceForge in this process, then run."""
    from .. import register as register_faceforge
    register_faceforge()
    return run(sys.argv[1:] if argv is None else argv)


def register():
    """Hook `run` up as `blender -c faceforge ...`."""
    global _cli_handle
    if hasattr(bpy.utils, "register_cli_command"):  # Blender 4.2+
        _cli_handle = bpy.utils.register_cli_command("faceforge", run)


def unregister():
    global _cli_handle
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None


_cli_handle = None
