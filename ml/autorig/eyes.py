"""Eyes and other rigid inner parts: eyeball detection among loose parts, gaze as a
rigid rotation of each eyeball, rigid jaw motion for teeth/tongue, and lid clearance.

Gaze is never predicted vertex by vertex: a wrong eyeball shape is far more visible
than a slightly wrong angle, so eyeLook* is a rotation about the fitted sphere's centre.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..arkit import region_mask
from ..geometry.mesh import face_normals, scatter_sum
from ..geometry.parts import connected_components
from .frame import Transform, estimate_frame, from_canonical, to_canonical

# Blender axes: the canonical frame's up and forward (+X is then the subject's left).
UP = np.array([0.0, 0.0, 1.0])
FORWARD = np.array([0.0, -1.0, 0.0])

# Default gaze angles in degrees: roughly the comfortable range of eye rotation
# (ARKit's weight 1 is a strong but natural look, not the anatomical limit).
GAZE_DEGREES = {"In": 25.0, "Out": 25.0, "Up": 20.0, "Down": 25.0}

# Sphere acceptance: RMS radial residual / radius, and |mean unit direction| (0 for a
# closed sphere, 0.5 for a hemisphere shell): an eyeball may be open at the back.
MAX_RESIDUAL = 0.1   # eyeballs with a corneal bulge (ICT) fit to ~8 % of the radius
MAX_OPENNESS = 0.35
# Eyes built as front caps only (anime and VRoid eyes: sclera and iris shells inside the
# face mesh, no back): a second search takes open sphere caps that face forward.
CAP_OPENNESS = 0.98
CAP_AXIS_GAP = 0.25     # ... whose vertices reach within this many radii of their forward axis
MIN_VERTS = 12
# Eyeball radius and where its centre may lie (box centre, half-size) in canonical mm:
# human eyeballs are ~12 mm, stylised ones bigger; an estimated frame is off by ~1 cm.
RADIUS_MM = (6.0, 24.0)
EYE_REGION_MM = (np.array([0.0, 0.0, 0.0]), np.array([60.0, 40.0, 35.0]))
WIDE_REGION_MM = np.array([80.0, 80.0, 100.0])  # second search when the frame guess is off
MAX_PAIR_MISMATCH = 0.5
# Eyes that are regions of the face mesh itself (iris and sclera faces joined to the lids):
# with no loose pair found, the largest part is split where neighbouring faces fold more
# than this against each other (an eye surface set into the lid opening), and the regions
# are searched as parts.
CREASE_DEGREES = 60.0
# Loose parts lying within this many radii of an eyeball's centre (iris, cornea,
# pupil) rotate with it; so does a smaller sphere whose centre lies within CONCENTRIC
# radii of the eyeball's (an inner layer of an eyeball made of several shells).
ABSORB_RADIUS = 1.12
CONCENTRIC = 0.1
# Lids: skin within LID_REACH eyeball radii of the centre and LID_FRONT radii in front of
# it; the opening (fissure) is found in a vertical strip LID_STRIP radii wide through the
# centre, and the lid margins are the skin within LID_MARGIN radii of its edges.
LID_REACH = 1.6
LID_FRONT = 0.3
LID_STRIP = 0.35
LID_MARGIN = 0.15


@dataclass(frozen=True)
class EyePair:
    """Two eyeballs, subject's left first: centres [2,3], radii [2], the loose-part ids
    of each eye and the vertex indices [n_i] that rotate with it, in the mesh's own
    coordinates; `up`/`forward` are the head's unit axes in those coordinates."""
    centres: np.ndarray
    radii: np.ndarray
    parts: tuple[tuple[int, ...], tuple[int, ...]]
    members: tuple[np.ndarray, np.ndarray]
    up: np.ndarray = field(default_factory=UP.copy)
    forward: np.ndarray = field(default_factory=FORWARD.copy)

    @property
    def left_axis(self) -> np.ndarray:
        """Unit vector toward the subject's left (+X in the canonical frame)."""
        return np.cross(self.up, self.forward)


