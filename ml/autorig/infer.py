"""Rig any head: mesh arrays in, the 52 ARKit shapes' displacements out (same space).

Pipeline: validate -> canonical frame (eyeballs if the head has them, else the head's
shape) -> decimated proxy -> network on the proxy -> smooth transfer to every vertex ->
rigid eye gaze, blinks closed fully, rigid jaw for teeth/tongue, lids kept off the
eyeballs -> strengths -> back to the mesh's own space.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.spatial import cKDTree

from ..arkit import ARKIT_NAMES, INDEX, NUM_SHAPES, REGION_OF
from ..geometry.gradients import vertex_normals
from ..geometry.mesh import clean_triangles
from ..geometry.parts import connected_components, weld_index
from ..geometry.remesh import PASSES, closest_points, decimate, smooth_transfer, transfer
from . import eyes as eyes_mod
from .blink import close_blink, ramp
from .features import mesh_inputs
from .floors import apply_floors
from .frame import Transform, axis_vector, canonical_transform, estimate_frame, from_canonical, to_canonical
from .runtime import AutoRigRuntime

BLINKS = (INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"])
GAZE = tuple(i for n, i in INDEX.items() if n.startswith("eyeLook"))
# One-sided shapes move the subject's own side (Left: +X): every Left/Right shape but
# those that move the whole mouth or jaw sideways, and the gaze (rigid eyeballs). Their
# motion fades out across the middle over SIDE_BLEND_MM each way (canonical mm); the
# Face Cap artist's own keys keep 91 %+ of their motion on their side.
ONE_SIDED = tuple(i for n, i in INDEX.items() if n.endswith(("Left", "Right"))
                  and not n.startswith(("mouthLeft", "mouthRight", "jawLeft", "jawRight", "eyeLook")))
SIDE_BLEND_MM = 6.0
MOUTH_BOX_MM = (np.array([-45.0, -90.0, -95.0]), np.array([45.0, 10.0, -25.0]))
# The face check (canonical mm): a nose stands out below the eyes. Between NOSE_BAND_MM
# below the eye line, the skin within NOSE_HALF_WIDTH_MM of the middle reaches at least
# NOSE_MIN_MM further forward than the skin BESIDE_NOSE_MM to the side (its
# BESIDE_PERCENTILE-th most forward point): 10+ mm on real heads, ~2 on a sphere, 0 on a cube.
NOSE_BAND_MM = (-60.0, -10.0)
NOSE_HALF_WIDTH_MM = 8.0
BESIDE_NOSE_MM = (20.0, 30.0)
BESIDE_PERCENTILE = 5
NOSE_MIN_MM = 10.0
# The expected axis keeps a weaker nose (a held-out anny head without eyeballs, framed
# from its shape: 8.4 mm); another axis must show a clear one (NOSE_MIN_MM) to win, as
# the chin of an upside-down head can stand out as far as a nose.
NOSE_WEAK_MM = 5.0
# With eyeballs, the face also lies in front of them: the skin reaches at most this far
# forward of the eye centres (the nose tip: 40-55 mm on adult heads; the crown of a head
# wrongly taken to face up: 100+ mm).
FRONT_MAX_MM = 75.0
FRONT_PERCENTILE = 0.5
# Orientations tried when the face is not found facing the expected axis: every forward
# axis with every up axis across it, the expected ones first.
AXES = ("-Y", "+Y", "-X", "+X", "-Z", "+Z")
# With eye centres known, an orientation is tried only if its side axis runs along the eye
# line (cosine at least this).
EYE_LINE_ALONG_SIDE = 0.7
MID_VERTS = 40000   # above this, proxy values reach the full mesh through a mid-size copy
# The mid-size copy only carries values between proxy and mesh: its total size matters,
# not each lash piece's exact count, so it gets two clustering passes (the first sets
# the cells from the areas, the second corrects the total) instead of decimate's PASSES.
MID_PASSES = 2
TRANSFER_BLOCK = 2048  # vertices per block when carrying values from the mid-size copy


@dataclass
class RigOptions:
    forward_axis: str = "-Y"
    up_axis: str | None = None          # default: Z, or Y when the face looks along Z
    include_eyes: bool = True
    include_mouth_interior: bool = True  # teeth, gums, tongue
    strength: float = 1.0
    region_strength: dict[str, float] = field(default_factory=dict)  # ml.arkit regions
    proxy_verts: int = 5000


@dataclass
class RigResult:
    deltas: np.ndarray                  # [52, V, 3] float32, in the input's space
    transform: Transform                # input space -> canonical frame
    eyes: eyes_mod.EyePair | None
    face_found: bool
    warnings: list[str]
    forward_axis: str = "-Y"            # where the face was found to look
    up_axis: str = "+Z"
    notes: list[str] = field(default_factory=list)  # what was rigged (whole-file search)


def default_runtime() -> AutoRigRuntime:
    """The committed network, loaded once per process."""
    return AutoRigRuntime.cached()


def _up_axis(options: RigOptions) -> str:
    if options.up_axis:
        return options.up_axis
    return "Y" if options.forward_axis.lstrip("+-").upper() == "Z" else "Z"


def _validate(verts, tris) -> tuple[np.ndarray, np.ndarray]:
    verts = np.asarray(verts, dtype=np.float64)
    tris = np.asarray(tris, dtype=np.int64)
    if verts.ndim != 2 or verts.shape[1] != 3 or len(verts) == 0:
        raise ValueError("the mesh is empty: nothing to rig")
    if not np.isfinite(verts).all():
        bad = int((~np.isfinite(verts)).any(axis=1).sum())
        raise ValueError(f"the mesh has {bad} vertices with NaN or infinite coordinates; fix them first")
    if tris.size == 0:
        raise ValueError("the mesh has no faces (only loose vertices or edges): nothing to rig")
    if tris.min() < 0 or tris.max() >= len(verts):
        raise ValueError("the mesh's faces refer to vertices that do not exist")
    clean = clean_triangles(tris)
    if len(clean) == 0:
        raise ValueError("every face of the mesh is degenerate: nothing to rig")
    extent = np.ptp(verts, axis=0).max()
    if not extent > 0:
        raise ValueError("the mesh has no size (all vertices at one point)")
    return verts, clean.astype(np.int32)


@dataclass
class Orientation:
    """Where the face looks and the canonical frame that follows from it."""
    transform: Transform
    eyes: eyes_mod.EyePair | None
    forward_axis: str
    up_axis: str
    face_found: bool


def _frame_for(verts, tris, labels, forward: str, up: str, eye_hint=None, regions=None):
    """(Transform, EyePair or None): the canonical frame for a head facing `forward` with
    `up` up, from its eyeballs when it has them, else from its shape alone; `eye_hint`
    [2,3] (eye centres found beforehand) replaces the shape's guess, and makes
    orientations whose side axis does not run along the eye line give None. `regions`:
    see `eyes.find_eyeballs`."""
    if eye_hint is None:
        rough = estimate_frame(verts, tris, forward, up)
    else:
        hint = np.asarray(eye_hint, np.float64)
        side = np.cross(axis_vector(up), axis_vector(forward))   # the subject's left
        line = hint[0] - hint[1]
        along = line @ side / np.linalg.norm(line)
        if abs(along) < EYE_LINE_ALONG_SIDE:
            return None
        rough = canonical_transform(hint if along > 0 else hint[::-1], axis_vector(up), axis_vector(forward))
    eye = eyes_mod.find_eyeballs(verts, tris, labels, frame_hint=rough, regions=regions)
    if eye is None:
        return rough, None
    return canonical_transform(eye.centres, axis_vector(up), axis_vector(forward)), eye


def signed_axis(axis: str) -> str:
    """'Z' -> '+Z', '-y' -> '-Y': one spelling per axis."""
    axis = axis.upper()
    return axis if axis[0] in "+-" else "+" + axis


def orientations(forward: str, up: str):
    """(forward, up) axis pairs to try: the given pair first, then every other pair of
    perpendicular axes (the given forward with other ups before other forwards)."""
    forward, up = signed_axis(forward), signed_axis(up)
    pairs = [(f, u) for f in AXES for u in AXES if f[1] != u[1]]
    pairs.sort(key=lambda p: (p[0] != forward, p != (forward, up)))
    return pairs


def orient(verts, tris, labels, options: RigOptions, eye_hint=None) -> Orientation:
    """The head's frame, checked: a face must look along the expected axis. An orientation
    where both eyeballs and a nose are found wins (when the head has sphere-like parts at
    all). Else the expected axis stands if it shows at least a weak nose (NOSE_WEAK_MM);
    only a head with no nose that way is turned to the axis with the most prominent
    nose, if that one is clear (NOSE_MIN_MM). When no face is found anywhere, the expected
    axis stands (face_found False). `eye_hint`: see `_frame_for`."""
    skin = np.asarray(labels) == np.argmax(np.bincount(labels))  # the face is on the biggest part
    may_have_eyes = eye_hint is not None or _sphere_parts(verts, labels) >= 2
    # the skin's crease regions (eyes built into it) do not depend on the orientation
    regions = functools.cache(lambda: eyes_mod.crease_regions(verts, tris, labels))
    tried = []
    for forward, up in orientations(options.forward_axis, _up_axis(options)):
        framed = _frame_for(verts, tris, labels, forward, up, eye_hint, regions)
        if framed is None:
            continue
        T, eye = framed
        score = _nose_score(to_canonical(verts[skin], T).astype(np.float64), eye is not None)
        if eye is not None and score >= NOSE_MIN_MM:
            return Orientation(T, eye, forward, up, True)
        tried.append((score, Orientation(T, eye, forward, up, False)))
        if not may_have_eyes and len(tried) == 1 and score >= NOSE_WEAK_MM:
            break
    expected_score, expected = tried[0]
    if expected_score >= NOSE_WEAK_MM:
        return replace(expected, face_found=True)
    score, best = max(tried, key=lambda t: t[0])
    return replace(best, face_found=True) if score >= NOSE_MIN_MM else expected


def _sphere_parts(verts, labels) -> int:
    """How many loose parts could be eyeballs by their shape alone (any size or place)."""
    counts = np.bincount(labels)
    _, _, resid, openness, _ = eyes_mod.fit_spheres(verts, labels)
    return int(((counts >= eyes_mod.MIN_VERTS) & (resid <= eyes_mod.MAX_RESIDUAL)
                & (openness <= eyes_mod.MAX_OPENNESS)).sum())


def _nose_score(verts_c: np.ndarray, has_eyes: bool = False) -> float:
    """How far (mm) a nose stands out below the eyes: its tip in front of the skin just
    beside it (10+ on real heads, ~2 on a sphere, 0 on a cube); -inf when there is no
    such band or, with eyeballs, when the face does not lie just in front of them."""
    band = (verts_c[:, 2] < NOSE_BAND_MM[1]) & (verts_c[:, 2] > NOSE_BAND_MM[0])
    x = np.abs(verts_c[:, 0])
    nose = band & (x < NOSE_HALF_WIDTH_MM)
    beside = band & (x > BESIDE_NOSE_MM[0]) & (x < BESIDE_NOSE_MM[1])
    if not nose.any() or not beside.any():
        return -np.inf
    if has_eyes and -np.percentile(verts_c[:, 1], FRONT_PERCENTILE) > FRONT_MAX_MM:
        return -np.inf
    return float(np.percentile(verts_c[beside, 1], BESIDE_PERCENTILE) - verts_c[nose, 1].min())


def _mouth_parts(verts_c, labels, skin_part: int) -> np.ndarray:
    """Loose parts whose centre lies inside the mouth region (teeth, gums, tongue)."""
    n = labels.max() + 1
    centre = np.stack([np.bincount(labels, weights=verts_c[:, i], minlength=n) for i in range(3)], 1)
    centre /= np.maximum(np.bincount(labels, minlength=n), 1)[:, None]
    inside = np.all((centre >= MOUTH_BOX_MM[0]) & (centre <= MOUTH_BOX_MM[1]), axis=1)
    inside[skin_part] = False
    return np.flatnonzero(inside)


def rig(verts, tris, part_labels=None, options: RigOptions | None = None, progress=None,
        runtime: AutoRigRuntime | None = None) -> RigResult:
    """Predict [52, V, 3] ARKit displacements for a head given as vertices [V,3] and
    triangles [F,3] (any space; several loose parts allowed)."""
    verts, tris = _validate(verts, tris)
    groups = None if part_labels is None else np.asarray(part_labels, dtype=np.int64)
    weld = weld_index(verts, groups)
    if weld.max() + 1 == len(verts):
        return _rig(verts, tris, groups, options, progress, runtime)
    # Seams split in the file (glTF, FBX): rig the welded surface, copy back to every copy.
    first = np.zeros(weld.max() + 1, np.int64)
    first[weld[::-1]] = np.arange(len(weld))[::-1]
    result = _rig(verts[first], clean_triangles(weld[tris]).astype(np.int32),
                  None if groups is None else groups[first], options, progress, runtime)
    result.deltas = result.deltas[:, weld]
    if result.eyes is not None:
        result.eyes = replace(result.eyes, members=tuple(
            np.flatnonzero(np.isin(weld, m)) for m in result.eyes.members))
    return result


def _rig(verts, tris, part_labels, options, progress, runtime) -> RigResult:
    options = options or RigOptions()
    report = progress or (lambda f: None)
    warnings: list[str] = []
    labels = (connected_components(len(verts), np.concatenate([tris[:, :2], tris[:, 1:]]))
              if part_labels is None else np.asarray(part_labels, dtype=np.int64))
    report(0.05)
    found = orient(verts, tris, labels, options)
    T, eye, face_found = found.transform, found.eyes, found.face_found
    verts_c = to_canonical(verts, T).astype(np.float64)
    if not face_found:
        warnings.append("no face found on this mesh (is it a head?); rigged as if facing "
                        f"{options.forward_axis}: the shapes may be meaningless")
    elif (found.forward_axis, found.up_axis) != orientations(options.forward_axis, _up_axis(options))[0]:
        warnings.append(f"the face looks toward {found.forward_axis} (up {found.up_axis}), not "
                        f"{options.forward_axis}: rigged that way")
    if eye is None:
        warnings.append("no eyeballs found: eye positions estimated from the head's shape; "
                        "the eyeLook shapes move nothing")
    report(0.15)

    skin_part = int(np.argmax(np.bincount(labels)))
    skin = labels == skin_part
    # Huge meshes are decimated in two steps, and the mid-size copy carries the values back.
    mid = _proxy(verts_c, tris, labels, MID_VERTS, MID_PASSES)
    proxy, proxy_tris, proxy_labels = _proxy(*mid, options.proxy_verts)
    report(0.3)
    pred = (runtime or default_runtime())(**mesh_inputs(proxy, proxy_tris))      # [Vp,52,3]
    report(0.6)
    deltas = (_to_full(pred.reshape(len(proxy), -1), (proxy, proxy_tris, proxy_labels), mid,
                       (verts_c, tris, labels))
              if proxy is not verts_c else np.ascontiguousarray(pred.transpose(1, 0, 2)))
    report(0.85)

    mouth_parts = _mouth_parts(verts_c, labels, skin_part)
    if eye is not None:
        eye_c = canonical_eyes(eye, T)
        deltas = _eye_motion(verts_c, deltas, eye_c, options.include_eyes)
        deltas = _close_blinks(verts_c, deltas, eye_c, skin)
        deltas = _keep_lids_off(verts_c, deltas, eye_c, skin)
    else:
        deltas[list(GAZE)] = 0.0     # no eyeballs to turn: gaze moves nothing
    deltas = _keep_to_side(verts_c, deltas, labels, mouth_parts)
    deltas, floor_notes = apply_floors(verts_c, deltas, skin, labels, mouth_parts)
    if len(mouth_parts):
        deltas = eyes_mod.jaw_rigid(verts_c, deltas, labels, mouth_parts)
        if not options.include_mouth_interior:
            deltas[:, np.isin(labels, mouth_parts)] = 0.0
    deltas *= _strengths(options)[:, None, None]
    report(1.0)
    return RigResult(deltas=from_canonical(deltas, T, delta=True), transform=T, eyes=eye,
                     face_found=face_found, warnings=warnings, forward_axis=found.forward_axis,
                     up_axis=found.up_axis, notes=floor_notes)


def canonical_eyes(eye: eyes_mod.EyePair, T: Transform) -> eyes_mod.EyePair:
    """An eye pair found in the input's space, expressed in the canonical frame."""
    return replace(eye, centres=to_canonical(eye.centres, T).astype(np.float64),
                   radii=eye.radii * T.scale, up=eyes_mod.UP.copy(),
                   forward=eyes_mod.FORWARD.copy())


