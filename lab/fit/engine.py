"""The lab's engine for Fit to Photo: the built-in head with its generated face rig, its
imitator and translator (trained or loaded through ops.fit, cached under checkpoints/),
and front renders under varied conditions (head rotation, studio-light angle, expression
shape keys) with MediaPipe's landmarks of each."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from lab.paths import CHECKPOINTS

os.environ.setdefault("FACEFORGE_CACHE", str(CHECKPOINTS / "fit" / "cache"))

from faceforge.addon import face_rig, reference_head  # noqa: E402
from faceforge.ml.fit.photo import detect_landmarks  # noqa: E402
from faceforge.ops import fit as fit_ops  # noqa: E402
from lab.fit.render_style import LIGHTS, STYLES, dress  # noqa: E402

RESOLUTION = 512
# Photo-like looks (lab.fit.render_style) render smaller: Cycles takes ~6 s at 256 px on
# two cores, ~20 s at 512.
STYLE_RESOLUTION = {"eevee": 256, "cycles": 256}


def style_resolution(style: str) -> int:
    return STYLE_RESOLUTION.get(style, RESOLUTION)


def style_suffix(style: str, resolution: int | None = None) -> str:
    """The cache names' mark of a render style: "" for the flat look at its own size."""
    resolution = resolution or style_resolution(style)
    if style == "flat" and resolution == RESOLUTION:
        return ""
    return f"_{style}{resolution}"
EXPRESSIONS = ("browInnerUp", "mouthSmileLeft", "mouthSmileRight", "eyeSquintLeft",
               "eyeSquintRight", "jawOpen", "mouthFrownLeft", "mouthFrownRight", "cheekPuff",
               "browDownLeft", "browDownRight", "mouthPucker")


@dataclass
class View:
    """Viewing conditions of one render: head yaw/pitch (radians), studio-light rotation
    (radians), expression {shape key: weight}."""
    yaw: float = 0.0
    pitch: float = 0.0
    light: float = 0.0
    expression: dict | None = None


# The viewing conditions' ranges, one definition for the detector-tuning renders, the
# evaluation and the probes: head yaw/pitch (radians), studio-light angle (radians), and
# EXPRESSION_KEYS random expression keys up to EXPRESSION.
TURN = 0.15
LIGHT = 1.0
EXPRESSION = 0.3
EXPRESSION_KEYS = 3


def random_view(rng: np.random.Generator, turn: float = TURN, expression: float = EXPRESSION) -> View:
    keys = rng.choice(EXPRESSIONS, EXPRESSION_KEYS, replace=False)
    return View(*rng.uniform(-turn, turn, 2), float(rng.uniform(-LIGHT, LIGHT)),
                {str(k): float(rng.uniform(0, expression)) for k in keys})


def neutral_head():
    """The built-in head with every shape key at 0 (new keys start at 1.0 in Blender 5)."""
    head = reference_head.build_reference_head()
    for kb in head.data.shape_keys.key_blocks[1:]:
        kb.value = 0.0
    return head


def builtin_rig(samples: int = fit_ops.DEFAULT_SAMPLES):
    """A fresh scene with the neutral built-in head, its generated rig and its imitator."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    head = neutral_head()
    rig = fit_ops.prepare_rig([head], make_rig=True)
    imit = fit_ops.ensure_imitator(rig, samples=samples, log=print)
    return rig, imit


def render_cache(stem: str, rig) -> Path:
    """checkpoints/fit/<stem>_<hash of the rig's parameter space>.npz: cached renders
    belong to one rig (a changed rig draws other parameters and poses other bones)."""
    tag = hashlib.sha1(rig.space.fingerprint().encode()).hexdigest()[:8]
    return CHECKPOINTS / "fit" / f"{stem}_{tag}.npz"


def set_view(rig, view: View) -> None:
    scene = bpy.context.scene
    rig.mesh.rotation_euler = (view.pitch, 0.0, view.yaw)
    # The studio light turns only with world-space lighting on (off, the angle is ignored).
    scene.display.shading.use_world_space_lighting = view.light != 0.0
    scene.display.shading.studiolight_rotate_z = view.light
    lights = bpy.data.objects.get(LIGHTS)  # the photo-like looks' rig (lab.fit.render_style)
    if lights is not None:
        lights.rotation_euler.z = view.light
    keys = rig.mesh.data.shape_keys
    if keys is not None:
        for kb in keys.key_blocks[1:]:
            kb.value = (view.expression or {}).get(kb.name, 0.0)


def render_landmarks(rig, unit: np.ndarray | None, view: View | None = None, style: str = "flat",
                     resolution: int | None = None):
    """Pose the rig at unit parameters (None: as it is), render under `view` in `style`
    (lab.fit.render_style) and detect: (rgb [H, W, 3], landmarks [478, 3] in pixels or
    None). The view is reset after."""
    dress(rig, style)
    if unit is not None:
        face_rig.set_values(rig.arm, rig.space, rig.space.from_unit(unit))
    set_view(rig, view or View())
    try:
        rgb, _ = face_rig.front_render(bpy.context.scene, rig.mesh, style=style,
                                       resolution=resolution or style_resolution(style))
    finally:
        set_view(rig, View())
    return rgb, detect_landmarks(rgb)[0]
