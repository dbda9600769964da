"""Live Link Face CSV <-> shape-key takes: a CSV becomes a take, a take becomes a CSV.

The nine head/eye rotation columns are kept as animated custom properties on the object
(named like the columns, e.g. obj["HeadYaw"]) so a round trip is exact and drivers can
use them; the head rotation can also drive the object's own rotation.
"""
from __future__ import annotations

import sys
from pathlib import Path

import bpy
import numpy as np
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..addon import keyframes, scene_files, shape_keys
from ..ml import arkit, livelink_csv
from . import batch, errors, outputs
from .errors import UserError
from .outputs import safe_name
from .targets import NoRiggedMesh
from .plan import Plan, PlannedItem, find_sources, output_name
from .scene_jobs import add_run_options, check_head, execute, load_input_scene, prepare

ROTATION_PROPS = arkit.LIVELINK_ROTATION_COLUMNS
META_PROP = "faceforge_livelink"  # on the take's action: capture fps and original timecodes


def target_object(objects, name: str | None = None):
    """The named mesh, or the mesh with the most ARKit-named shape keys."""
    meshes = [o for o in objects if o.type == "MESH"]
    if name is not None:
        found = [o for o in meshes if o.name == name]
        if not found:
            raise ValueError(f"no mesh named {name!r}; meshes: {', '.join(o.name for o in meshes)}")
        meshes = found
    scored = [(len(shape_keys.find_arkit_keys(o)), o) for o in meshes]
    scored = [s for s in scored if s[0] > 0]
    if not scored:
        raise NoRiggedMesh("no mesh with ARKit-named shape keys found (rig it first)")
    return max(scored, key=lambda s: s[0])[1]


def takes_of(obj) -> list[str]:
    return keyframes.list_takes(obj)


def head_euler(rotations: np.ndarray) -> np.ndarray:
    """Live Link head yaw/pitch/roll [T, 9+] -> Blender XYZ Euler [T, 3] (pitch about X,
    roll about Y, yaw about Z; the head faces -Y)."""
    yaw, pitch, roll = rotations[:, 0], rotations[:, 1], rotations[:, 2]
    return np.column_stack((pitch, roll, yaw))


def import_csv(obj, path: Path, take: str | None = None, start_frame: int = 1,
               apply_head_rotation: bool = False, scene=None) -> keyframes.BakeReport:
    """Bake one Live Link Face CSV onto obj as a take named after the file (or `take`)."""
    data = livelink_csv.read_livelink_csv(path)
    take = take or Path(path).stem
    # Rows with a repeated timecode cannot become keys of their own: keep the first.
    rows = np.flatnonzero(np.diff(data.times, prepend=-np.inf) > 0)
    rotations = data.rotations[rows]
    report = keyframes.bake_weights(
        obj, data.weights[rows], arkit.ARKIT_NAMES, times=data.times[rows],
        start_frame=start_frame, take=take, scene=scene,
        head_rotation=head_euler(rotations) if apply_head_rotation else None,
        object_channels=dict(zip(ROTATION_PROPS, rotations.T)))
    action = keyframes.take_action(obj, take)
    action[META_PROP] = {"fps": data.fps, "start_frame": start_frame,
                         "timecodes": [data.timecodes[i] for i in rows]}
    return report


def export_csv(obj, path: Path, take: str | None = None, scene=None) -> int:
    """Write a take (default: the active one) as Live Link Face CSV; returns the row count."""
    scene = scene or bpy.context.scene
    take = take or keyframes.active_take(obj)
    if take is None:
        raise ValueError(f"{obj.name!r} has no FaceForge take to export")
    previous = keyframes.active_take(obj)
    keyframes.set_active_take(obj, take)
    try:
        frames = keyframes.take_frames(obj)
        weights = keyframes.read_weights(obj, arkit.ARKIT_NAMES, frames)
        rotations = keyframes.read_object_channels(obj, ROTATION_PROPS, frames)
        meta = keyframes.take_action(obj, take).get(META_PROP)
    finally:
        if previous is not None:
            keyframes.set_active_take(obj, previous)
    rate = keyframes.scene_fps(scene)
    start = meta["start_frame"] if meta else frames[0]
    times = (frames - start) / rate
    fps = meta["fps"] if meta else rate
    timecodes = list(meta["timecodes"]) if meta and len(meta["timecodes"]) == len(frames) else []
    livelink_csv.write_livelink_csv(
        path, livelink_csv.LiveLinkTake(times=times, weights=weights, rotations=rotations,
                                        timecodes=timecodes), fps=fps)
    return len(frames)