def canonical_view(verts, result: RigResult):
    """(verts [V,3], deltas [52,V,3], eyes or None) of a rig in the canonical frame (mm),
    where `metrics` measures."""
    T = result.transform
    deltas = to_canonical(result.deltas.reshape(-1, 3), T, delta=True).reshape(result.deltas.shape)
    eye = canonical_eyes(result.eyes, T) if result.eyes is not None else None
    return to_canonical(verts, T), deltas, eye


def _proxy(verts_c, tris, labels, target: int, passes: int = PASSES):
    """The mesh itself when small enough, else a decimated copy (`decimate`'s clustering
    passes) whose vertices take the part of their nearest original vertex."""
    if len(verts_c) <= target:
        return verts_c, tris, labels
    pv, pt = decimate(verts_c, tris, target, passes=passes)
    return pv.astype(np.float64), pt, labels[cKDTree(verts_c).query(pv)[1]]


def _to_full(values, proxy, mid, full) -> np.ndarray:
    """Proxy values [Vp, 52*3] -> [52, V, 3] on every vertex of the full mesh, without
    proxy facets: a heat-smoothed transfer onto the mid-size mesh (the full one unless it
    is huge), then, for huge meshes, barycentric from there (its facets are too small to
    see, and a smoothing solve on the full mesh would dominate the run time)."""
    values = smooth_transfer(values, proxy[0], proxy[1], mid[0], mid[1], src_parts=proxy[2],
                             parts=mid[2], corrections=0)
    if mid[0] is full[0]:
        return np.ascontiguousarray(values.reshape(len(values), NUM_SHAPES, 3).transpose(1, 0, 2))
    # Facing triangles only: inside the mouth the other lip's surface can be the nearest.
    index, bary = closest_points(mid[0], mid[1], full[0], mid[2], full[2],
                                 vertex_normals(full[0], full[1]), exact=False)
    deltas = np.empty((NUM_SHAPES, len(index), 3), values.dtype)
    # Small blocks of vertices, turned to shape-major on the fly: at 500k vertices one
    # transfer and a transposed copy would make several temporaries of 300 MB each.
    for start in range(0, len(index), TRANSFER_BLOCK):
        block = slice(start, start + TRANSFER_BLOCK)
        deltas[:, block] = transfer(values, mid[1], index[block], bary[block]).reshape(
            -1, NUM_SHAPES, 3).transpose(1, 0, 2)
    return deltas


