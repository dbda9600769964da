"""Find the face in a whole avatar file: which meshes, loose parts and regions to rig.

An avatar file holds the head with the parts that move with the face (eyeballs,
corneas, teeth, gums, tongue, lashes, brows, eye shells) beside a body, outfit, hair,
hats and glasses that must stay as they are. Every mesh is given here in world space,
split into loose parts; the finder

1. looks for a pair of eyeballs anywhere (sphere-like parts of one size a few radii
   apart, inside a bigger part) and centres the head zone on them; without one, the
   whole file is the head when it is about as tall as wide, else the top of the figure;
2. takes the biggest part in the zone as the face's skin (cut to the zone when it
   carries on into a body) and checks its orientation (`infer.orient`);
3. classifies every other part in the canonical frame: eyes, mouth interior, eye
   details (lashes, brows, shells: small, on the skin, around the eyes), or left alone.

Nothing here knows Blender: pieces are arrays, the result is one vertex mask per piece.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from . import eyes as eyes_mod
from .frame import IPD_MM, to_canonical
from .infer import Orientation, RigOptions, _up_axis, orient, orientations

# Eyeball pairs in world space (no frame yet): two sphere-like parts whose radii differ by
# at most PAIR_RADIUS_MISMATCH of the smaller, PAIR_GAP_RADII radii apart (adult eyes ~5,
# big stylised eyes ~3), inside a bigger part with at least HOST_MIN_VERTS vertices.
PAIR_RADIUS_MISMATCH = 0.3
MIN_SPREAD = 0.1   # see `_spread`: rules out cylinders and rings, which fit spheres too
PAIR_GAP_RADII = (2.5, 9.0)
HOST_MIN_VERTS = 100
# The head zone: a ball of ZONE_RADIUS eye distances around the eyes' midpoint (an adult
# head reaches 2.1-2.7 from there, to the chin and the back of the skull).

ZONE_RADIUS = 3.2
# Without eyeballs: a file at most HEAD_ASPECT times taller than wide is one head (a head
# with its neck, a mask: up to ~2; a standing figure in A-pose ~3.5); a
# taller figure's head is the top HEAD_SHARE of its height.
HEAD_ASPECT = 2.5
HEAD_SHARE = 0.14
# A part belongs to the head only if this share of its vertices lies in the zone.
IN_ZONE = 0.9
# Eye details (canonical mm): at most DETAIL_MAX_MM across, half their vertices within
# DETAIL_SKIN_MM of the skin (or of an eyeball's sphere), centred in DETAIL_BOX_MM.
DETAIL_MAX_MM = 60.0
DETAIL_SKIN_MM = 6.0
DETAIL_BOX_MM = (np.array([-75.0, -60.0, -30.0]), np.array([75.0, 25.0, 55.0]))

# Mouth interior (teeth, gums, tongue): centred in this box (canonical mm), which reaches
# further back than the jaw's rigid-part box (`infer.MOUTH_BOX_MM`) for a tongue's root.
MOUTH_REACH_MM = (np.array([-45.0, -90.0, -100.0]), np.array([45.0, 60.0, -20.0]))

FACE, EYE, MOUTH, DETAIL, OTHER = "face", "eye", "mouth interior", "eye detail", "left alone"


@dataclass
class Piece:
    """One mesh in world space: vertices [V,3], triangles [F,3], loose part per vertex [V]."""
    name: str
    verts: np.ndarray
    tris: np.ndarray
    labels: np.ndarray


@dataclass
class Selection:
    """What to rig: per piece a vertex mask [V] (all False: left alone), the kind of each
    of its loose parts, the orientation found, and report lines."""
    masks: list[np.ndarray]
    part_kinds: list[dict[int, str]]
    orientation: Orientation
    eyes_found: bool
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def describe(self, names: list[str]) -> list[str]:
        """One line per piece: 'Head: face', 'Teeth: mouth interior (2 parts)', ..."""
        lines = []
        for name, kinds, mask in zip(names, self.part_kinds, self.masks):
            counts: dict[str, int] = {}
            for kind in kinds.values():
                counts[kind] = counts.get(kind, 0) + 1
            if FACE in counts and not mask.all():
                counts[FACE + " (cut from the rest of the mesh)"] = counts.pop(FACE)
            order = [FACE, FACE + " (cut from the rest of the mesh)", EYE, MOUTH, DETAIL, OTHER]
            parts = [k if counts[k] == 1 else f"{k} ({counts[k]} parts)" for k in order if k in counts]
            lines.append(f"{name}: {', '.join(parts)}")
        return lines


class NoFaceError(ValueError):
    """Nothing face-like in the file."""


def _joined(pieces: list[Piece]):
    """All pieces as one mesh: verts [N,3], tris, global part id per vertex, piece per part."""
    verts, tris, labels, owner, offset, part0 = [], [], [], [], 0, 0
    for i, p in enumerate(pieces):
        lab = np.asarray(p.labels, np.int64)
        n_parts = int(lab.max(initial=-1)) + 1
        verts.append(np.asarray(p.verts, np.float64))
        tris.append(np.asarray(p.tris, np.int64) + offset)
        labels.append(lab + part0)
        owner.append(np.full(n_parts, i))
        offset += len(p.verts)
        part0 += n_parts
    return (np.concatenate(verts), np.concatenate(tris), np.concatenate(labels),
            np.concatenate(owner))


def _eye_pair(verts, labels, counts) -> tuple[np.ndarray, float, tuple[int, int]] | None:
    """(midpoint [3], eye distance, part ids) of the most likely eyeball pair, or None: among pairs
    inside a bigger part's bounding box, the highest (world Z), then the biggest."""
    centres, radii, resid, openness, _ = eyes_mod.fit_spheres(verts, labels)
    sphere = np.flatnonzero((counts >= eyes_mod.MIN_VERTS) & (resid <= eyes_mod.MAX_RESIDUAL)
                            & (openness <= eyes_mod.MAX_OPENNESS) & (radii > 0)
                            & (_spread(verts, labels, centres) >= MIN_SPREAD))
    if len(sphere) < 2:
        return None
    c, r = centres[sphere], radii[sphere]
    gap = np.linalg.norm(c[:, None] - c[None], axis=2) / ((r[:, None] + r[None]) / 2)
    alike = np.abs(r[:, None] - r[None]) <= PAIR_RADIUS_MISMATCH * np.minimum(r[:, None], r[None])
    ii, jj = np.nonzero(np.triu(alike & (gap >= PAIR_GAP_RADII[0]) & (gap <= PAIR_GAP_RADII[1]), 1))
    if not len(ii):
        return None
    hosts = np.flatnonzero(counts >= HOST_MIN_VERTS)
    lo = np.stack([verts[labels == h].min(0) for h in hosts]) if len(hosts) else np.zeros((0, 3))
    hi = np.stack([verts[labels == h].max(0) for h in hosts]) if len(hosts) else np.zeros((0, 3))
    best, best_key = None, None
    for i, j in zip(ii, jj):
        mid = (c[i] + c[j]) / 2
        inside = np.all((lo <= mid) & (mid <= hi), axis=1)
        inside &= (hosts != sphere[i]) & (hosts != sphere[j])
        if not inside.any():
            continue
        key = (round(float(mid[2]), 6), float(r[i] + r[j]))
        if best_key is None or key > best_key:
            best, best_key = (mid, float(np.linalg.norm(c[i] - c[j])), (sphere[i], sphere[j])), key
    return best


