"""Auto-Rig Face: predict the 52 ARKit shapes for the selected head (and its separate eye,
teeth or tongue objects) and write them as FaceForge shape keys, plus a preview take."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Generator

import bpy
import numpy as np

from ..addon import avatar, keyframes, mesh_io, rig_sheet, scene_files, shape_keys
from ..ml import arkit
from ..ml.arkit import REGIONS
from ..ml.autorig import infer
from ..ml.steps import in_thread, run_steps
from . import batch
from .background import ModalSteps
from .outputs import safe_name
from .plan import find_sources
from .scene_jobs import add_scene_job_parser, plan_scene_jobs, run_scene_jobs
from .targets import MAX_STRENGTH, check_scale

PREVIEW_TAKE = "FaceForge Preview"
PREVIEW_FRAMES_PER_SHAPE = 12


def _world_arrays(objects, masks=None):
    """Concatenate the objects' meshes (without modifiers) in world space, one part range
    each; with `masks` (one [V] bool per object) only those vertices and their triangles."""
    arrays = [mesh_io.read_mesh(o) for o in objects]
    verts, tris, labels, offset, label_offset = [], [], [], 0, 0
    for i, a in enumerate(arrays):
        m = a.matrix_world.astype(np.float64)
        keep = np.ones(len(a.verts), bool) if masks is None else masks[i]
        remap = np.cumsum(keep) - 1
        verts.append((a.verts @ m[:3, :3].T + m[:3, 3])[keep])
        tris.append(remap[a.tris[keep[a.tris].all(axis=1)]] + offset)
        labels.append(a.part_labels[keep] + label_offset)
        offset += int(keep.sum())
        label_offset += int(a.part_labels.max(initial=-1)) + 1
    return arrays, np.concatenate(verts), np.concatenate(tris), np.concatenate(labels)


def preview_weights() -> np.ndarray:
    """[52 * n, 52] weights that raise and lower each shape in turn (a smooth bump each)."""
    n = PREVIEW_FRAMES_PER_SHAPE
    bump = np.sin(np.linspace(0.0, np.pi, n)) ** 2
    w = np.zeros((arkit.NUM_SHAPES * n, arkit.NUM_SHAPES), dtype=np.float32)
    for_shape = np.repeat(np.arange(arkit.NUM_SHAPES), n)
    w[np.arange(len(w)), for_shape] = np.tile(bump, arkit.NUM_SHAPES)
    return w


def check_options(options: infer.RigOptions) -> None:
    """ValueError, worded for the user, for a strength that is negative or absurd."""
    check_scale("strength", options.strength, MAX_STRENGTH)
    for region, value in options.region_strength.items():
        check_scale(f"{region} strength", value, MAX_STRENGTH)


def rig_steps(objects, options: infer.RigOptions, preview: bool = True, find: bool = False
              ) -> Generator[float, None, tuple[list[shape_keys.KeyWriteReport], infer.RigResult]]:
    """Rig the given mesh objects as one head, as steps (the prediction's share done; it
    runs on a thread, since it touches no bpy); returns the per-object key reports and the
    prediction (with its warnings). With `find`, the objects are a whole file's or
    avatar's meshes and only the face found among them is rigged (`avatar.find_head`;
    the result's notes say what was rigged). Nothing is written unless prediction succeeds,
    so closing the steps (a cancel) leaves the meshes as they were."""
    check_options(options)
    meshes = [o for o in objects if o.type == "MESH"]
    if not meshes:
        raise ValueError("no mesh to rig: select the head (or any part of the avatar)")
    for o in meshes:
        if o.mode == "EDIT":
            raise ValueError(f"{o.name!r} is in Edit Mode; leave it before rigging")
    masks, notes = None, []
    if find:
        meshes, masks, notes, options = avatar.find_head(meshes, options)
    arrays, verts, tris, labels = _world_arrays(meshes, masks)
    result = yield from in_thread(      # stops at the prediction's next progress report
        lambda progress, cancel: infer.rig(verts, tris, labels, options, progress=progress),
        "faceforge-autorig")
    result.notes = [f"rigged {', '.join(o.name for o in meshes)}"] + notes + result.notes
    reports, start = [], 0
    before = [shape_keys.snapshot(obj, arkit.ARKIT_NAMES) for obj in meshes]
    try:
        for i, (obj, a) in enumerate(zip(meshes, arrays)):
            keep = slice(None) if masks is None else masks[i]
            n = len(a.verts) if masks is None else int(keep.sum())
            world = np.zeros((arkit.NUM_SHAPES, len(a.verts), 3), np.float32)
            world[:, keep] = result.deltas[:, start:start + n]
            start += n
            to_local = np.linalg.inv(a.matrix_world.astype(np.float64)[:3, :3])
            local = (world @ to_local.T).astype(np.float32)
            reports.append(shape_keys.write_shape_keys(obj, local, arkit.ARKIT_NAMES))
    except BaseException:
        for obj, snap in zip(meshes, before):  # all-or-nothing across the objects too
            shape_keys.restore(obj, snap)
        raise
    if preview:
        for obj in meshes:
            keyframes.bake_weights(obj, preview_weights(), arkit.ARKIT_NAMES, take=PREVIEW_TAKE)
    return reports, result


def rig_objects(objects, options: infer.RigOptions, preview: bool = True, progress=None,
                find: bool = False) -> tuple[list[shape_keys.KeyWriteReport], infer.RigResult]:
    """`rig_steps` run through (`progress(share)`)."""
    return run_steps(rig_steps(objects, options, preview, find), progress)


class FACEFORGE_OT_auto_rig(ModalSteps, bpy.types.Operator):
    """Give the selected head mesh the 52 ARKit shape keys (eyes, teeth and tongue included)"""
    bl_idname = "faceforge.auto_rig"
    bl_label = "Auto-Rig Face"
    bl_options = {"REGISTER", "UNDO"}
    steps_label = "Auto-Rig Face"

    forward_axis: bpy.props.EnumProperty(
        name="Forward", default="-Y", description="The direction the face looks in",
        items=[(a, a, f"The face looks toward {a}") for a in ("-Y", "+Y", "-X", "+X", "+Z", "-Z")])
    include_eyes: bpy.props.BoolProperty(
        name="Eyes", default=True, description="Rotate eyeballs for the eyeLook shapes")
    include_mouth_interior: bpy.props.BoolProperty(
        name="Teeth and Tongue", default=True,
        description="Move teeth, gums and tongue with the jaw (off: they stay still)")
    strength: bpy.props.FloatProperty(name="Strength", default=1.0, min=0.0, soft_max=2.0)
    region_strength: bpy.props.FloatVectorProperty(
        name="Region Strength", size=len(REGIONS), default=(1.0,) * len(REGIONS), min=0.0,
        soft_max=2.0, description="Strength per face region: " + ", ".join(REGIONS))
    preview: bpy.props.BoolProperty(name="Preview Take", default=True,
                                    description="Bake a take that plays each shape in turn")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "forward_axis")
        row = layout.row()
        row.prop(self, "include_eyes")
        row.prop(self, "include_mouth_interior")
        layout.prop(self, "strength")
        col = layout.column(align=True, heading="Regions")
        for i, region in enumerate(REGIONS):
            col.prop(self, "region_strength", index=i, text=region.replace("_", " & ").title())
        layout.prop(self, "preview")

    @classmethod
    def poll(cls, context):
        return any(o.type in ("MESH", "ARMATURE") for o in context.selected_objects)

    def execute(self, context):
        """The meshes read and checked first, the prediction in the background (progress,
        Esc cancels), the keys written when it ends."""
        selected = list(context.selected_objects)
        meshes = avatar.avatar_meshes(selected, context.scene.objects)
        # One loose mesh selected on its own is the head, as the user says; anything
        # bigger (an avatar's hierarchy, several meshes) is searched for the face.
        find = len(meshes) > 1 or any(o.parent is not None or o.children for o in selected)
        steps = rig_steps(
            meshes,
            infer.RigOptions(forward_axis=self.forward_axis, include_eyes=self.include_eyes,
                             include_mouth_interior=self.include_mouth_interior,
                             strength=self.strength,
                             region_strength=dict(zip(REGIONS, self.region_strength))),
            preview=self.preview, find=find)
        return self.run_steps_modal(context, steps)

    def finish(self, context, result):
        reports, result = result
        kept = sorted({n for r in reports for n in r.kept_user})
        msg = "rigged: 52 ARKit shapes"
        for note in result.notes:
            self.report({"INFO"}, note)
        if kept:
            msg += f"; kept your own {len(kept)} keys ({', '.join(kept[:5])})"
        for w in result.warnings:
            self.report({"WARNING"}, w)
        self.report({"INFO"}, msg)
        return {"FINISHED"}


SHEET_IMAGE = "FaceForge Shapes"


def sheet_path(mesh) -> Path:
    """Where the sheet button writes: Blender's session temp folder, named after the
    (first) rigged mesh; never beside the user's file, so nothing of theirs is replaced."""
    return Path(bpy.app.tempdir or tempfile.gettempdir()) / f"faceforge_shapes_{safe_name(mesh.name)}.png"