class FACEFORGE_OT_import_livelink_csv(bpy.types.Operator, ImportHelper):
    """Bake a Live Link Face CSV onto the active mesh's ARKit shape keys as a new take"""
    bl_idname = "faceforge.import_livelink_csv"
    bl_label = "Import CSV"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".csv"
    filter_glob: bpy.props.StringProperty(default="*.csv", options={"HIDDEN"})
    apply_head_rotation: bpy.props.BoolProperty(
        name="Head Rotation", default=False,
        description="Also rotate the object by the CSV's head yaw, pitch and roll")

    @classmethod
    def poll(cls, context):
        return context.active_object is not None and context.active_object.type == "MESH"

    def execute(self, context):
        try:
            rep = import_csv(context.active_object, Path(self.filepath),
                             start_frame=context.scene.faceforge.start_frame,
                             apply_head_rotation=self.apply_head_rotation, scene=context.scene)
        except (livelink_csv.LiveLinkCsvError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        msg = f"imported {Path(self.filepath).name}: {len(rep.baked)} shapes"
        if rep.missing:
            msg += f"; this mesh lacks {len(rep.missing)} ({', '.join(rep.missing[:6])})"
        self.report({"WARNING"} if rep.missing else {"INFO"}, msg)
        return {"FINISHED"}


class FACEFORGE_OT_export_livelink_csv(bpy.types.Operator, ExportHelper):
    """Write the active mesh's active take as a Live Link Face CSV"""
    bl_idname = "faceforge.export_livelink_csv"
    bl_label = "Export CSV"

    filename_ext = ".csv"
    filter_glob: bpy.props.StringProperty(default="*.csv", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return obj is not None and obj.type == "MESH" and obj.data.shape_keys is not None

    def execute(self, context):
        try:  # the file browser already asked before replacing an existing file
            with outputs.atomic_output(Path(self.filepath), overwrite=True) as tmp:
                rows = export_csv(context.active_object, tmp, scene=context.scene)
        except (livelink_csv.LiveLinkCsvError, ValueError, UserError, OSError) as exc:
            self.report({"ERROR"}, errors.message(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"wrote {rows} rows to {self.filepath}")
        return {"FINISHED"}


CLASSES = (FACEFORGE_OT_import_livelink_csv, FACEFORGE_OT_export_livelink_csv)


def import_target(args) -> Path:
    """-o: a scene file (its suffix picks the format), or a folder that gets <head>.blend."""
    out = args.output
    if out.is_dir() or not out.suffix:
        return out / f"{args.head.stem}.blend"
    batch.check_format(out.suffix.lower(), scene_files.SAVE_SUFFIXES)
    return out


def cmd_import_csv(args) -> int:
    """Every CSV becomes a take on one head; the head is saved once, if any take baked."""
    target = import_target(args)
    plan = Plan.build("import-csv", [PlannedItem(args.head, target, str(args.head))],
                      args.overwrite)
    csvs = find_sources(args.csv, (".csv",))
    head: list = []

    def check(objects) -> None:
        head.append(target_object(objects, args.object))

    def take(path: Path) -> str:
        batch.check_input(path, (".csv",))
        rep = import_csv(head[0], path, take=None, start_frame=args.start_frame,
                         apply_head_rotation=args.head_rotation)
        return f"take '{path.stem}' ({len(rep.baked)} shapes)"

    stop = prepare(args, plan, before=lambda: check_head(args.head, check))
    if stop is not None:
        if getattr(args, "dry_run", False):
            print("\n".join(f"  take from {s.path}" for s in csvs))
        return stop
    if plan.blocked:
        print(f"FAILED {args.head}: {plan.blocked[str(args.head)]}", file=sys.stderr)
        return 1
    result = batch.run_batch([s.path for s in csvs], take, "import-csv",
                             getattr(args, "verbose", False))
    if result.interrupted:
        print(f"nothing was written ({target} needs every take to finish)", file=sys.stderr)
        return result.exit_code
    if result.ok:
        try:
            with outputs.atomic_output(target, args.overwrite) as tmp:
                scene_files.save_scene(tmp)
        except UserError as exc:
            print(f"FAILED {args.head}: {errors.message(exc)}", file=sys.stderr)
            return 1
        print(f"wrote {target}", file=sys.stderr)
    return result.exit_code


def cmd_export_csv(args) -> int:
    """Every take of each .blend file as <out>/<name>_<take>.csv."""
    take_part = safe_name(args.take) if args.take else "*"
    items = [PlannedItem(s.path, args.output / output_name(s, f"_{take_part}.csv"), str(s.path))
             for s in find_sources(args.inputs, (".blend",))]
    plan = Plan.build("export-csv", items, args.overwrite)

    def job(item: PlannedItem) -> str:
        load_input_scene(item.input)
        head = target_object(bpy.context.scene.objects, args.object)
        takes = [args.take] if args.take else takes_of(head)
        if not takes:
            raise UserError(f"{head.name} has no animation on its ARKit shape keys")
        targets = [item.output.with_name(item.output.name.replace(f"_{take_part}.csv",
                                                                  f"_{safe_name(t)}.csv"))
                   for t in takes]
        for target in targets:  # all or none: check every name before writing any
            if target.exists() and not args.overwrite:
                raise UserError(outputs.exists_message(target))
        for take, target in zip(takes, targets):
            with outputs.atomic_output(target, args.overwrite) as tmp:
                export_csv(head, tmp, take=take)
        return ", ".join(t.name for t in targets)

    return execute(args, plan, job)


def add_cli(sub) -> None:
    """Add `faceforge import-csv` and `faceforge export-csv` to the command line."""
    i = sub.add_parser("import-csv", help="bake Live Link Face CSVs onto a head, one take each")
    i.add_argument("head", type=Path, help="scene file with the rigged head")
    i.add_argument("csv", nargs="+", type=Path, help="CSV files or folders of them")
    i.add_argument("-o", "--output", type=Path, required=True,
                   help="output scene file, or a folder (gets <head name>.blend)")
    i.add_argument("--object", help="mesh to bake onto (default: the one with most ARKit keys)")
    i.add_argument("--start-frame", type=int, default=1)
    i.add_argument("--head-rotation", action="store_true",
                   help="also rotate the object by the CSV's head yaw/pitch/roll")
    add_run_options(i)
    i.set_defaults(func=cmd_import_csv)

    x = sub.add_parser("export-csv", help="write shape-key takes of .blend files as Live Link Face CSV")
    x.add_argument("inputs", nargs="+", type=Path, help=".blend files or folders of them")
    x.add_argument("-o", "--output", type=Path, required=True,
                   help="output folder: <file name>_<take>.csv per take")
    x.add_argument("--object", help="mesh to read (default: the one with most ARKit keys)")
    x.add_argument("--take", help="only this take (default: every take)")
    add_run_options(x)
    x.set_defaults(func=cmd_export_csv)
