"""Bake Video: a face clip -> the 52 ARKit weights and head rotation on every rigged mesh
(head rotation on the mesh objects or on an armature's bone); a head that carries only
visemes or VRM presets gets its mouth (and VRM blink) retargeted from the 52 weights. The operator tracks in the
background with progress and Esc to cancel; `faceforge video` runs the same functions."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np
from bpy_extras.io_utils import ImportHelper

from ..addon import keyframes, shape_keys
from ..addon.head_rotation import bone_euler, object_euler
from ..ml import arkit
from ..ml.video.decode import IMAGE_EXTS
from ..ml.video.pipeline import METHODS, VideoOptions, VideoResult, analyse_steps
from ..ml.steps import run_steps
from . import batch
from .background import ModalSteps
from .plan import Source, find_sources
from .scene_jobs import add_head_job_parser, plan_head_jobs, run_scene_jobs
from .targets import SET_CHOICES, SET_ITEMS, bake_onto, describe, mouth_meshes

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".webm", ".mkv", ".mpg", ".mpeg")
GAIN_REGIONS = ("brow", "eye", "cheek_nose", "mouth", "jaw")


@dataclass
class HeadTarget:
    """Where head rotation goes: "object" (each rigged mesh), "bone" (armature + bone
    name) or "none"."""
    mode: str = "object"
    armature: object = None
    bone: str = ""


@dataclass
class VideoBake:
    """What a bake did: per-object reports, the analysis, and notes for the user."""
    results: list = field(default_factory=list)
    analysis: VideoResult | None = None
    warnings: list[str] = field(default_factory=list)


def check_targets(objects, take: str, head: HeadTarget, target: str = "auto") -> list:
    """(mesh, shape set) for the meshes to bake onto: those with ARKit keys, else the
    mouth-shape set each carries (`target`: "auto" or one of ml.lipsync.targets.SETS);
    ValueError, worded for the user, when the bake cannot start (checked before the clip
    is analysed, which takes a while)."""
    targets = mouth_meshes(objects, target, any_arkit=True)
    if not take:
        raise ValueError("take needs a name")
    if head.mode == "bone":
        arm = head.armature
        if arm is None or arm.type != "ARMATURE" or arm.pose.bones.get(head.bone) is None:
            raise ValueError(f"head bone {head.bone!r} not found on armature "
                             f"{getattr(arm, 'name', None)!r}")
    elif head.mode not in ("object", "none"):
        raise ValueError(f"head rotation goes to 'object', 'bone' or 'none', not {head.mode!r}")
    return targets


def apply_video(targets, res: VideoResult, *, take: str, start_frame: int,
                head: HeadTarget, scene) -> VideoBake:
    """Bake an analysed clip onto checked targets; the scene's end grows to fit the clip."""
    out = VideoBake(analysis=res, warnings=list(res.warnings))
    for obj, shape_set in targets:
        rotation = object_euler(obj, res.head_rotation) if head.mode == "object" else None
        weights, names, keys = bake_onto(obj, shape_set, res.weights)
        out.results.append((obj, keyframes.bake_weights(
            obj, weights, names, start_frame=start_frame, take=take,
            head_rotation=rotation, scene=scene, shape_keys=keys)))
    if head.mode == "bone":
        keyframes.bake_bone_rotation(head.armature, head.bone,
                                     bone_euler(head.armature, head.bone, res.head_rotation),
                                     start_frame=start_frame, take=take, scene=scene)
    last = start_frame + len(res.weights) - 1
    if last > scene.frame_end:
        out.warnings.append(f"the clip runs past the scene's end: extended it from frame "
                            f"{scene.frame_end} to {last}")
        scene.frame_end = last
    return out


class LivePreview:
    """While Bake Video tracks, the target meshes show the latest tracked frame on their
    shape keys (values only, no keys written; the blendshape model's raw scores, on
    each mesh's own set), and `restore` puts every value back as it was."""

    def __init__(self, targets):
        self.targets = list(targets)
        self.latest: np.ndarray | None = None
        self.saved = {}
        for obj, _ in self.targets:
            blocks = obj.data.shape_keys.key_blocks
            self.saved[obj.name] = {kb.name: kb.value for kb in blocks}

    def __call__(self, weights: np.ndarray) -> None:
        """analyse_steps' preview hook: remember the newest frame [52]."""
        self.latest = weights

    def show(self) -> bool:
        """Put the newest frame on the meshes; False if no frame has come yet."""
        if self.latest is None:
            return False
        for obj, shape_set in self.targets:
            weights, names, keys = bake_onto(obj, shape_set, self.latest[None])
            keys = keys or shape_keys.find_arkit_keys(obj)
            blocks = obj.data.shape_keys.key_blocks
            for name, value in zip(names, weights[0]):
                if name in keys:
                    blocks[keys[name]].value = float(value)
        return True

    def restore(self) -> None:
        for obj, _ in self.targets:
            blocks = obj.data.shape_keys.key_blocks
            for name, value in self.saved[obj.name].items():
                if name in blocks:
                    blocks[name].value = value


