"""The face-customisation rig Fit to Photo drives: binding MediaPipe's landmarks to a
head's surface (front render + face mesh + ray cast), generating a bone rig from those
landmarks (distance-falloff weights, locked channels, limit constraints), reading the
parameter space of any armature, and posing it.

The fit writes pose-bone channels only (location / Euler rotation / scale): the mesh, its
shape keys and the rest pose are never edited. Generated bones point up (+Z) with no roll,
so for every bone location X is the subject's left, Y up, Z toward the viewer (-Y world).
The generated rig moves features in the picture plane only (depth cannot be seen in a
frontal photo's landmarks, so a depth channel could not be fitted).
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass

import bpy
import numpy as np
from mathutils import Vector
from mathutils.bvhtree import BVHTree

from ..ml.fit import landmarks as lm
from ..ml.fit.params import PROPS, Param, ParamSpace, mirror_sign, rest_value
from .mesh_io import bulk_get
from .render import _read_png, frame_objects, setup_workbench

BINDING_KEY = "faceforge_fit_binding"
SPACE_KEY = "faceforge_fit_space"
RIG_NAME = "FaceForge Face Rig"
ROOT_BONE = "face_root"
BIND_RESOLUTION = 512
# front_render's looks: "flat" Workbench with material colours (the binding's, the default),
# "shaded" the same with cast shadows and specular, "eevee" / "cycles" the scene's lights
# and node materials (the caller dresses the head; the lab's lab.fit.render_style does).
RENDER_STYLES = ("flat", "shaded", "eevee", "cycles")


class RigError(ValueError):
    """The head or rig cannot be fitted; the message is for the user."""


# -------------------------------------------------------------------- landmark binding
@dataclass
class Binding:
    """Landmarks bound to a mesh: corner vertex indices [478, 3], barycentric weights
    [478, 3], `unit` the outer-eye-corner distance (object units) and `pivot` [3] the
    centroid of the fit landmarks, both at rest."""
    corners: np.ndarray
    bary: np.ndarray
    unit: float
    pivot: np.ndarray

    def points(self, verts: np.ndarray) -> np.ndarray:
        """[..., V, 3] vertex positions -> [..., 478, 3] landmark positions."""
        return np.einsum("nk,...nkc->...nc", self.bary, verts[..., self.corners, :])

    def store(self, arm) -> None:
        arm[BINDING_KEY] = {"corners": self.corners.ravel().tolist(),
                            "bary": self.bary.ravel().tolist(), "unit": float(self.unit),
                            "pivot": self.pivot.tolist()}

    @classmethod
    def load(cls, arm) -> Binding | None:
        d = arm.get(BINDING_KEY)
        if d is None:
            return None
        return cls(np.array(d["corners"], dtype=np.int64).reshape(-1, 3),
                   np.array(d["bary"], dtype=np.float64).reshape(-1, 3), float(d["unit"]),
                   np.array(d["pivot"], dtype=np.float64))


def front_render(scene, obj, region: tuple[float, float] = (0.0, 1.0),
                 resolution: int = BIND_RESOLUTION, style: str = "flat") -> tuple[np.ndarray, tuple]:
    """Render `obj` alone from the front (orthographic, Workbench, material colours; other
    `style`s: RENDER_STYLES, "eevee" and "cycles" keeping the scene's lights and world), the
    camera framing the vertical slice `region` (fractions of the height, bottom to top).
    Returns ([H, W, 3] uint8 RGB, (camera location [3], ortho scale)); the scene's camera
    and render settings are restored."""
    if style not in RENDER_STYLES:
        raise ValueError(f"unknown render style {style!r}: one of {RENDER_STYLES}")
    lit = style in ("eevee", "cycles")
    hidden = {o: o.hide_render for o in scene.objects
              if o is not obj and not (lit and o.type == "LIGHT")}
    for o in hidden:
        o.hide_render = True
    old = (scene.camera, scene.render.engine, scene.render.resolution_x,
           scene.render.resolution_y, scene.render.filepath, scene.display.shading.color_type)
    view = scene.view_settings
    old_look = (scene.world, view.view_transform, view.look, view.exposure, view.gamma)
    shading = scene.display.shading
    old_shading = (shading.show_shadows, shading.show_specular_highlight)
    # The same picture whatever the scene's world and colour management: the binding (and
    # so the rig's imitator cache key) must not depend on them.
    if not lit:  # the lit looks keep the scene's world (its light and backdrop)
        scene.world = None
    view.view_transform, view.look, view.exposure, view.gamma = "AgX", "None", 0.0, 1.0
    fd, path = tempfile.mkstemp(suffix=".png")
    os.close(fd)
    cam = None
    try:
        cam = frame_objects(scene, [obj], margin=1.05, name="FaceForge Fit Camera")
        corners = np.array([obj.matrix_world @ Vector(c) for c in obj.bound_box])
        lo, hi = corners.min(axis=0), corners.max(axis=0)
        z0, z1 = lo[2] + region[0] * (hi[2] - lo[2]), lo[2] + region[1] * (hi[2] - lo[2])
        cam.location.z = (z0 + z1) / 2
        cam.data.ortho_scale = float(max(hi[0] - lo[0], z1 - z0)) * 1.05
        setup_workbench(scene, resolution)
        shading.color_type = "MATERIAL"
        if style == "shaded":
            shading.show_shadows = shading.show_specular_highlight = True
        if lit:
            scene.render.engine = "CYCLES" if style == "cycles" else "BLENDER_EEVEE"
        scene.render.filepath = path
        bpy.ops.render.render(write_still=True, scene=scene.name)
        px = _read_png(path)
        frame = (np.array(cam.location), float(cam.data.ortho_scale))
    finally:
        os.remove(path)
        for o, h in hidden.items():
            o.hide_render = h
        (scene.camera, scene.render.engine, scene.render.resolution_x,
         scene.render.resolution_y, scene.render.filepath, scene.display.shading.color_type) = old
        scene.world, view.view_transform, view.look, view.exposure, view.gamma = old_look
        shading.show_shadows, shading.show_specular_highlight = old_shading
        if cam is not None:
            data = cam.data
            bpy.data.objects.remove(cam)
            bpy.data.cameras.remove(data)
    return (np.clip(px[::-1, :, :3], 0, 1) * 255 + 0.5).astype(np.uint8), frame


def _rest_verts(obj) -> tuple[np.ndarray, np.ndarray]:
    """Object-space rest vertices [V, 3] (the basis, no modifiers) and triangles [F, 3]."""
    mesh = obj.data
    mesh.calc_loop_triangles()
    return (bulk_get(mesh.vertices, "co", np.float64, 3),
            bulk_get(mesh.loop_triangles, "vertices", np.int64, 3))


def bind_landmarks(obj, scene=None, detect=None) -> Binding:
    """Render the head from the front, find its 478 landmarks with MediaPipe and ray-cast
    them onto the surface. `detect(rgb) -> [478, 2+] pixels or None` (default: MediaPipe).
    RigError when no face is found in the head's own render."""
    from ..ml.fit.photo import detect_landmarks
    scene = scene or bpy.context.scene
    detect = detect or (lambda rgb: detect_landmarks(rgb)[0])
    if obj is None or obj.type != "MESH" or not len(obj.data.vertices):
        raise RigError(f"{getattr(obj, 'name', None)!r} is not a mesh with vertices")
    for region in ((0.0, 1.0), (0.75, 1.0), (0.85, 1.0)):  # whole object, then a body's head
        rgb, (cam_loc, scale) = front_render(scene, obj, region)
        pts = detect(rgb)
        if pts is not None:
            break
    else:
        raise RigError(f"no face was found in a front render of {obj.name!r}: it must face -Y "
                       f"and have human-like eyes, nose and mouth")
    pts = np.asarray(pts)[:, :2] / np.array([rgb.shape[1], rgb.shape[0]])
    verts, tris = _rest_verts(obj)
    mw = np.array(obj.matrix_world, dtype=np.float64)
    world = verts @ mw[:3, :3].T + mw[:3, 3]
    tree = BVHTree.FromPolygons(world.tolist(), tris.tolist())
    x = cam_loc[0] + (pts[:, 0] - 0.5) * scale
    z = cam_loc[2] - (pts[:, 1] - 0.5) * scale
    start_y = world[:, 1].min() - 1.0
    corners = np.zeros((len(pts), 3), dtype=np.int64)
    bary = np.zeros((len(pts), 3))
    for i in range(len(pts)):
        loc, _, index, _ = tree.ray_cast((x[i], start_y, z[i]), (0.0, 1.0, 0.0))
        if index is None:  # off the silhouette: the nearest surface point
            loc, _, index, _ = tree.find_nearest((x[i], world[:, 1].min(), z[i]))
        tri = tris[index]
        corners[i] = tri
        bary[i] = _barycentric(np.array(loc), world[tri])
    binding = Binding(corners, bary, 1.0, np.zeros(3))
    rest = binding.points(verts)
    binding.unit = float(np.linalg.norm(rest[lm.LEFT_EYE_OUTER] - rest[lm.RIGHT_EYE_OUTER]))
    binding.pivot = rest[lm.FIT_INDICES].mean(axis=0)
    if binding.unit <= 0:
        raise RigError(f"the landmarks bound to {obj.name!r} collapse to a point")
    return binding


def _barycentric(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Barycentric weights [3] of point p in triangle tri [3, 3] (clamped inside)."""
    a, b, c = tri
    v0, v1, v2 = b - a, c - a, p - a
    d00, d01, d11 = v0 @ v0, v0 @ v1, v1 @ v1
    d20, d21 = v2 @ v0, v2 @ v1
    den = d00 * d11 - d01 * d01
    if abs(den) < 1e-20:
        return np.full(3, 1.0 / 3.0)
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    out = np.clip(np.array([1 - v - w, v, w]), 0, None)
    return out / out.sum()


# -------------------------------------------------------------------- generated rig
@dataclass(frozen=True)
class BoneSpec:
    """A generated bone: placed at the mean of `landmarks` (the left one of a mirrored
    pair; the right one mirrored), weights falling off to zero at `radius` (in outer-eye
    distances), `channels` ((prop, axis, lo, hi), ...): location in eye distances,
    rotation in radians, scale as a factor."""
    name: str
    landmarks: tuple[int, ...]
    radius: float
    channels: tuple[tuple[str, int, float, float], ...]
    mirrored: bool = False


LOC, ROT, SCALE = PROPS
BONE_SPECS = (
    BoneSpec("brow", lm.LEFT_BROW, 0.33, ((LOC, 0, -0.08, 0.08), (LOC, 1, -0.1, 0.1),
                                          (ROT, 2, -0.3, 0.3)), True),
    BoneSpec("eye", lm.LEFT_EYE, 0.27, ((LOC, 0, -0.08, 0.08), (LOC, 1, -0.07, 0.07),
                                        (ROT, 2, -0.25, 0.25), (SCALE, 0, 0.75, 1.25),
                                        (SCALE, 1, 0.6, 1.4)), True),
    BoneSpec("nose", (1, 4, 5, 195), 0.3, ((LOC, 1, -0.08, 0.08), (SCALE, 0, 0.7, 1.4))),
    BoneSpec("nostril", (358,), 0.14, ((LOC, 0, -0.06, 0.06),), True),
    BoneSpec("cheekbone", (345,), 0.35, ((LOC, 0, -0.1, 0.1),), True),
    BoneSpec("mouth", (0, 13, 14, 17), 0.42, ((LOC, 1, -0.1, 0.1),)),
    BoneSpec("mouth_corner", (291,), 0.2, ((LOC, 0, -0.1, 0.1), (LOC, 1, -0.06, 0.06)), True),
    BoneSpec("lip_upper", (0,), 0.16, ((LOC, 1, -0.05, 0.05),)),
    BoneSpec("lip_lower", (17,), 0.16, ((LOC, 1, -0.05, 0.05),)),
    BoneSpec("jaw", (397,), 0.45, ((LOC, 0, -0.12, 0.12), (LOC, 1, -0.1, 0.1)), True),
    BoneSpec("chin", (152, 175), 0.38, ((LOC, 1, -0.12, 0.12), (SCALE, 0, 0.7, 1.4))),
    BoneSpec("face_side", (454,), 0.45, ((LOC, 0, -0.1, 0.1),), True),
    BoneSpec("forehead", (10, 151), 0.5, ((LOC, 1, -0.12, 0.12),)),
)


def _mirror_point(p: np.ndarray, pivot_x: float) -> np.ndarray:
    return np.array([2 * pivot_x - p[0], p[1], p[2]])


def falloff(dist: np.ndarray, radius: float) -> np.ndarray:
    """Smooth weight 1 at the bone, 0 from `radius` on: (1 - (d/r)^2)^2."""
    t = np.clip(1.0 - (dist / radius) ** 2, 0.0, 1.0)
    return t * t


def generate_rig(obj, binding: Binding | None = None, scene=None, name: str = RIG_NAME):
    """Give mesh `obj` a face rig: an armature (child of the mesh, same space) whose bones
    sit on the bound landmarks, weighted by distance falloff (a static root bone takes the
    rest), unused channels locked and the rest limited by constraints; an Armature modifier
    first in the mesh's stack. Returns the armature object."""
    scene = scene or bpy.context.scene
    binding = binding or bind_landmarks(obj, scene)
    verts, _ = _rest_verts(obj)
    rest = binding.points(verts)
    u = binding.unit
    mid_x = float((rest[lm.LEFT_EYE_OUTER, 0] + rest[lm.RIGHT_EYE_OUTER, 0]) / 2)
    if rest[lm.LEFT_EYE_OUTER, 0] < rest[lm.RIGHT_EYE_OUTER, 0]:
        raise RigError(f"{obj.name!r} seems to face +Y (its left eye is on the -X side); "
                       f"FaceForge expects heads facing -Y")

    placements = []  # (bone name, spec, head position)
    for spec in BONE_SPECS:
        p = rest[list(spec.landmarks)].mean(axis=0)
        if spec.mirrored:
            placements += [(f"{spec.name}.L", spec, p), (f"{spec.name}.R", spec, _mirror_point(p, mid_x))]
        else:
            p = p.copy()
            p[0] = mid_x
            placements.append((spec.name, spec, p))

    arm_data = bpy.data.armatures.new(name)
    arm = bpy.data.objects.new(name, arm_data)
    (obj.users_collection[0] if obj.users_collection else scene.collection).objects.link(arm)
    arm.parent = obj
    arm.matrix_parent_inverse.identity()
    arm.show_in_front = True
    _build_bones(arm, placements, binding.pivot, u)

    # Weights: falloff from each bone's head, normalised where they overlap; the root
    # takes what is left so a lightly weighted vertex moves lightly.
    w = np.stack([falloff(np.linalg.norm(verts - p, axis=1), spec.radius * u)
                  for _, spec, p in placements], axis=1)
    total = w.sum(axis=1, keepdims=True)
    w = np.where(total > 1.0, w / np.maximum(total, 1e-12), w)
    root = 1.0 - w.sum(axis=1)
    for bone_name, col in [(ROOT_BONE, root)] + [(n, w[:, i]) for i, (n, _, _) in enumerate(placements)]:
        _set_group(obj, bone_name, col)

    for bone_name, spec, _ in placements:
        _limit_bone(arm.pose.bones[bone_name], spec, u, right=bone_name.endswith(".R"))
    root_pb = arm.pose.bones[ROOT_BONE]
    root_pb.lock_location = root_pb.lock_rotation = root_pb.lock_scale = (True, True, True)
    root_pb.lock_rotation_w = True

    mod = obj.modifiers.new(name, "ARMATURE")
    mod.object = arm
    mod.use_vertex_groups = True
    mod.use_deform_preserve_volume = False
    while obj.modifiers.find(mod.name) > 0:
        obj.modifiers.move(obj.modifiers.find(mod.name), obj.modifiers.find(mod.name) - 1)
    binding.store(arm)
    return arm


def _build_bones(arm, placements, pivot: np.ndarray, u: float) -> None:
    """Edit bones: a root at the landmarks' pivot and one short upward bone per placement."""
    view_layer = bpy.context.view_layer
    prev_active = view_layer.objects.active
    prev_mode = bpy.context.object.mode if bpy.context.object else "OBJECT"
    if prev_mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        ebones = arm.data.edit_bones
        root = ebones.new(ROOT_BONE)
        root.head = tuple(pivot)
        root.tail = tuple(pivot + np.array([0.0, 0.0, 0.6 * u]))
        for name, _, p in placements:
            b = ebones.new(name)
            b.head = tuple(p)
            b.tail = tuple(p + np.array([0.0, 0.0, 0.12 * u]))
            b.roll = 0.0
            b.parent = root
            b.use_deform = True
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = prev_active


def _set_group(obj, name: str, weights: np.ndarray) -> None:
    """Vertex group `name` = weights [V] (zeros left out), one add() per weight level."""
    group = obj.vertex_groups.get(name) or obj.vertex_groups.new(name=name)
    q = np.round(np.clip(weights, 0, 1) * 1024).astype(np.int64)
    for level in np.unique(q[q > 0]):
        group.add(np.flatnonzero(q == level).tolist(), float(level) / 1024, "REPLACE")


def _limit_bone(pb, spec: BoneSpec, u: float, right: bool) -> None:
    """Lock every channel the spec does not use; limit the others with LOCAL-space
    Limit Location / Rotation / Scale constraints (mirrored for a right bone)."""
    pb.rotation_mode = "XYZ"
    used = {(prop, axis): (lo, hi) for prop, axis, lo, hi in spec.channels}
    pb.lock_location = [(LOC, a) not in used for a in range(3)]
    pb.lock_rotation = [(ROT, a) not in used for a in range(3)]
    pb.lock_rotation_w = True
    pb.lock_scale = [(SCALE, a) not in used for a in range(3)]
    for prop, ctype in ((LOC, "LIMIT_LOCATION"), (ROT, "LIMIT_ROTATION"), (SCALE, "LIMIT_SCALE")):
        axes = [a for a in range(3) if (prop, a) in used]
        if not axes:
            continue
        con = pb.constraints.new(ctype)
        con.owner_space = "LOCAL"
        if prop != ROT:
            con.use_transform_limit = True
        for a in range(3):
            lo, hi = used.get((prop, a), (rest_value(prop), rest_value(prop)))
            if prop == LOC:
                lo, hi = lo * u, hi * u
            if right:
                s = mirror_sign(prop, a)
                rest = rest_value(prop)
                lo, hi = sorted((rest + s * (lo - rest), rest + s * (hi - rest)))
            ax = "xyz"[a]
            if prop == ROT:
                setattr(con, f"use_limit_{ax}", True)
            else:
                setattr(con, f"use_min_{ax}", True)
                setattr(con, f"use_max_{ax}", True)
            setattr(con, f"min_{ax}", lo)
            setattr(con, f"max_{ax}", hi)


# -------------------------------------------------------------------- any armature
_SIDE = re.compile(r"^(?P<base>.*?)(?P<sep>[._\- ]?)(?P<side>L|R|l|r|Left|Right|left|right)$")
_DEFAULT_RANGE = {LOC: 0.25, ROT: 0.35, SCALE: 0.2}  # x bone length, radians, factor


def _partner(name: str, names) -> str | None:
    """The mirrored partner's name of a left bone (brow.L -> brow.R), if it exists."""
    m = _SIDE.match(name)
    if not m:
        return None
    swap = {"L": "R", "l": "r", "Left": "Right", "left": "right"}
    other = swap.get(m["side"])
    if other is None:
        return None
    cand = f"{m['base']}{m['sep']}{other}"
    return cand if cand in names else None


def _is_right(name: str, names) -> bool:
    m = _SIDE.match(name)
    if not m or m["side"] not in ("R", "r", "Right", "right"):
        return False
    swap = {"R": "L", "r": "l", "Right": "Left", "right": "left"}
    return f"{m['base']}{m['sep']}{swap[m['side']]}" in names


def _limits(pb, prop: str, axis: int) -> tuple[float, float] | None:
    """(lo, hi) of a channel from the bone's custom property `fit_limits`
    ({"location[0]": [lo, hi], ...}) or its enabled LOCAL Limit constraints."""
    custom = pb.get("fit_limits")
    if custom is not None and f"{prop}[{axis}]" in custom:
        lo, hi = custom[f"{prop}[{axis}]"]
        return float(lo), float(hi)
    ctype = {LOC: "LIMIT_LOCATION", ROT: "LIMIT_ROTATION", SCALE: "LIMIT_SCALE"}[prop]
    ax = "xyz"[axis]
    for con in pb.constraints:
        if con.type != ctype or not con.enabled or con.owner_space != "LOCAL":
            continue
        if prop == ROT:
            if getattr(con, f"use_limit_{ax}"):
                return getattr(con, f"min_{ax}"), getattr(con, f"max_{ax}")
        elif getattr(con, f"use_min_{ax}") and getattr(con, f"use_max_{ax}"):
            return getattr(con, f"min_{ax}"), getattr(con, f"max_{ax}")
    return None


def param_space(arm) -> tuple[ParamSpace, list[str]]:
    """The parameters of an armature: every unlocked channel of its deforming bones (Euler
    rotations only), limits from custom properties or constraints (else a default range,
    noted), a left bone and its mirrored right partner tied unless the left bone has the
    custom property fit_untied. Returns (space, notes); RigError when nothing is free."""
    if arm is None or arm.type != "ARMATURE":
        raise RigError(f"{getattr(arm, 'name', None)!r} is not an armature")
    names = set(arm.pose.bones.keys())
    deforming = {b.name for b in arm.data.bones if b.use_deform}
    if not deforming:
        raise RigError(f"armature {arm.name!r} has no deforming bones")
    params, notes, defaulted = [], [], 0
    for pb in arm.pose.bones:
        if pb.name not in deforming:
            continue
        if _is_right(pb.name, names) and not arm.pose.bones[_partner_of_right(pb.name)].get("fit_untied"):
            continue  # driven by its left partner
        partner = None if pb.get("fit_untied") else _partner(pb.name, names)
        locks = {LOC: pb.lock_location, ROT: pb.lock_rotation, SCALE: pb.lock_scale}
        for prop in PROPS:
            if prop == ROT and pb.rotation_mode in ("QUATERNION", "AXIS_ANGLE"):
                if not all(locks[ROT]):
                    notes.append(f"{pb.name}: {pb.rotation_mode.lower()} rotation left out "
                                 f"(Euler channels only)")
                continue
            for axis in range(3):
                if locks[prop][axis]:
                    continue
                lim = _limits(pb, prop, axis)
                if lim is None:
                    r = _DEFAULT_RANGE[prop] * (pb.bone.length if prop == LOC else 1.0)
                    lim = (rest_value(prop) - r, rest_value(prop) + r)
                    defaulted += 1
                lo, hi = sorted(map(float, lim))
                if hi - lo <= 1e-9:
                    continue
                targets = [(pb.name, prop, axis, 1.0)]
                if partner:
                    targets.append((partner, prop, axis, mirror_sign(prop, axis)))
                params.append(Param(f"{pb.name}/{prop}[{axis}]", tuple(targets), lo, hi))
    if defaulted:
        notes.append(f"{defaulted} unlocked channel(s) have no limit constraint; a default "
                     f"range was used")
    if not params:
        raise RigError(f"every channel of {arm.name!r}'s deforming bones is locked or has an "
                       f"empty range: unlock the channels Fit to Photo may change")
    return ParamSpace(params), notes


def _partner_of_right(name: str) -> str:
    m = _SIDE.match(name)
    swap = {"R": "L", "r": "l", "Right": "Left", "right": "left"}
    return f"{m['base']}{m['sep']}{swap[m['side']]}"


def deformed_mesh(arm):
    """The mesh the armature deforms (an Armature modifier pointing at it); RigError if none."""
    users = [o for o in bpy.data.objects if o.type == "MESH" and any(
        m.type == "ARMATURE" and m.object == arm for m in o.modifiers)]
    if not users:
        raise RigError(f"no mesh is deformed by armature {arm.name!r}")
    return max(users, key=lambda o: len(o.data.vertices))


def find_rig(objects):
    """(armature, mesh) among the given objects: an armature, or a mesh with one in its
    Armature modifiers (a generated face rig first). None, None when there is none."""
    for o in objects:
        if o.type == "ARMATURE":
            return o, deformed_mesh(o)
    for o in objects:
        if o.type == "MESH":
            arms = [m.object for m in o.modifiers if m.type == "ARMATURE" and m.object]
            arms.sort(key=lambda a: BINDING_KEY not in a)
            if arms:
                return arms[0], o
    return None, None


# -------------------------------------------------------------------- posing
def get_values(arm, space: ParamSpace) -> np.ndarray:
    """The current value [P] of each parameter (its first target channel)."""
    out = np.empty(len(space))
    for i, p in enumerate(space.params):
        bone, prop, axis, _ = p.targets[0]
        out[i] = getattr(arm.pose.bones[bone], prop)[axis]
    return out


def set_values(arm, space: ParamSpace, values: np.ndarray) -> None:
    """Write parameter values (clipped to their limits) into the pose channels."""
    for (bone, prop, axis), v in space.channel_values(space.clip(values)).items():
        getattr(arm.pose.bones[bone], prop)[axis] = v


def pose_snapshot(arm) -> dict:
    """Every pose bone's location, rotation and scale (to restore after sampling or on failure)."""
    return {pb.name: (tuple(pb.location), tuple(pb.rotation_euler), tuple(pb.rotation_quaternion),
                      tuple(pb.scale)) for pb in arm.pose.bones}


def restore_pose(arm, snap: dict) -> None:
    for name, (loc, rot, quat, scale) in snap.items():
        pb = arm.pose.bones[name]
        pb.location, pb.rotation_euler, pb.rotation_quaternion, pb.scale = loc, rot, quat, scale


def sample_landmarks(arm, mesh, space: ParamSpace, binding: Binding, values: np.ndarray,
                     progress=None, cancel=None) -> np.ndarray:
    """The engine: pose the rig at each parameter vector [N, P], evaluate Blender's
    deformation and read the bound landmarks -> [N, 478, 3] in mesh object space. Modifiers
    that change the vertex count are switched off meanwhile; the pose is restored after."""
    snap = pose_snapshot(arm)
    n_verts = len(mesh.data.vertices)
    muted = []
    for m in mesh.modifiers:
        if m.type != "ARMATURE" and m.show_viewport and m.type in (
                "SUBSURF", "MULTIRES", "REMESH", "DECIMATE", "TRIANGULATE", "MIRROR", "SOLIDIFY",
                "WELD", "BEVEL", "ARRAY", "BOOLEAN", "SKIN", "WIREFRAME", "SCREW", "EDGE_SPLIT"):
            m.show_viewport = False
            muted.append(m)
    out = np.empty((len(values), len(binding.corners), 3), dtype=np.float32)
    co = np.empty(n_verts * 3, dtype=np.float32)
    try:
        for i, v in enumerate(values):
            if cancel is not None and cancel():
                raise KeyboardInterrupt("cancelled")
            set_values(arm, space, v)
            dg = bpy.context.evaluated_depsgraph_get()
            dg.update()
            ev = mesh.evaluated_get(dg)
            data = ev.to_mesh()
            try:
                if len(data.vertices) != n_verts:
                    raise RigError(f"{mesh.name!r}'s modifiers change its vertex count; "
                                   f"apply or remove them before fitting")
                data.vertices.foreach_get("co", co)
            finally:
                ev.to_mesh_clear()
            out[i] = binding.points(co.reshape(-1, 3).astype(np.float64))
            if progress is not None:
                progress((i + 1) / len(values))
    finally:
        restore_pose(arm, snap)
        for m in muted:
            m.show_viewport = True
        bpy.context.view_layer.update()
    return out
