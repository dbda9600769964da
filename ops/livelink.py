"""Live Link Face CSV <-> shape-key takes: a CSV becomes a take, a take becomes a CSV.

The nine head/eye rotation columns are kept as animated custom properties on the object
(named like the columns, e.g. obj["HeadYaw"]) so a round trip is exact and drivers can
use them; the head rotation can also drive the object's own rotation.
"""
from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..addon import keyframes, shape_keys
from ..ml import arkit, livelink_csv
from . import batch

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
        raise ValueError("no mesh with ARKit-named shape keys found (rig it first)")
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
            with batch.atomic_output(Path(self.filepath), overwrite=True) as tmp:
                rows = export_csv(context.active_object, tmp, scene=context.scene)
        except (livelink_csv.LiveLinkCsvError, ValueError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"wrote {rows} rows to {self.filepath}")
        return {"FINISHED"}


CLASSES = (FACEFORGE_OT_import_livelink_csv, FACEFORGE_OT_export_livelink_csv)
