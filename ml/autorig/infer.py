"""Rig any head: mesh arrays in, the 52 ARKit shapes' displacements out (same space).

Pipeline: validate -> canonical frame (eyeballs if the head has them, else the head's
shape) -> decimated proxy -> network on the proxy -> smooth transfer to every vertex ->
rigid eye gaze, blinks closed fully, rigid jaw for teeth/tongue, lids kept off the
eyeballs -> strengths -> back to the mesh's own space.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.spatial import cKDTree

from ..arkit import ARKIT_NAMES, INDEX, NUM_SHAPES, REGION_OF
from ..geometry.gradients import vertex_normals
from ..geometry.mesh import clean_triangles
from ..geometry.parts import connected_components
from ..geometry.remesh import PASSES, closest_points, decimate, smooth_transfer, transfer
from . import eyes as eyes_mod
from .blink import close_blink
from .features import mesh_inputs
from .frame import Transform, axis_vector, canonical_transform, estimate_frame, from_canonical, to_canonical
from .runtime import AutoRigRuntime

BLINKS = (INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"])
MOUTH_BOX_MM = (np.array([-45.0, -90.0, -95.0]), np.array([45.0, 10.0, -25.0]))
NOSE_MIN_MM = 10.0  # the nose tip stands at least this far in front of the skin beside it
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


def _frame(verts, tris, labels, options, warnings) -> tuple[Transform, eyes_mod.EyePair | None]:
    up = _up_axis(options)
    rough = estimate_frame(verts, tris, options.forward_axis, up)
    eye = eyes_mod.find_eyeballs(verts, tris, labels, frame_hint=rough)
    if eye is None:
        warnings.append("no eyeballs found: eye positions estimated from the head's shape")
        return rough, None
    return canonical_transform(eye.centres, axis_vector(up), axis_vector(options.forward_axis)), eye


def _face_found(verts_c: np.ndarray) -> bool:
    """A nose stands out of the face below the eyes: its tip is well in front of the skin
    just beside it (10+ mm on real heads; about 2 mm on a sphere, none on a cube)."""
    band = (verts_c[:, 2] < -10.0) & (verts_c[:, 2] > -60.0)
    nose = band & (np.abs(verts_c[:, 0]) < 8.0)
    beside = band & (np.abs(verts_c[:, 0]) > 20.0) & (np.abs(verts_c[:, 0]) < 30.0)
    if not nose.any() or not beside.any():
        return False
    return bool(np.percentile(verts_c[beside, 1], 5) - verts_c[nose, 1].min() > NOSE_MIN_MM)


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
    options = options or RigOptions()
    report = progress or (lambda f: None)
    warnings: list[str] = []
    verts, tris = _validate(verts, tris)
    labels = (connected_components(len(verts), np.concatenate([tris[:, :2], tris[:, 1:]]))
              if part_labels is None else np.asarray(part_labels, dtype=np.int64))
    report(0.05)
    T, eye = _frame(verts, tris, labels, options, warnings)
    verts_c = to_canonical(verts, T).astype(np.float64)
    face_found = eye is not None or _face_found(verts_c)
    if not face_found:
        warnings.append("no face found on this mesh (is it a head, facing "
                        f"{options.forward_axis}?); the shapes may be meaningless")
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
    if len(mouth_parts):
        deltas = eyes_mod.jaw_rigid(verts_c, deltas, labels, mouth_parts)
        if not options.include_mouth_interior:
            deltas[:, np.isin(labels, mouth_parts)] = 0.0
    deltas *= _strengths(options)[:, None, None]
    report(1.0)
    return RigResult(deltas=from_canonical(deltas, T, delta=True), transform=T, eyes=eye,
                     face_found=face_found, warnings=warnings)


def canonical_eyes(eye: eyes_mod.EyePair, T: Transform) -> eyes_mod.EyePair:
    """An eye pair found in the input's space, expressed in the canonical frame."""
    return replace(eye, centres=to_canonical(eye.centres, T).astype(np.float64),
                   radii=eye.radii * T.scale, up=np.array([0.0, 0.0, 1.0]),
                   forward=np.array([0.0, -1.0, 0.0]))


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


def _strengths(options: RigOptions) -> np.ndarray:
    """Per-shape multipliers: overall strength times each shape's region strength."""
    unknown = set(options.region_strength) - set(REGION_OF.values())
    if unknown:
        raise ValueError(f"unknown face regions {sorted(unknown)}; use {sorted(set(REGION_OF.values()))}")
    region = np.array([options.region_strength.get(REGION_OF[n], 1.0) for n in ARKIT_NAMES])
    return (options.strength * region).astype(np.float32)