def _eye_motion(verts_c, deltas, eye, include: bool) -> np.ndarray:
    """Eyeballs move only by rigid gaze rotations (or not at all when excluded)."""
    members = np.concatenate(eye.members)
    deltas[:, members] = 0.0
    if include:
        for name, d in eyes_mod.gaze_deltas(verts_c, eye).items():
            deltas[INDEX[name], members] = d[members]
    return deltas


def _close_blinks(verts_c, deltas, eye, skin) -> np.ndarray:
    """Each eyeBlink brings its eye's upper lid all the way down (`blink.close_blink`);
    the eyeballs themselves stay still."""
    movable = np.ones(len(verts_c), bool)
    movable[np.concatenate(eye.members)] = False
    for k, s in enumerate(BLINKS):
        deltas[s] = close_blink(verts_c, deltas[s], eye, k, skin, movable)
    return deltas


def _keep_lids_off(verts_c, deltas, eye, skin) -> np.ndarray:
    """At full blink, lid vertices that would sink into an eyeball are pushed back out
    (only skin that starts outside the eyeballs: a socket behind them stays put)."""
    outside = skin & (eyes_mod.push_out_of_eyeball(verts_c, eye) == verts_c).all(axis=1)
    for s in BLINKS:
        posed = verts_c + deltas[s]
        fixed = eyes_mod.push_out_of_eyeball(posed, eye)
        deltas[s, outside] += (fixed - posed)[outside]
    return deltas


def _keep_to_side(verts_c, deltas, labels, mouth_parts) -> np.ndarray:
    """One-sided shapes keep their motion on their own side: faded to zero across the
    middle plane (the network, smooth and trained on symmetric heads, lets a left blink
    or sneer reach the right side of heads unlike its training artists'). Teeth and
    tongue are left to the jaw step."""
    x = verts_c[:, 0]
    left = ramp(x, -SIDE_BLEND_MM, SIDE_BLEND_MM).astype(deltas.dtype)  # 0 right of the middle, 1 left
    free = np.isin(labels, mouth_parts)
    for i in ONE_SIDED:
        w = left if ARKIT_NAMES[i].endswith("Left") else 1 - left
        deltas[i] *= np.where(free, 1, w)[:, None]
    return deltas


def _strengths(options: RigOptions) -> np.ndarray:
    """Per-shape multipliers: overall strength times each shape's region strength."""
    unknown = set(options.region_strength) - set(REGION_OF.values())
    if unknown:
        raise ValueError(f"unknown face regions {sorted(unknown)}; use {sorted(set(REGION_OF.values()))}")
    region = np.array([options.region_strength.get(REGION_OF[n], 1.0) for n in ARKIT_NAMES])
    return (options.strength * region).astype(np.float32)