def _spread(verts, labels, centres) -> np.ndarray:
    """[P] smallest eigenvalue of the second moment of unit directions from each part's
    fitted centre: ~1/3 on a sphere or a half-shell, ~0 on two rings (a cylinder's ends)."""
    n = len(centres)
    off = verts - centres[labels]
    unit = off / np.maximum(np.linalg.norm(off, axis=1, keepdims=True), 1e-12)
    m = np.zeros((n, 3, 3))
    np.add.at(m, labels, unit[:, :, None] * unit[:, None, :])
    m /= np.maximum(np.bincount(labels, minlength=n), 1)[:, None, None]
    return np.linalg.eigvalsh(m)[:, 0]


def _zone(verts, labels, counts, pair) -> tuple[np.ndarray, str | None]:
    """[N] bool: the head zone, and a warning when it was guessed without eyeballs."""
    if pair is not None:
        mid, dist, _ = pair
        return np.linalg.norm(verts - mid, axis=1) <= ZONE_RADIUS * dist, None
    extent = np.ptp(verts, axis=0)
    if extent[2] <= HEAD_ASPECT * max(extent[0], extent[1]):
        return np.ones(len(verts), bool), None
    top = verts[:, 2].max()
    return (verts[:, 2] >= top - HEAD_SHARE * extent[2],
            "no eyeballs in the file: the head is taken to be the top of the figure")