class FACEFORGE_OT_rig_sheet(bpy.types.Operator):
    """Render the 52 shapes of the selected rigged meshes as one contact sheet (13 x 4 tiles)
    and open it as the image 'FaceForge Shapes'"""
    bl_idname = "faceforge.rig_sheet"
    bl_label = "Contact Sheet of Shapes"

    @classmethod
    def poll(cls, context):
        return bool(rig_sheet.rigged_meshes(avatar.avatar_meshes(list(context.selected_objects),
                                                                context.scene.objects)))

    def execute(self, context):
        meshes = rig_sheet.rigged_meshes(avatar.avatar_meshes(list(context.selected_objects),
                                                               context.scene.objects))
        if not meshes:
            self.report({"ERROR"}, "select a mesh with the 52 ARKit shape keys (run Auto-Rig Face first)")
            return {"CANCELLED"}
        path = sheet_path(meshes[0])
        try:
            rig_sheet.write_sheet(meshes, path)
        except (ValueError, RuntimeError) as exc:
            self.report({"ERROR"}, f"contact sheet failed: {exc}")
            return {"CANCELLED"}
        image = bpy.data.images.get(SHEET_IMAGE)
        if image is None:
            image = bpy.data.images.load(str(path))
            image.name = SHEET_IMAGE
        else:
            image.filepath = str(path)
            image.reload()
        for area in (context.screen.areas if context.screen else ()):
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
                break
        self.report({"INFO"}, f"contact sheet of the 52 shapes: image '{SHEET_IMAGE}' ({path})")
        return {"FINISHED"}


