"""Render the 52 auto-rigged ARKit shapes of a few test heads as contact sheets for the
model card (Workbench, headless, CPU):

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m lab.autorig.render_sheets -o docs/images

Tiles run in ARKit order (browDownLeft ... tongueOut), 13 per row, each shape at 1.0.
Heads: a held-out anny identity and a stylised held-out ICT-FaceKit identity (both at
topologies the network never saw), and Suzanne (not a human head at all). A second
Suzanne sheet shows her jaw (`ml/autorig/jaw.py`): neutral, the network's own jawOpen,
the rebuilt jawOpen, and jawOpen + mouthClose, from the front and from her left.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import bpy
import numpy as np

from faceforge import register
from faceforge.addon import keyframes, mesh_io, reference_head, render
from faceforge.ml.arkit import ARKIT_NAMES
from faceforge.ml.autorig import floors, infer, jaw
from faceforge.ml.autorig.frame import from_canonical, to_canonical
from lab.autorig import data, evaluate, metrics
from faceforge.ml.autorig.eyes import eyes_from_parts
from faceforge.ops import autorig


def mesh_object(name: str, verts_mm: np.ndarray, tris: np.ndarray):
    """A Blender object from canonical-frame arrays (mm -> m)."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata((verts_mm / 1000.0).tolist(), [], tris.tolist())
    mesh.shade_smooth()
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def sheet(obj, path: Path, sample: data.Sample | None = None) -> None:
    """Rig obj, put shape i at 1.0 on frame i + 1, render all 52 frames as one sheet, and
    print the functional checks of the rig (of `sample`'s parts when obj was built from one)."""
    scene = bpy.context.scene
    _, result = autorig.rig_objects([obj], infer.RigOptions(), preview=False)
    print_checks(obj, result, sample)
    keyframes.bake_weights(obj, np.eye(len(ARKIT_NAMES), dtype=np.float32), ARKIT_NAMES, take="Sheet")
    render.frame_objects(scene, [obj], margin=1.05)
    render.render_contact_sheet(scene, range(1, len(ARKIT_NAMES) + 1), path, columns=13,
                                resolution=160)
    print(f"wrote {path}")


def print_checks(obj, result, sample: data.Sample | None = None) -> None:
    """Functional checks (metrics.functional_checks) of a rigged object, in the canonical
    frame. A test head is measured on its own skin and eyeballs, as the evaluation does
    (its largest loose part can take in more: ICT's eye and mouth sockets join its face,
    and the lid checks then read socket as lid); other heads on their largest loose part."""
    arrays = mesh_io.read_mesh(obj)
    m = arrays.matrix_world.astype(np.float64)
    verts, deltas, eye = infer.canonical_view(arrays.verts @ m[:3, :3].T + m[:3, 3], result)
    if sample is not None:
        skin = data.kind_mask(sample, "skin")
        eye = eyes_from_parts(verts, sample.part_labels, sample.part_kind)
    else:
        skin = arrays.part_labels == np.argmax(np.bincount(arrays.part_labels))
    if eye is None:
        print(f"{obj.name}: no eyeballs found ({'; '.join(result.warnings)}); eye checks skipped")
    for name, (value, ok) in metrics.functional_checks(verts, deltas, skin, eye).items():
        print(f"  {obj.name:14s} {name:28s} {value:9.3f}  {'pass' if ok else 'FAIL'}")


def jaw_sheet(path: Path) -> None:
    """Suzanne's jawOpen before and after the jaw floor: neutral, the network's jawOpen,
    the rebuilt jawOpen and jawOpen + mouthClose, front (top row) and her left (bottom),
    close on the lower face."""
    scene = bpy.context.scene
    obj = reference_head.build_suzanne()
    floor = floors.JAW_GAP_FLOOR_MM
    floors.JAW_GAP_FLOOR_MM = 0.0                 # the network's own jaw: no floor
    try:
        autorig.rig_objects([obj], infer.RigOptions(), preview=False)
    finally:
        floors.JAW_GAP_FLOOR_MM = floor
    names, coords = mesh_io.read_shape_keys(obj)
    network = coords[names.index("jawOpen")]
    obj.shape_key_clear()
    _, result = autorig.rig_objects([obj], infer.RigOptions(), preview=False)
    print("; ".join(result.notes))
    key = obj.shape_key_add(name="jawOpen network", from_mix=False)
    key.data.foreach_set("co", network.ravel())
    shown = ["jawOpen network", "jawOpen", "mouthClose"]
    weights = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 1]], np.float32)
    keyframes.bake_weights(obj, weights, shown, take="Jaw")
    # Both views close on the lower face, centred on the mouth line the floor found.
    a = mesh_io.read_mesh(obj)
    verts_c = to_canonical(a.verts @ a.matrix_world[:3, :3].T + a.matrix_world[:3, 3], result.transform)
    line = jaw.find_mouth_line(verts_c.astype(np.float64), floors.lip_strip(verts_c, np.ones(len(verts_c), bool)))
    mouth = from_canonical(np.array([[0.0, line.front, line.z]]), result.transform)[0]
    cam = render.frame_objects(scene, [obj], margin=1.05)
    cam.data.ortho_scale *= 0.45
    cam.location = (mouth[0], cam.location[1], mouth[2])
    front = path.with_name(path.stem + "_front.png")
    render.render_contact_sheet(scene, range(1, 5), front, columns=4, resolution=320)
    distance = float(mouth[1] - cam.location[1])
    cam.location = (mouth[0] + distance, mouth[1] + 0.3 * cam.data.ortho_scale, mouth[2])
    cam.rotation_euler = (np.pi / 2, 0.0, np.pi / 2)     # look along -X: her left side
    side = path.with_name(path.stem + "_side.png")
    render.render_contact_sheet(scene, range(1, 5), side, columns=4, resolution=320)
    rows = [render._read_png(str(p)) for p in (side, front)]   # bottom row first
    img = bpy.data.images.new("FaceForge Jaw Sheet", rows[0].shape[1], 2 * rows[0].shape[0], alpha=True)
    img.pixels.foreach_set(np.concatenate(rows).ravel())
    img.filepath_raw, img.file_format = str(path), "PNG"
    img.save()
    bpy.data.images.remove(img)
    front.unlink()
    side.unlink()
    print(f"wrote {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", type=Path, default=Path("docs/images"))
    args = p.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    register()
    heads = [("anny_heldout", evaluate.test_heads("anny", "plain", 1)[0]),
             ("ict_stylised", evaluate.test_heads("ict", "stylised", 1)[0])]
    for name, sample in heads:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        sheet(mesh_object(name, sample.verts, sample.tris), args.output / f"autorig_{name}.png", sample)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    sheet(reference_head.build_suzanne(), args.output / "autorig_suzanne.png")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    jaw_sheet(args.output / "autorig_suzanne_jaw.png")


if __name__ == "__main__":
    main()
