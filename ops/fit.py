"""Fit to Photo: bone values that make a head resemble the face in a photo. The operator,
`faceforge fit HEAD PHOTOS... -o DIR` and the evaluation run the same functions:
prepare_rig (find or generate the face rig), ensure_imitator (train or load the rig's
imitator and translator, cached), fit_landmarks (photo landmarks -> parameters) and
apply_fit (write the pose); fit_objects runs them in order."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generator

import bpy
import numpy as np
from bpy_extras.io_utils import ImportHelper

from ..addon import face_rig
from ..addon.face_rig import Binding, RigError
from ..ml.fit import solve
from ..ml.fit.imitator import (Imitator, face_units, find_cached, probe_units, rig_key, rig_print,
                               train_imitator)
from ..ml.fit.params import ParamSpace
from ..ml.fit.photo import photo_landmarks
from ..ml.fit.translator import Translator, load_translator_file, save_translator, train_translator
from ..ml.steps import in_thread, labelled, run_steps
from .background import ModalSteps
from .plan import find_sources
from .scene_jobs import add_output_options, plan_head_jobs, run_scene_jobs, OUTPUT_HELP

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SHIPPED = Path(__file__).resolve().parents[1] / "ml" / "fit" / "models"
MODES = ("iterative", "one-shot", "both")
DEFAULT_SAMPLES = 2000
DEFAULT_EPOCHS = 150
SAMPLE_CHUNK = 25      # poses sampled per step (Blender's window gets its turn between steps)

_MEMORY: dict[str, Imitator] = {}


def cache_dir() -> Path:
    """Where trained imitators are kept between sessions: $FACEFORGE_CACHE or
    ~/.cache/faceforge/fit."""
    root = os.environ.get("FACEFORGE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "faceforge" / "fit"


@dataclass
class FitRig:
    """A face rig ready to fit: the armature, the mesh it deforms, its parameters, the
    landmarks bound to the mesh; `created` when this call generated the rig."""
    arm: object
    mesh: object
    space: ParamSpace
    binding: Binding
    notes: list[str] = field(default_factory=list)
    created: bool = False


def prepare_rig(objects, make_rig: bool = False, scene=None) -> FitRig:
    """The face rig among `objects` (an armature, or a mesh deformed by one); with
    `make_rig` and none found, a generated one on the largest mesh. RigError otherwise."""
    arm, mesh = face_rig.find_rig(objects)
    created = False
    if arm is None:
        meshes = [o for o in objects if o.type == "MESH"]
        if not make_rig or not meshes:
            raise RigError("no face rig: select an armature with face bones (or a mesh it "
                           "deforms), or make one first (Make Face Rig, faceforge fit --make-rig)")
        mesh = max(meshes, key=lambda o: len(o.data.vertices))
        arm = face_rig.generate_rig(mesh, scene=scene)
        created = True
    try:
        space, notes = face_rig.param_space(arm)
        notes += expression_notes(mesh)
        binding = Binding.load(arm)
        if binding is None:
            binding = face_rig.bind_landmarks(mesh, scene)
            binding.store(arm)
    except Exception:
        if created:
            remove_rig(arm, mesh)
        raise
    return FitRig(arm, mesh, space, binding, notes, created)


def expression_notes(mesh) -> list[str]:
    """A note when shape keys are on: the fit (and a generated rig's binding) takes the
    face as it looks now, expression included, for the neutral face."""
    keys = mesh.data.shape_keys
    on = [kb.name for kb in keys.key_blocks[1:] if kb.value != 0 and not kb.mute] if keys else []
    if not on:
        return []
    return [f"{len(on)} shape key(s) of {mesh.name!r} are not at 0 ({', '.join(on[:3])}"
            f"{', ...' if len(on) > 3 else ''}): the fit takes that expression as the neutral face"]


def remove_rig(arm, mesh) -> None:
    """Undo generate_rig: the modifier, the bone vertex groups and the armature."""
    bones = set(arm.data.bones.keys())
    for m in [m for m in mesh.modifiers if m.type == "ARMATURE" and m.object == arm]:
        mesh.modifiers.remove(m)
    for g in [g for g in mesh.vertex_groups if g.name in bones]:
        mesh.vertex_groups.remove(g)
    data = arm.data
    bpy.data.objects.remove(arm)
    bpy.data.armatures.remove(data)


def engine_landmarks(rig: FitRig, unit: np.ndarray, progress=None, cancel=None) -> np.ndarray:
    """Blender's own answer: [N, P] unit parameters -> [N, K, 3] face-unit fit landmarks."""
    pts = face_rig.sample_landmarks(rig.arm, rig.mesh, rig.space, rig.binding,
                                    rig.space.from_unit(unit), progress, cancel)
    return face_units(pts, rig.binding.pivot, rig.binding.unit)


def imitator_steps(rig: FitRig, *, samples: int = DEFAULT_SAMPLES, epochs: int = DEFAULT_EPOCHS,
                   seed: int = 0, log=None) -> Generator[tuple[str, float], None, Imitator]:
    """The rig's imitator: from memory, the shipped models, or the cache (`find_cached`: the
    same parameters, limits and landmarks at probe poses, up to rounding), else sampled from Blender
    (SAMPLE_CHUNK poses a step, on this thread: it poses the rig) and trained on a thread,
    then cached. Steps are (stage, share): "sampling", "training"."""
    probes = engine_landmarks(rig, probe_units(len(rig.space)))
    path = find_cached((SHIPPED, cache_dir()), rig.space, probes)
    if path is not None:
        if str(path) not in _MEMORY:
            _MEMORY[str(path)] = Imitator.load(path)
        return _MEMORY[str(path)]
    key = rig_key(rig.space.to_json(), probes)
    say = log or (lambda text: None)
    rng = np.random.default_rng(seed)
    unit = rng.uniform(-1, 1, (samples, len(rig.space)))
    say(f"sampling {samples} poses of {rig.arm.name!r} in Blender")
    parts = []
    for lo in range(0, samples, SAMPLE_CHUNK):
        parts.append(engine_landmarks(rig, unit[lo:lo + SAMPLE_CHUNK]))
        yield "sampling", min(lo + SAMPLE_CHUNK, samples) / samples
    targets = np.concatenate(parts)
    rest_unit = rig.space.to_unit(rig.space.rest)
    rest = engine_landmarks(rig, rest_unit[None])[0]
    say(f"training the imitator ({epochs} epochs)")
    imit = yield from labelled("training", in_thread(
        lambda progress, cancel: train_imitator(
            unit, targets, rest, rest_unit, epochs=epochs, seed=seed, key=key,
            progress=lambda share, _: progress(share), cancel=cancel),
        "faceforge-imitator"))
    say(f"imitator trained in {imit.report['seconds']:.0f} s, held-out landmark RMSE "
        f"{imit.report['val_rmse']:.4f} eye distances")
    imit.rig = rig_print(rig.space, probes)
    path = cache_dir() / f"{key}.npz"
    imit.save(path)
    _MEMORY[str(path)] = imit
    return imit


def translator_steps(imit: Imitator, *, log=None) -> Generator[tuple[str, float], None, Translator]:
    """The one-shot translator of an imitator: from memory, shipped, cached, else trained
    through the imitator on a thread (about half a minute) and cached. Steps: ("translator",
    share)."""
    key = f"{imit.key}_translator"
    if key in _MEMORY:
        return _MEMORY[key]
    for folder in (SHIPPED, cache_dir()):
        if (folder / f"{key}.npz").exists():
            _MEMORY[key] = load_translator_file(folder / f"{key}.npz")
            return _MEMORY[key]
    (log or (lambda text: None))("training the one-shot translator")
    trans = yield from labelled("translator", in_thread(
        lambda progress, cancel: train_translator(imit, progress=progress, cancel=cancel),
        "faceforge-translator"))
    cache_dir().mkdir(parents=True, exist_ok=True)
    save_translator(trans, cache_dir() / f"{key}.npz")
    _MEMORY[key] = trans
    return trans


def _staged(progress):
    """run_steps' progress for a (stage, share) step from a `progress(stage, share)`."""
    return progress and (lambda step: progress(*step))


def ensure_imitator(rig: FitRig, *, samples: int = DEFAULT_SAMPLES, epochs: int = DEFAULT_EPOCHS,
                    seed: int = 0, progress=None, cancel=None, log=None) -> Imitator:
    """`imitator_steps` run through (`progress(stage, share)`; `cancel()` true raises
    steps.Cancelled)."""
    return run_steps(imitator_steps(rig, samples=samples, epochs=epochs, seed=seed, log=log),
                     _staged(progress), cancel)


def ensure_translator(imit: Imitator, *, progress=None, cancel=None, log=None) -> Translator:
    """`translator_steps` run through."""
    return run_steps(translator_steps(imit, log=log), _staged(progress), cancel)


@dataclass
class PhotoFit:
    """A fit's answer: parameter values [P] (channel units), the solver's result, notes."""
    values: np.ndarray
    result: solve.FitResult
    before_nme: float
    notes: list[str] = field(default_factory=list)


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")


def fit_landmarks(rig: FitRig, imit: Imitator, points: np.ndarray, mode: str = "iterative",
                  trans: Translator | None = None) -> PhotoFit:
    """Photo landmarks [478, 2+] (pixels) -> parameter values; mode iterative, one-shot
    (needs `trans`) or both (the one-shot answer refined iteratively)."""
    check_mode(mode)
    target = solve.normalise_target(points)
    start = None
    if mode in ("one-shot", "both"):
        res = trans.fit(target, imit)
        start = res.unit
    if mode != "one-shot":
        res = solve.fit_iterative(imit, target, start=start)
    return PhotoFit(rig.space.from_unit(res.unit), res, solve.average_face_nme(imit, target))


def apply_fit(rig: FitRig, fit: PhotoFit) -> None:
    """Write the fitted values into the pose bones (the only thing a fit changes)."""
    face_rig.set_values(rig.arm, rig.space, fit.values)


def fit_steps(objects, photo, *, mode: str = "iterative", make_rig: bool = False,
              scene=None, log=None) -> Generator[tuple[str, float], None, tuple[FitRig, PhotoFit]]:
    """The whole fit on a scene's objects, as steps: the photo is checked first, then the
    rig found or generated, the imitator (and translator) made ready, the fit written at the
    end. Any failure (ValueError), or closing the generator (a cancel), leaves the objects
    as they were (a rig generated here is removed)."""
    check_mode(mode)
    points, notes = photo_landmarks(photo)
    rig = prepare_rig(objects, make_rig, scene)
    try:
        imit = yield from imitator_steps(rig, log=log)
        trans = (yield from translator_steps(imit, log=log)) if mode != "iterative" else None
        fit = fit_landmarks(rig, imit, points, mode, trans)
        fit.notes = notes + rig.notes
        apply_fit(rig, fit)
    except BaseException:               # GeneratorExit included: a cancelled operator
        if rig.created:
            try:
                remove_rig(rig.arm, rig.mesh)
            except ReferenceError:      # the user deleted it while the fit ran
                pass
        raise
    return rig, fit


def fit_objects(objects, photo, *, mode: str = "iterative", make_rig: bool = False,
                scene=None, progress=None, cancel=None, log=None) -> tuple[FitRig, PhotoFit]:
    """`fit_steps` run through (`progress(stage, share)`; `cancel()` true raises
    steps.Cancelled); a failure leaves the objects as they were."""
    return run_steps(fit_steps(objects, photo, mode=mode, make_rig=make_rig, scene=scene,
                               log=log), _staged(progress), cancel)


def comparison(rig: FitRig, photo, fitted: list[tuple[str, np.ndarray]], scene=None,
               size: int = 256) -> np.ndarray:
    """A row of face crops [size, size * n, 3] uint8: the photo, the average face and the
    rig at each (label, parameter values [P]), rendered from the front; the pose is
    restored after."""
    from ..ml.fit.photo import detect_landmarks, read_photo
    from ..ml.fit.sheet import face_crop, labelled_row
    scene = scene or bpy.context.scene
    rgb = read_photo(photo)
    tiles = [("photo", face_crop(rgb, detect_landmarks(rgb)[0], size))]
    snap = face_rig.pose_snapshot(rig.arm)
    try:
        for label, values in [("average face", rig.space.rest)] + list(fitted):
            face_rig.set_values(rig.arm, rig.space, values)
            render, _ = face_rig.front_render(scene, rig.mesh, resolution=2 * size)
            tiles.append((label, face_crop(render, detect_landmarks(render)[0], size)))
    finally:
        face_rig.restore_pose(rig.arm, snap)
    return labelled_row(tiles)


def summary(rig: FitRig, fit: PhotoFit) -> str:
    r = fit.result
    text = (f"fitted {len(rig.space)} parameters of {rig.arm.name!r}: landmark error "
            f"{fit.before_nme:.1%} (average face) -> {r.nme:.1%} of the eye distance, head "
            f"yaw {np.degrees(r.yaw):+.0f} deg pitch {np.degrees(r.pitch):+.0f} deg, "
            f"{r.seconds * 1000:.0f} ms")
    if rig.created:
        text = f"made a face rig ({len(rig.arm.data.bones)} bones); " + text
    return "; ".join([text] + fit.notes)


# -------------------------------------------------------------------- Blender UI
class FACEFORGE_OT_fit_photo(ModalSteps, bpy.types.Operator, ImportHelper):
    """Pose the face rig so the character resembles the face in a photo"""
    bl_idname = "faceforge.fit_photo"
    bl_label = "Fit to Photo"
    bl_options = {"REGISTER", "UNDO"}
    steps_label = "Fit to Photo"

    filter_glob: bpy.props.StringProperty(default=";".join("*" + s for s in PHOTO_SUFFIXES),
                                          options={"HIDDEN"})
    mode: bpy.props.EnumProperty(
        name="Mode", default="iterative",
        items=(("iterative", "Iterative", "Gradient descent through the imitator (best)"),
               ("one-shot", "One-Shot", "The translator's answer in one pass (fastest)"),
               ("both", "Both", "One-shot, refined iteratively")))
    make_rig: bpy.props.BoolProperty(
        name="Make Rig If Missing", default=True,
        description="Generate a face rig on the selected head if it has none")

    @classmethod
    def poll(cls, context):
        return any(o.type in ("MESH", "ARMATURE") for o in context.selected_objects)

    def execute(self, context):
        """The photo and rig checked first; a rig's first fit samples it and trains its
        imitator (a minute or two) in the background, with progress and Esc to cancel."""
        steps = fit_steps(context.selected_objects, Path(self.filepath), mode=self.mode,
                          make_rig=self.make_rig, scene=context.scene)
        return self.run_steps_modal(context, steps)

    def finish(self, context, result):
        rig, fit = result
        self.report({"WARNING"} if fit.notes else {"INFO"}, summary(rig, fit))
        return {"FINISHED"}


class FACEFORGE_OT_make_face_rig(bpy.types.Operator):
    """Generate a face-customisation rig (bones from the face's landmarks) on the selected head"""
    bl_idname = "faceforge.make_face_rig"
    bl_label = "Make Face Rig"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return any(o.type == "MESH" for o in context.selected_objects)

    def execute(self, context):
        meshes = [o for o in context.selected_objects if o.type == "MESH"]
        mesh = max(meshes, key=lambda o: len(o.data.vertices))
        if face_rig.find_rig([mesh])[0] is not None:
            self.report({"ERROR"}, f"{mesh.name!r} already has an armature; Fit to Photo uses it")
            return {"CANCELLED"}
        try:
            arm = face_rig.generate_rig(mesh, scene=context.scene)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        space, _ = face_rig.param_space(arm)
        self.report({"INFO"}, f"face rig on {mesh.name!r}: {len(arm.data.bones)} bones, "
                              f"{len(space)} parameters")
        return {"FINISHED"}


CLASSES = (FACEFORGE_OT_fit_photo, FACEFORGE_OT_make_face_rig)


# -------------------------------------------------------------------- command line
def cmd_fit(args) -> int:
    """One output scene per photo: the head with its face rig fitted to that photo."""
    from . import batch

    def work(photo: Path) -> str:
        batch.check_input(photo, PHOTO_SUFFIXES)
        rig, fit = fit_objects(list(bpy.context.scene.objects), photo, mode=args.mode,
                               make_rig=args.make_rig,
                               log=lambda text: print(f"  {text}", file=sys.stderr, flush=True))
        return summary(rig, fit)

    plan = plan_head_jobs(args, "fit", find_sources(args.photos, PHOTO_SUFFIXES))
    return run_scene_jobs(args, plan, work)


def add_cli(sub) -> None:
    """Add `faceforge fit HEAD PHOTOS... -o DIR` to the command line's subparsers."""
    help_text = "fit a head's face rig to photos (one scene per photo)"
    p = sub.add_parser("fit", help=help_text, description=help_text)
    p.add_argument("head", type=Path, help="scene file with the head (and its face rig)")
    p.add_argument("photos", nargs="+", type=Path, help="photos or folders of them")
    add_output_options(p, OUTPUT_HELP, "the head's")
    p.add_argument("--make-rig", action="store_true",
                   help="generate a face rig on the head's largest mesh if it has none")
    p.add_argument("--mode", choices=MODES, default="iterative")
    p.set_defaults(func=cmd_fit)