def bake_video(objects, clip, *, options: VideoOptions | None = None, take: str = "Video",
               start_frame: int = 1, head: HeadTarget | None = None, scene=None,
               target: str = "auto", progress=None, cancel=None) -> VideoBake:
    """Analyse `clip` and bake it onto every rigged mesh among `objects` (on the shape set
    `target`, see check_targets). Everything is
    checked and analysed before the first key is written, so a failure (ValueError) or a
    cancel (`cancel()` true: steps.Cancelled) leaves the scene as it was. `progress(share)` per frame."""
    scene = scene or bpy.context.scene
    head = head or HeadTarget()
    targets = check_targets(objects, take, head, target)
    steps = analyse_steps(Path(clip), keyframes.scene_fps(scene), options)
    res = run_steps(steps, progress, cancel)
    return apply_video(targets, res, take=take, start_frame=start_frame, head=head, scene=scene)


def summary(bake: VideoBake) -> str:
    """One line: what was baked, how well the face was tracked, and any warnings."""
    res = bake.analysis
    text = (f"{describe(bake.results)}; {len(res.weights)} frames from {res.duration:.1f} s, "
            f"face tracked in {res.tracked:.0%} of frames")
    if res.filled:
        text += f", {res.filled} lost frame(s) held and blended"
    return "; ".join([text] + bake.warnings)


def _gain(name: str, what: str):
    return bpy.props.FloatProperty(name=name, default=1.0, min=0.0, max=3.0,
                                   description=f"Scale the {what} shapes")


