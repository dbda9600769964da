"""The canonical head frame every auto-rig sample and input mesh is brought into:
millimetres with the eye centres 63 mm apart, origin at their midpoint, +X the
subject's left, -Y forward (Blender's front view), +Z up.

A `Transform` maps source coordinates x to canonical ones as `scale * R @ x + t`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

IPD_MM = 63.0  # adult mean interpupillary distance; the frame's unit of size
# Face-only meshes (a mask: no back of the head) are told apart by their depth along the
# forward axis over their width (whole heads 0.95-1.3, masks cut in front of the ears 0.4-0.6),
# and framed from their own width and nose tip (anny and ICT heads cut to their front:
# eye distance 0.43-0.52 of the width, eye centres 40-54 mm behind the nose tip, which
# sits about 0.6 eye distances below them).
MASK_DEPTH_RATIO = 0.75
MASK_IPD_PER_WIDTH = 0.47
MASK_EYES_BEHIND_NOSE = 0.75   # eye distances
MASK_EYES_ABOVE_NOSE = 0.6     # eye distances
# ...and by the open edge around them: boundary length over the square root of the area
# is ~5.5 for the built-in head cut to a mask, 2.3 for the whole head (neck cut, inner
# parts) and 1.6 for Suzanne (whose ears make her wider than deep).
MASK_BOUNDARY_MIN = 3.5
MASK_NOSE_BAND = 0.1           # the nose tip is sought within this share of the width of the middle
_AXES = {"X": 0, "Y": 1, "Z": 2}


class Transform(NamedTuple):
    """Similarity source -> canonical: `canonical = scale * rotation @ x + translation`."""
    scale: float
    rotation: np.ndarray     # [3,3], rows are the canonical axes in source coordinates
    translation: np.ndarray  # [3]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def canonical_transform(eye_centres, up_hint=(0.0, 0.0, 1.0),
                        forward_hint=(0.0, -1.0, 0.0)) -> Transform:
    """Transform putting the eye centres [2,3] (subject's left first) at (+-31.5, 0, 0).

    +X runs from the right eye to the left; +Z is the up hint made orthogonal to X,
    averaged with the up implied by the forward hint (forward x X), so either hint may
    be rough (or None) as long as they do not both lie along the eye line.
    """
    eyes = np.asarray(eye_centres, dtype=np.float64)
    x = _unit(eyes[0] - eyes[1])
    ups = []
    if up_hint is not None:
        ups.append(np.asarray(up_hint, dtype=np.float64))
    if forward_hint is not None:
        ups.append(np.cross(np.asarray(forward_hint, dtype=np.float64), x))
    if not ups:
        raise ValueError("canonical_transform needs an up or a forward hint")
    up = sum(_unit(u - (u @ x) * x) for u in ups)
    z = _unit(up - (up @ x) * x)
    rotation = np.stack([x, np.cross(z, x), z])  # rows: X, Y (backward), Z
    scale = IPD_MM / np.linalg.norm(eyes[0] - eyes[1])
    return Transform(float(scale), rotation, -scale * rotation @ eyes.mean(axis=0))


def to_canonical(points: np.ndarray, T: Transform, delta: bool = False) -> np.ndarray:
    """Source points (or, with delta=True, displacements: no translation) -> canonical."""
    out = T.scale * np.asarray(points, dtype=np.float64) @ T.rotation.T
    return (out if delta else out + T.translation).astype(np.float32)


def from_canonical(points: np.ndarray, T: Transform, delta: bool = False) -> np.ndarray:
    """Canonical points (or displacements with delta=True) -> the source frame.
    Displacements stay float32 (one [N,3] x [3,3] product): a 500k-vertex rig's 52 shapes
    are 76 M values, which a float64 copy would double."""
    if delta:
        p = np.asarray(points, dtype=np.float32)
        m = (T.rotation / T.scale).astype(np.float32)
        return (p.reshape(-1, 3) @ m).reshape(p.shape)
    p = np.asarray(points, dtype=np.float64) - T.translation
    return (p @ T.rotation / T.scale).astype(np.float32)


def axis_vector(axis: str) -> np.ndarray:
    """'-Y' -> (0,-1,0): a signed axis name as a unit vector."""
    sign = -1.0 if axis.startswith("-") else 1.0
    v = np.zeros(3)
    v[_AXES[axis.lstrip("+-").upper()]] = sign
    return v


def estimate_eyes(verts: np.ndarray, tris: np.ndarray, forward_axis: str = "-Y",
                  up_axis: str = "Z") -> np.ndarray:
    """Rough eye centres [2,3] of an upright head from its shape alone (source frame).

    The cranium is the reference: the slab of the mesh below its top whose depth
    settles (a few fixed-point steps) is taken as glabella-to-back-of-skull, ~190 mm
    on an adult; the eyes sit 0.59 of that below the top, 0.16 behind the slab's
    front and 63/190 of it apart, centred on the slab's left-right middle.
    Limits: the head must stand along `up_axis` facing `forward_axis` (no roll or
    pitch beyond ~10 deg); hair volume, hats, cartoon proportions (big cranium, tiny
    face) or a mesh cut above the eyes bias it further (on anny and ICT heads the eye
    centres come out 3-30 mm off, typically ~12 mm); only the
    vertices used by `tris` count. Inference refines this with eye detection.
    """
    fwd, up = axis_vector(forward_axis), axis_vector(up_axis)
    side = np.cross(up, fwd)  # the subject's left (Blender: +X)
    basis = np.stack([side, -fwd, up])  # into canonical-like axes: X left, Y back, Z up
    p = np.asarray(verts, dtype=np.float64)[np.unique(tris)] @ basis.T
    if is_mask(p) and boundary_ratio(verts, tris) > MASK_BOUNDARY_MIN:
        return _mask_eyes(p) @ basis
    top = p[:, 2].max()
    depth = np.ptp(p[:, 1])
    for _ in range(4):
        slab = p[p[:, 2] >= top - 0.6 * depth]
        depth = np.ptp(slab[:, 1])
    centre = np.array([(slab[:, 0].min() + slab[:, 0].max()) / 2,
                       slab[:, 1].min() + 0.16 * depth, top - 0.59 * depth])
    half = np.array([0.5 * depth * IPD_MM / 190.0, 0.0, 0.0])
    return np.stack([centre + half, centre - half]) @ basis


def is_mask(p: np.ndarray) -> bool:
    """Whether points [N,3] in canonical-like axes (X left, Y back, Z up) form a face-only
    mesh: much shallower front to back than wide."""
    width = np.ptp(p[:, 0])
    return bool(width > 0 and np.ptp(p[:, 1]) < MASK_DEPTH_RATIO * width)


def boundary_ratio(verts, tris) -> float:
    """Length of the mesh's open boundary (edges of one triangle) over sqrt(its area)."""
    v = np.asarray(verts, dtype=np.float64)
    t = np.asarray(tris, dtype=np.int64)
    e = np.sort(t[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    uniq, count = np.unique(e, axis=0, return_counts=True)
    edge = uniq[count == 1]
    length = np.linalg.norm(v[edge[:, 0]] - v[edge[:, 1]], axis=1).sum()
    area = 0.5 * np.linalg.norm(np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]), axis=1).sum()
    return float(length / np.sqrt(max(area, 1e-30)))


def _mask_eyes(p: np.ndarray) -> np.ndarray:
    """Eye centres [2,3] of a face-only mesh (canonical-like axes) from its width and the
    nose tip: the frontmost point near the left-right middle."""
    width = np.ptp(p[:, 0])
    mid_x = (p[:, 0].min() + p[:, 0].max()) / 2
    band = p[np.abs(p[:, 0] - mid_x) <= MASK_NOSE_BAND * width]
    band = band if len(band) else p
    tip = band[np.argmin(band[:, 1])]
    ipd = MASK_IPD_PER_WIDTH * width
    centre = np.array([mid_x, tip[1] + MASK_EYES_BEHIND_NOSE * ipd, tip[2] + MASK_EYES_ABOVE_NOSE * ipd])
    half = np.array([ipd / 2, 0.0, 0.0])
    return np.stack([centre + half, centre - half])


def estimate_frame(verts: np.ndarray, tris: np.ndarray, forward_axis: str = "-Y",
                   up_axis: str = "Z") -> Transform:
    """Canonical transform from geometry only (see `estimate_eyes` for its limits)."""
    eyes = estimate_eyes(verts, tris, forward_axis, up_axis)
    return canonical_transform(eyes, axis_vector(up_axis), axis_vector(forward_axis))