CLASSES = (FACEFORGE_OT_auto_rig, FACEFORGE_OT_rig_sheet)


def cmd_rig(args) -> int:
    """One output scene per input scene: its head (every mesh, or --object) rigged."""
    options = infer.RigOptions(forward_axis=args.forward, include_eyes=not args.no_eyes,
                               include_mouth_interior=not args.no_mouth_interior,
                               strength=args.strength)
    try:
        check_options(options)  # a bad value fails once, before any file
    except ValueError as exc:
        raise SystemExit(f"faceforge rig: --{exc}") from None

    def work(src: Path) -> str:
        objects = [o for o in bpy.context.scene.objects if o.type == "MESH"]
        if args.object:
            objects = [o for o in objects if o.name in args.object]
            if len(objects) != len(args.object):
                missing = sorted(set(args.object) - {o.name for o in objects})
                raise ValueError(f"no mesh named {', '.join(missing)} in it")
        if not objects:
            raise ValueError("it holds no mesh to rig")
        reports, result = rig_objects(objects, options, preview=not args.no_preview,
                                      progress=batch.share_printer(src.name, "rigging"),
                                      find=not args.object)
        notes = result.notes + result.warnings
        if args.sheet:
            sheet = args.output / f"{src.stem}_shapes.png"
            if sheet.exists() and not args.overwrite:
                raise ValueError(f"{sheet} already exists (pass --overwrite to replace it)")
            rig_sheet.write_sheet(bpy.context.scene.objects, sheet)
            notes.append(f"contact sheet {sheet}")
        return "; ".join(notes)

    sources = find_sources(args.inputs, scene_files.SCENE_SUFFIXES)
    return run_scene_jobs(args, plan_scene_jobs(args, "rig", sources), work)


def add_cli(sub) -> None:
    """Add `faceforge rig SCENE... -o DIR` to the command line's subparsers."""
    p = add_scene_job_parser(sub, "rig",
                             "Auto-Rig Face: give each file's head the 52 ARKit shape keys")
    p.add_argument("--object", nargs="+",
                   help="meshes forming the head (default: the face found among every mesh)")
    p.add_argument("--forward", default="-Y", choices=("-Y", "+Y", "-X", "+X", "+Z", "-Z"),
                   help="the direction the face looks in")
    p.add_argument("--no-eyes", action="store_true", help="leave eyeballs still")
    p.add_argument("--no-mouth-interior", action="store_true", help="leave teeth and tongue still")
    p.add_argument("--strength", type=float, default=1.0,
                   help=f"scale every shape (0 to {MAX_STRENGTH:g}; default 1)")
    p.add_argument("--no-preview", action="store_true", help="skip the preview take")
    p.add_argument("--sheet", action="store_true",
                   help="also write OUTPUT/<name>_shapes.png, the 52 shapes side by side")
    p.set_defaults(func=cmd_rig)