class FACEFORGE_OT_bake_video(ModalSteps, bpy.types.Operator, ImportHelper):
    """Animate the selected meshes' ARKit shape keys from a video of a face"""
    bl_idname = "faceforge.bake_video"
    bl_label = "Bake Video"
    bl_options = {"REGISTER", "UNDO"}
    steps_label = "Bake Video: tracking"

    filter_glob: bpy.props.StringProperty(
        default=";".join("*" + s for s in VIDEO_SUFFIXES + IMAGE_EXTS), options={"HIDDEN"})
    take: bpy.props.StringProperty(name="Take", default="Video",
                                   description="Action (take) name; re-baking replaces it")
    start_frame: bpy.props.IntProperty(name="Start Frame", default=1,
                                       description="Frame where the clip starts")
    method: bpy.props.EnumProperty(
        name="Tracker", default="LANDMARKER" if VideoOptions().method == "landmarker" else "REGRESSOR",
        items=(("LANDMARKER", "Face Landmarker",
                "MediaPipe's blendshapes (trained on real faces), filled, calibrated and steadied"),
               ("REGRESSOR", "FACS Regressor", "FaceForge's landmark regressor (Face Mesh)")))
    two_trackers: bpy.props.BoolProperty(
        name="Face Landmarker Task", default=VideoOptions().two_trackers,
        description="Run MediaPipe's Face Landmarker task beside Face Mesh (its own landmarks "
                    "and head matrix) instead of its blendshape model on Face Mesh's "
                    "landmarks: about 3x slower")
    calibration: bpy.props.EnumProperty(
        name="Neutral", default="AUTO",
        items=(("AUTO", "Quietest Frames", "The actor's neutral face from the clip's calmest frames"),
               ("RANGE", "Time Range", "The actor holds a neutral face between the given times"),
               ("NONE", "None", "Use the tracked expression as is")))
    neutral_start: bpy.props.FloatProperty(name="Neutral From", default=0.0, min=0.0, unit="TIME_ABSOLUTE")
    neutral_end: bpy.props.FloatProperty(name="Neutral To", default=1.0, min=0.0, unit="TIME_ABSOLUTE")
    smoothing: bpy.props.FloatProperty(
        name="Extra Smoothing", default=0.0, min=0.0, max=0.5, unit="TIME_ABSOLUTE",
        description="Seconds of extra smoothing (0: the tracker's own steadiness; more is calmer but slower)")
    target: bpy.props.EnumProperty(name="Mouth Shapes", default="auto", items=SET_ITEMS)
    live_preview: bpy.props.BoolProperty(
        name="Live Preview", default=True,
        description="While tracking, show each tracked frame on the head (the blendshape model's raw scores; "
                    "values are put back before the bake is written)")
    head_mode: bpy.props.EnumProperty(
        name="Head Rotation", default="OBJECT",
        items=(("OBJECT", "Object", "Rotate the rigged meshes"),
               ("BONE", "Bone", "Rotate a bone of an armature"),
               ("NONE", "None", "Bake no head rotation")))
    armature: bpy.props.StringProperty(name="Armature", description="Armature object for the head bone")
    bone: bpy.props.StringProperty(name="Bone", description="Head bone to rotate")
    gain_brow: _gain("Brows", "brow")
    gain_eye: _gain("Eyes", "blink, squint and gaze")
    gain_cheek_nose: _gain("Cheeks & Nose", "cheek and nose")
    gain_mouth: _gain("Mouth", "mouth")
    gain_jaw: _gain("Jaw", "jaw")

    _preview = None

    @classmethod
    def poll(cls, context):
        return any(o.type == "MESH" for o in context.selected_objects)

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "take")
        layout.prop(self, "start_frame")
        layout.prop(self, "method")
        if self.method == "LANDMARKER":
            layout.prop(self, "two_trackers")
        layout.prop(self, "calibration")
        if self.calibration == "RANGE":
            row = layout.row(align=True)
            row.prop(self, "neutral_start")
            row.prop(self, "neutral_end")
        layout.prop(self, "smoothing")
        layout.prop(self, "target")
        layout.prop(self, "live_preview")
        layout.prop(self, "head_mode")
        if self.head_mode == "BONE":
            layout.prop_search(self, "armature", bpy.data, "objects")
            arm = bpy.data.objects.get(self.armature)
            if arm is not None and arm.type == "ARMATURE":
                layout.prop_search(self, "bone", arm.data, "bones")
        col = layout.column(align=True, heading="Gain")
        for r in GAIN_REGIONS:
            col.prop(self, f"gain_{r}")

    def _options(self) -> VideoOptions:
        calibration = {"AUTO": "auto", "NONE": "none"}.get(
            self.calibration, (self.neutral_start, self.neutral_end))
        gains = {r: getattr(self, f"gain_{r}") for r in GAIN_REGIONS
                 if getattr(self, f"gain_{r}") != 1.0}
        return VideoOptions(method=self.method.lower(), two_trackers=self.two_trackers,
                            calibration=calibration, gains=gains, smoothing=self.smoothing)

    def _head(self) -> HeadTarget:
        return HeadTarget(self.head_mode.lower(), bpy.data.objects.get(self.armature), self.bone)

    def execute(self, context):
        try:
            self._targets = check_targets(context.selected_objects, self.take, self._head(),
                                          self.target)
            interactive = not bpy.app.background and context.window is not None
            self._preview = LivePreview(self._targets) if self.live_preview and interactive \
                else None
            steps = analyse_steps(Path(self.filepath), keyframes.scene_fps(context.scene),
                                  self._options(), preview=self._preview)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return self.run_steps_modal(context, steps)

    def on_step(self, context) -> None:
        if self._preview is not None and self._preview.show():
            for area in context.screen.areas:
                if area.type == "VIEW_3D":
                    area.tag_redraw()

    def on_stop(self, context) -> None:
        if self._preview is not None:
            self._preview.restore()  # the scene as it was: the bake (or nothing) follows

    def finish(self, context, res: VideoResult):
        try:
            bake = apply_video(self._targets, res, take=self.take, start_frame=self.start_frame,
                               head=self._head(), scene=context.scene)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        missing = any(rep.missing for _, rep in bake.results)
        self.report({"WARNING"} if missing or bake.warnings else {"INFO"}, summary(bake))
        return {"FINISHED"}


CLASSES = (FACEFORGE_OT_bake_video,)


def expand_clips(paths) -> list[Source]:
    """Clip files given directly or inside folders; a folder of images (no clips) or a
    printf pattern (frame_%04d.png) is one image-sequence clip."""
    out: list[Source] = []
    for p in map(Path, paths):
        if p.is_dir() and not any(f.suffix.lower() in VIDEO_SUFFIXES for f in p.rglob("*")):
            out.append(Source(p, Path(p.name)))  # an image sequence (open_video says so if it holds no images)
        else:
            out.extend(find_sources([p], VIDEO_SUFFIXES))
    return out