def fit_spheres(verts: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, ...]:
    """Least-squares (algebraic) sphere per label, all labels at once.

    Returns centres [P,3], radii [P], RMS radial residual / radius [P], openness [P]
    (|mean unit direction from the centre|) and vertex counts [P]; P = labels.max()+1.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n_parts = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=n_parts).astype(np.float64)
    safe = np.maximum(counts, 1.0)[:, None]
    v = np.asarray(verts, dtype=np.float64)
    mean = scatter_sum(labels, v, n_parts) / safe
    p = v - mean[labels]                            # per-part centring for conditioning
    # |p|^2 = 2 c.p + (r^2 - |c|^2): linear in (c, d); solve the 4x4 normal equations.
    a = np.concatenate([2.0 * p, np.ones((len(p), 1))], axis=1)
    ata = scatter_sum(labels, (a[:, :, None] * a[:, None, :]).reshape(len(a), 16), n_parts)
    atb = scatter_sum(labels, a * (p * p).sum(1, keepdims=True), n_parts)
    ata = ata.reshape(n_parts, 4, 4) + 1e-12 * np.eye(4)
    sol = np.linalg.solve(ata, atb[..., None])[..., 0]
    c_local = sol[:, :3]
    radii = np.sqrt(np.maximum(sol[:, 3] + (c_local ** 2).sum(1), 0.0))
    off = p - c_local[labels]
    dist = np.linalg.norm(off, axis=1)
    resid = np.sqrt(scatter_sum(labels, (dist - radii[labels]) ** 2, n_parts) / safe[:, 0])
    unit = off / np.maximum(dist, 1e-12)[:, None]
    openness = np.linalg.norm(scatter_sum(labels, unit, n_parts) / safe, axis=1)
    return c_local + mean, radii, resid / np.maximum(radii, 1e-12), openness, counts


def _best_pair(c: np.ndarray, r: np.ndarray, o: np.ndarray) -> tuple[int, int] | None:
    """Indices (left, right) of the best eyeball pair among sphere centres c, radii r and
    opennesses o (canonical frame), or None. Pair cost: mirror mismatch of the centres
    plus radius mismatch, in radii. Among near-mirror pairs the most closed spheres win
    (an eyeball over the open cup of an eye socket around it, or an iris cap), then the
    largest."""
    if len(c) < 2:
        return None
    mismatch = (np.linalg.norm(c[:, None] * np.array([-1.0, 1.0, 1.0]) - c[None], axis=2)
                + np.abs(r[:, None] - r[None])) / np.minimum(r[:, None], r[None])
    good = (mismatch < MAX_PAIR_MISMATCH) & (c[:, 0][:, None] > 0) & (c[:, 0][None] < 0)
    if not good.any():
        return None
    closed = -np.round(o[:, None] + o[None], 2)          # ties in closedness -> size decides
    score = closed + 1e-3 * (r[:, None] + r[None]) / r.max()
    i, j = np.unravel_index(np.argmax(np.where(good, score, -np.inf)), good.shape)
    return int(i), int(j)


def find_eyeballs(verts: np.ndarray, tris: np.ndarray, part_labels: np.ndarray,
                  frame_hint: Transform | None = None, regions=None) -> EyePair | None:
    """Find the two eyeballs among the loose parts `part_labels [V]`, or None.

    A candidate part is sphere-like (small fit residual, closed-ish), of eyeball size
    and near the eye line of the canonical frame (`frame_hint`, else estimated from the
    head's shape with `frame.estimate_frame`, which is why `tris` is needed); the pair
    is the two candidates most nearly mirror images about the frame's X=0 plane.
    Separate eye objects join in as extra parts: concatenate their vertices and labels.
    Without a loose pair, eyes that are regions of the largest part (iris and sclera faces
    joined to the lids) are looked for among its `crease_regions`; the pair's `parts` then
    number those regions, and only loose parts join them. `regions`: a function giving
    `crease_regions` of this mesh (a caller that looks for eyes in several frames computes
    them once), called only when no loose pair is found.
    """
    labels = np.asarray(part_labels, dtype=np.int64)
    frame = frame_hint if frame_hint is not None else estimate_frame(verts, tris)
    local = to_canonical(verts, frame).astype(np.float64)
    found = _find_pair(local, labels, frame)
    if found is not None:
        return found
    index, regions = regions() if regions is not None else crease_regions(verts, tris, labels)
    found = _find_pair(local[index], regions, frame, absorbable=np.arange(regions.max() + 1) <= labels.max())
    if found is None:
        return None
    return replace(found, members=tuple(np.unique(index[m]) for m in found.members))


def _find_pair(local: np.ndarray, labels: np.ndarray, frame: Transform,
               absorbable: np.ndarray | None = None) -> EyePair | None:
    """`find_eyeballs` on canonical-frame points `local [N,3]` and parts `labels [N]`;
    only parts marked `absorbable [P]` (default all) may join an eye as its iris or shell."""
    centres, radii, resid, openness, counts = fit_spheres(local, labels)
    n_parts = len(radii)
    mean_y = np.bincount(labels, weights=local[:, 1], minlength=n_parts) / np.maximum(counts, 1)
    sized = (counts >= MIN_VERTS) & (resid <= MAX_RESIDUAL) & (radii >= RADIUS_MM[0]) & (radii <= RADIUS_MM[1])
    spherical = sized & (openness <= MAX_OPENNESS)
    # A cap covers its own forward axis in front of its centre (a disc); rings round the
    # eye opening (tear and occlusion shells, lash rings) and socket cups behind leave it empty.
    rel = local - centres[labels]
    axis_gap = np.full(n_parts, np.inf)
    np.minimum.at(axis_gap, labels, np.where(rel[:, 1] < 0, np.linalg.norm(rel[:, [0, 2]], axis=1), np.inf))
    front_cap = (sized & (openness <= CAP_OPENNESS) & (centres[:, 1] - mean_y > 0.3 * radii)   # -Y forward
                 & (axis_gap < CAP_AXIS_GAP * radii))
    pair = None
    # Whole eyeballs first, then front caps. Near the estimated eye line first; the
    # shape-only frame can miss it by centimetres, so then anywhere in a wide box around
    # it (a mirrored pair is evidence enough).
    for kind in (spherical, front_cap):
        for box in (EYE_REGION_MM[1], WIDE_REGION_MM):
            cand = np.flatnonzero(kind & np.all(np.abs(centres - EYE_REGION_MM[0]) <= box, axis=1))
            pair = _best_pair(centres[cand], radii[cand], openness[cand])
            if pair is not None:
                break
        if pair is not None:
            break
    if pair is None:
        return None
    pair = [int(cand[pair[0]]), int(cand[pair[1]])]         # subject's left (+X) first
    eye_c, eye_r = centres[pair], radii[pair]

    # Parts wholly inside an eyeball's sphere rotate with it when on its front (iris,
    # cornea) or a smaller concentric sphere (an inner shell: a remeshed ICT eyeball splits
    # into two); an eye socket's cup hugs the sphere too, but from behind, and stays.
    dist_max = np.zeros(len(radii))
    np.maximum.at(dist_max, labels, np.linalg.norm(local[:, None] - eye_c[None], axis=2).min(1))
    nearest = np.argmin(np.linalg.norm(centres[:, None] - eye_c[None], axis=2), axis=1)
    in_front = eye_c[nearest, 1] - mean_y > 0.3 * eye_r[nearest]        # -Y is forward
    shell = ((counts >= MIN_VERTS) & (openness <= MAX_OPENNESS) & (radii < eye_r[nearest])
             & (np.linalg.norm(centres - eye_c[nearest], axis=1) < CONCENTRIC * eye_r[nearest]))
    inside = (dist_max <= ABSORB_RADIUS * eye_r[nearest]) & (in_front | shell) & (counts > 0)
    if absorbable is not None:
        inside &= absorbable
    inside[pair] = True
    nearest[pair] = (0, 1)
    parts = tuple(tuple(int(p) for p in np.flatnonzero(inside & (nearest == k))) for k in range(2))
    return EyePair(centres=from_canonical(eye_c, frame).astype(np.float64),
                   radii=eye_r / frame.scale, parts=parts,
                   members=tuple(np.flatnonzero(np.isin(labels, parts[k])) for k in range(2)),
                   up=frame.rotation[2].copy(), forward=-frame.rotation[1])


def crease_regions(verts: np.ndarray, tris: np.ndarray, part_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mesh's parts with the largest one split into regions of faces along its creases
    (edges whose faces fold more than CREASE_DEGREES). Returns (vertex [N], label [N]):
    each vertex once per region it touches (a region keeps its rim), the other parts'
    vertices once with their own labels; the regions are numbered after the parts."""
    labels = np.asarray(part_labels, dtype=np.int64)
    big = int(np.argmax(np.bincount(labels)))
    t = np.asarray(tris, np.int64)
    t = t[(labels[t] == big).all(axis=1)]
    n = face_normals(verts, t)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
    e = np.sort(t[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    key = e[:, 0] * len(verts) + e[:, 1]
    order = np.argsort(key, kind="stable")
    face = np.repeat(np.arange(len(t)), 3)[order]
    shared = np.flatnonzero(key[order][1:] == key[order][:-1])
    fa, fb = face[shared], face[shared + 1]
    smooth = (n[fa] * n[fb]).sum(1) > np.cos(np.radians(CREASE_DEGREES))
    region = connected_components(len(t), np.stack([fa[smooth], fb[smooth]], 1)).astype(np.int64)
    n_regions = int(region.max()) + 1 if len(region) else 1
    pair = np.unique(t * n_regions + region[:, None])           # (vertex, region) once each
    rest = np.flatnonzero(labels != big)
    return (np.concatenate([rest, pair // n_regions]),
            np.concatenate([labels[rest], pair % n_regions + labels.max() + 1]))


def eyes_from_parts(verts: np.ndarray, part_labels: np.ndarray, part_kind) -> EyePair:
    """EyePair of a mesh whose parts are already named (`part_kind [P]` with
    'eye_left'/'eye_right', e.g. a Sample): each eye is the sphere of the largest of its
    parts (sclera over iris); axes are the canonical frame's."""
    labels = np.asarray(part_labels, dtype=np.int64)
    kind = np.asarray(part_kind)
    groups = [np.flatnonzero(kind == k) for k in ("eye_left", "eye_right")]
    if any(len(g) == 0 for g in groups):
        raise ValueError("eyes_from_parts needs parts of kind 'eye_left' and 'eye_right'")
    centres, radii, _, _, counts = fit_spheres(verts, labels)
    big = [g[np.argmax(np.where(counts[g] >= MIN_VERTS, radii[g], -1.0))] for g in groups]
    return EyePair(centres=centres[big], radii=radii[big],
                   parts=tuple(tuple(int(p) for p in g) for g in groups),
                   members=tuple(np.flatnonzero(np.isin(labels, g)) for g in groups))


def rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    """[3,3] right-handed rotation about a unit `axis` (Rodrigues)."""
    a = np.asarray(axis, dtype=np.float64)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    t = np.radians(degrees)
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * (k @ k)


def gaze_rotations(eye: EyePair, angles: dict[str, float] | None = None) -> dict[str, tuple[int, np.ndarray]]:
    """ARKit eyeLook* name -> (eye index 0=left/1=right, [3,3] rotation of that eyeball).

    In/Out turn about `up` toward/away from the nose, Up/Down about the horizontal axis;
    `angles` overrides GAZE_DEGREES per direction ("In", "Out", "Up", "Down").
    """
    deg = {**GAZE_DEGREES, **(angles or {})}
    # A positive turn about `up` swings the front toward the subject's left, one about
    # `forward x up` swings it upward; "in" is toward the other eye.
    pitch = np.cross(eye.forward, eye.up)
    out = {}
    for k, side in enumerate(("Left", "Right")):
        inward = -1.0 if k == 0 else 1.0
        out[f"eyeLookIn{side}"] = (k, rotation(eye.up, inward * deg["In"]))
        out[f"eyeLookOut{side}"] = (k, rotation(eye.up, -inward * deg["Out"]))
        out[f"eyeLookUp{side}"] = (k, rotation(pitch, deg["Up"]))
        out[f"eyeLookDown{side}"] = (k, rotation(pitch, -deg["Down"]))
    return out


def gaze_deltas(verts: np.ndarray, eye: EyePair,
                angles: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """ARKit eyeLook{In,Out,Up,Down}{Left,Right} -> [V,3] float32 deltas: each eyeball
    (its `members`) rotated rigidly about its centre, everything else still."""
    verts = np.asarray(verts, dtype=np.float64)
    out = {}
    for name, (k, rot) in gaze_rotations(eye, angles).items():
        d = np.zeros_like(verts, dtype=np.float32)
        idx = eye.members[k]
        p = verts[idx] - eye.centres[k]
        d[idx] = p @ rot.T - p
        out[name] = d
    return out


def kabsch(points: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Best rigid (R [...,3,3], t [...,3]) with R p + t ~ target, batched over leading axes.

    points/targets [..., N, 3]; optional weights [..., N]. Reflections are excluded.
    """
    p = np.asarray(points, dtype=np.float64)
    q = np.asarray(targets, dtype=np.float64)
    w = np.ones(q.shape[:-1]) if weights is None else np.broadcast_to(weights, q.shape[:-1])
    w = w / np.maximum(w.sum(-1, keepdims=True), 1e-12)
    pc = (w[..., None] * p).sum(-2)
    qc = (w[..., None] * q).sum(-2)
    h = np.einsum("...n,...ni,...nj->...ij", w, p - pc[..., None, :], q - qc[..., None, :])
    u, _, vt = np.linalg.svd(h)
    sign = np.sign(np.linalg.det(u @ vt))
    fix = np.ones(u.shape[:-1])
    fix[..., -1] = np.where(sign == 0, 1.0, sign)
    rot = np.einsum("...ji,...j,...kj->...ik", vt, fix, u)   # V diag(fix) U^T
    return rot, qc - np.einsum("...ij,...j->...i", rot, pc)


def rigidify(points: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """The rigid motion closest (least squares) to `deltas [...,N,3]` of `points [N,3]`,
    as deltas of the same shape: batched over any leading axes (e.g. shapes)."""
    p = np.asarray(points, dtype=np.float64)
    rot, t = kabsch(np.broadcast_to(p, np.shape(deltas)), p + deltas)
    moved = np.einsum("...ij,nj->...ni", rot, p) + t[..., None, :]
    return (moved - p).astype(np.asarray(deltas).dtype)


JAW_SHAPES = tuple(int(i) for i in np.flatnonzero(region_mask("jaw")))


def jaw_rigid(verts: np.ndarray, deltas: np.ndarray, part_labels: np.ndarray,
              parts, shapes=JAW_SHAPES) -> np.ndarray:
    """Copy of `deltas [52,V,3]` where each listed part (lower teeth, tongue...) moves
    rigidly in each listed shape: its predicted deltas replaced by their best rigid fit,
    so inner parts ride the jaw instead of bending with the nearby skin."""
    out = np.array(deltas, copy=True)
    shapes = list(shapes)
    for part in parts:
        idx = np.flatnonzero(np.asarray(part_labels) == part)
        if len(idx) >= 3:
            out[np.ix_(shapes, idx)] = rigidify(verts[idx], out[np.ix_(shapes, idx)])
    return out


def lid_strip(verts: np.ndarray, skin: np.ndarray, eye: EyePair, k: int) -> np.ndarray:
    """Indices of eye k's lid skin in the strip through its vertical centre line."""
    rel = verts - eye.centres[k]
    r = eye.radii[k]
    return np.flatnonzero(skin & (np.abs(rel @ eye.left_axis) < LID_STRIP * r)
                          & (np.linalg.norm(rel, axis=1) < LID_REACH * r)
                          & (rel @ eye.forward > LID_FRONT * r))


def fissure(heights: np.ndarray, radius: float) -> tuple[float, float] | None:
    """(top of the lower lid, bottom of the upper lid): the widest gap between the sorted
    `heights` (about the eye's centre) of lid-strip skin whose middle lies within 0.8
    radii of the centre height, or None when there is no such gap."""
    zs = np.sort(heights)
    if len(zs) < 2:
        return None
    mid = (zs[1:] + zs[:-1]) / 2
    gaps = np.where(np.abs(mid) < 0.8 * radius, np.diff(zs), -np.inf)
    g = int(np.argmax(gaps))
    return (float(zs[g]), float(zs[g + 1])) if np.isfinite(gaps[g]) else None


def lid_margins(strip: np.ndarray, heights: np.ndarray, lower_top: float, upper_bottom: float,
                radius: float) -> tuple[np.ndarray, np.ndarray]:
    """The upper and lower lid-margin vertices among `strip` (heights aligned with it):
    within LID_MARGIN radii of the fissure's edges."""
    upper = strip[(heights >= upper_bottom) & (heights <= upper_bottom + LID_MARGIN * radius)]
    lower = strip[(heights <= lower_top) & (heights >= lower_top - LID_MARGIN * radius)]
    return upper, lower


def _sphere_depth(points: np.ndarray, eye: EyePair, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per point: index of the nearer eyeball and how far inside its (radius + margin)
    sphere it lies (negative outside)."""
    off = np.asarray(points, dtype=np.float64)[:, None] - eye.centres[None]
    dist = np.linalg.norm(off, axis=2)
    near = np.argmin(dist - eye.radii, axis=1)
    return near, eye.radii[near] + margin - dist[np.arange(len(dist)), near]


def lid_clearance(lid_verts_posed: np.ndarray, eye: EyePair, tolerance: float = 0.0) -> float:
    """Fraction of the given (lid) vertices inside an eyeball sphere, deeper than
    `tolerance` (mesh units)."""
    if len(lid_verts_posed) == 0:
        return 0.0
    return float(np.mean(_sphere_depth(lid_verts_posed, eye)[1] > tolerance))


def push_out_of_eyeball(verts_posed: np.ndarray, eye: EyePair, margin: float = 0.0) -> np.ndarray:
    """Copy of `verts_posed [N,3]` with every vertex inside an eyeball's sphere moved
    radially onto the sphere of radius + `margin` (run on lid vertices after eyeBlink)."""
    v = np.array(verts_posed, dtype=np.float64)
    near, depth = _sphere_depth(v, eye, margin)
    hit = depth > 0
    off = v[hit] - eye.centres[near[hit]]
    norm = np.maximum(np.linalg.norm(off, axis=1, keepdims=True), 1e-12)
    v[hit] = eye.centres[near[hit]] + off / norm * (eye.radii[near[hit]] + margin)[:, None]
    return v.astype(np.asarray(verts_posed).dtype)