def find_face(pieces: list[Piece], options: RigOptions | None = None) -> Selection:
    """The face among the pieces (world-space meshes); raises NoFaceError if none is found."""
    options = options or RigOptions()
    verts, tris, labels, owner = _joined(pieces)
    n_parts = len(owner)
    counts = np.bincount(labels, minlength=n_parts)
    pair = _eye_pair(verts, labels, counts)
    zone, guess = _zone(verts, labels, counts, pair)
    in_zone = np.bincount(labels, weights=zone, minlength=n_parts) / np.maximum(counts, 1)
    skin = int(np.argmax(np.bincount(labels[zone], minlength=n_parts)))
    head_parts = np.flatnonzero((in_zone >= IN_ZONE) | (np.arange(n_parts) == skin))

    # Orientation and frame from the skin (cut to the zone) and the sphere-like parts.
    chosen = np.isin(labels, head_parts) & (zone | (labels != skin))
    tri_ok = chosen[tris].all(axis=1)
    idx = np.flatnonzero(chosen)
    remap = np.full(len(verts), -1)
    remap[idx] = np.arange(len(idx))
    sub_v, sub_t, sub_l = verts[idx], remap[tris[tri_ok]], labels[idx]
    if not len(sub_t):
        raise NoFaceError("no face found in the file: nothing with faces near a head")
    # Orientation and frame from the skin and the eyeball pair only: hair, hats and
    # glasses would bias a frame taken from the head's shape (and glasses' rims can
    # pass for eyeballs).
    frame_parts = [skin] + (list(pair[2]) if pair is not None else [])
    hint = None
    if pair is not None:
        centres = eyes_mod.fit_spheres(verts, labels)[0]
        hint = centres[list(pair[2])]
    found = _orient_subset(sub_v, sub_t, sub_l, np.isin(sub_l, frame_parts), options, hint)
    if not found.face_found and found.eyes is None:
        raise NoFaceError(f"no face found in the file (searched {len(pieces)} mesh(es) facing "
                          "every axis); name the head mesh with --object to rig it anyway")

    kinds = _classify(verts, labels, owner, head_parts, skin, found, sub_v, sub_l)
    masks = [np.zeros(len(p.verts), bool) for p in pieces]
    starts = np.cumsum([0] + [len(p.verts) for p in pieces])
    rigged = np.zeros(len(verts), bool)
    for part, kind in kinds.items():
        if kind != OTHER:
            rigged |= labels == part
    rigged &= zone | (labels != skin)
    for i in range(len(pieces)):
        masks[i] = rigged[starts[i]:starts[i + 1]]
    part_kinds = [{} for _ in pieces]
    for part in range(n_parts):
        part_kinds[owner[part]][part] = kinds.get(part, OTHER)
    sel = Selection(masks, part_kinds, found, found.eyes is not None)
    if guess:
        sel.warnings.append(guess)
    if not found.face_found:
        sel.warnings.append("eyeballs found but no nose in front of them: rigged as if facing "
                            f"{found.forward_axis}; the shapes may be meaningless")
    elif (found.forward_axis, found.up_axis) != orientations(options.forward_axis, _up_axis(options))[0]:
        sel.warnings.append(f"the face looks toward {found.forward_axis} (up {found.up_axis}), "
                            f"not {options.forward_axis}: rigged that way")
    return sel


def _orient_subset(verts, tris, labels, keep, options, eye_hint=None) -> Orientation:
    """`orient` on the vertices `keep` [N] only, eyes found mapped back to `labels`."""
    idx = np.flatnonzero(keep)
    remap = np.full(len(verts), -1)
    remap[idx] = np.arange(len(idx))
    t = remap[tris[keep[tris].all(axis=1)]]
    lab = np.unique(labels[idx], return_inverse=True)[1]
    found = orient(verts[idx], t, lab, options, eye_hint)
    if found.eyes is not None:   # back to the labels of the whole subset
        parts = np.unique(labels[idx])
        found.eyes = eyes_mod.EyePair(
            centres=found.eyes.centres, radii=found.eyes.radii,
            parts=tuple(tuple(int(parts[p]) for p in ps) for ps in found.eyes.parts),
            members=tuple(idx[m] for m in found.eyes.members), up=found.eyes.up,
            forward=found.eyes.forward)
    return found


def _classify(verts, labels, owner, head_parts, skin, found: Orientation, sub_v, sub_l) -> dict[int, str]:
    """Kind of every part of the head zone (global part ids), in the canonical frame."""
    T = found.transform
    kinds = {skin: FACE}
    eye_parts = set()
    if found.eyes is not None:
        eye_parts = {p for ps in found.eyes.parts for p in ps}
        for p in eye_parts:
            kinds[int(p)] = EYE
    skin_c = to_canonical(verts[labels == skin], T)
    tree = cKDTree(skin_c)
    eye_c = (to_canonical(found.eyes.centres, T) if found.eyes is not None else None)
    eye_r = found.eyes.radii * T.scale if found.eyes is not None else None
    for part in head_parts:
        part = int(part)
        if part in kinds:
            continue
        pc = to_canonical(verts[labels == part], T).astype(np.float64)
        centre = pc.mean(axis=0)
        if np.all((centre >= MOUTH_REACH_MM[0]) & (centre <= MOUTH_REACH_MM[1])):
            kinds[part] = MOUTH
            continue
        near = tree.query(pc)[0]
        if eye_c is not None:
            off = np.linalg.norm(pc[:, None] - eye_c[None], axis=2) - eye_r[None]
            near = np.minimum(near, np.abs(off).min(axis=1))
        small = np.ptp(pc, axis=0).max() <= DETAIL_MAX_MM
        boxed = np.all((centre >= DETAIL_BOX_MM[0]) & (centre <= DETAIL_BOX_MM[1]))
        kinds[part] = DETAIL if small and boxed and np.median(near) <= DETAIL_SKIN_MM else OTHER
    return kinds