def parse_calibration(text: str):
    """'auto', 'none' or 'START-END' (seconds) -> VideoOptions.calibration."""
    if text in ("auto", "none"):
        return text
    try:
        start, end = (float(v) for v in text.split("-"))
    except ValueError:
        raise SystemExit(f"faceforge: --neutral must be auto, none or START-END seconds, "
                         f"got {text!r}") from None
    return start, end


def parse_gains(items) -> dict[str, float]:
    """['mouth=1.2', 'brow=0.8'] -> {region: gain}."""
    gains = {}
    for item in items or []:
        region, _, value = item.partition("=")
        try:
            gains[region] = float(value)
            arkit.region_mask(region)
        except ValueError as exc:
            raise SystemExit(f"faceforge: --gain {item!r}: {exc}") from None
    return gains


def _head_target(spec: str) -> HeadTarget:
    """'object', 'none' or 'ARMATURE:BONE' in the loaded scene; ValueError, worded for the
    user, when the armature is not there."""
    if spec in ("object", "none"):
        return HeadTarget(spec)
    arm, _, bone = spec.partition(":")
    obj = bpy.data.objects.get(arm)
    if obj is None or obj.type != "ARMATURE":
        found = [o.name for o in bpy.data.objects if o.type == "ARMATURE"]
        raise ValueError(f"--head-rotation: no armature named {arm!r} in it "
                         f"(armatures: {', '.join(found) or 'none'})")
    return HeadTarget("bone", obj, bone)


def _check_head_rotation(spec: str) -> None:
    if spec not in ("object", "none") and (":" not in spec or not all(spec.partition(":")[::2])):
        raise SystemExit(f"faceforge video: --head-rotation must be object, none or "
                         f"ARMATURE:BONE (e.g. Rig:head), got {spec!r}")


def cmd_video(args) -> int:
    """One output scene per clip: the head with a video take."""
    options = VideoOptions(method=args.method, two_trackers=args.two_trackers,
                           calibration=parse_calibration(args.neutral),
                           gains=parse_gains(args.gain), smoothing=args.smoothing,
                           sequence_fps=args.fps)
    try:
        options.check()  # a bad value fails once, before any clip
    except ValueError as exc:
        raise SystemExit(f"faceforge video: {exc}") from None
    _check_head_rotation(args.head_rotation)

    def bake(clip: Path) -> str:
        return summary(bake_video(bpy.context.scene.objects, clip, options=options,
                                  take=args.take, start_frame=args.start_frame,
                                  head=_head_target(args.head_rotation), target=args.target,
                                  progress=batch.share_printer(clip.name, "tracking")))

    def head_check(objects) -> None:
        check_targets(objects, args.take, _head_target(args.head_rotation), args.target)

    plan = plan_head_jobs(args, "video", expand_clips(args.clips))
    return run_scene_jobs(args, plan, bake, head_check=head_check)


def add_cli(sub) -> None:
    """Add `faceforge video HEAD CLIP... -o DIR` to the command line's subparsers."""
    p = add_head_job_parser(
        sub, "video", "bake face video clips onto a rigged head", "clips",
        "video files, folders of them, image-sequence folders or frame_%%04d.png", "Video")
    p.add_argument("--method", choices=METHODS, default=VideoOptions().method,
                   help="landmarker: MediaPipe Face Landmarker blendshapes, refined; "
                        "regressor: FaceForge's landmark regressor")
    p.add_argument("--two-trackers", action="store_true",
                   help="landmarker: run MediaPipe's Face Landmarker task beside Face Mesh "
                        "(its own landmarks and head matrix; ~3x slower) instead of its "
                        "blendshape model on Face Mesh's landmarks")
    p.add_argument("--neutral", default="auto",
                   help="actor's neutral: auto (from the clip's calm frames), none, or START-END seconds")
    p.add_argument("--gain", nargs="+", metavar="REGION=GAIN",
                   help=f"scale regions ({', '.join(arkit.REGIONS)}, upper, lower)")
    p.add_argument("--smoothing", type=float, default=0.0, help="extra smoothing in seconds")
    p.add_argument("--fps", type=float, metavar="RATE",
                   help="frame rate of image sequences (default: the rate in fps.txt beside "
                        "the images, else 30 with a warning); video files keep their own")
    p.add_argument("--target", choices=SET_CHOICES, default="auto",
                   help="shape set to animate (default: ARKit where a mesh has it, else the "
                        "viseme or VRM set it carries, mouth and blink retargeted)")
    p.add_argument("--head-rotation", default="object", metavar="object|none|ARMATURE:BONE",
                   help="where the head rotation goes")
    p.set_defaults(func=cmd_video)
