"""Headless Workbench renders of faces: a framing camera and a contact sheet of frames."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector


def frame_objects(scene, objects, margin: float = 1.15, name: str = "FaceForge Camera"):
    """Add (or reuse) an orthographic camera looking at the objects' front (from -Y)."""
    corners = np.array([obj.matrix_world @ Vector(c) for obj in objects for c in obj.bound_box])
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    centre, size = (lo + hi) / 2, hi - lo
    cam = bpy.data.objects.get(name)
    if cam is None:
        cam = bpy.data.objects.new(name, bpy.data.cameras.new(name))
        scene.collection.objects.link(cam)
    cam.data.type = "ORTHO"
    cam.data.ortho_scale = float(max(size[0], size[2])) * margin
    cam.data.clip_end = float(size[1]) * 10 + 10
    cam.location = (centre[0], lo[1] - max(size[1], 0.1) * 4, centre[2])
    cam.rotation_euler = (np.pi / 2, 0.0, 0.0)  # look along +Y
    scene.camera = cam
    return cam


def setup_workbench(scene, resolution: int) -> None:
    """Small, clean Workbench settings that render on a CPU-only machine."""
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x = scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.film_transparent = False
    shading = scene.display.shading
    shading.light = "STUDIO"
    shading.color_type = "SINGLE"
    shading.single_color = (0.8, 0.62, 0.52)
    shading.show_cavity = True


def _read_png(path: str) -> np.ndarray:
    img = bpy.data.images.load(path)
    try:
        w, h = img.size
        px = np.empty(w * h * 4, dtype=np.float32)
        img.pixels.foreach_get(px)
        return px.reshape(h, w, 4)
    finally:
        bpy.data.images.remove(img)


def render_contact_sheet(scene, frames, path: Path, columns: int = 4,
                         resolution: int = 256) -> Path:
    """Render each frame with the scene camera and tile them into one PNG (row-major)."""
    setup_workbench(scene, resolution)
    frames = list(frames)
    rows = -(-len(frames) // columns)
    sheet = np.ones((rows * resolution, columns * resolution, 4), dtype=np.float32)
    old_frame, old_path = scene.frame_current, scene.render.filepath
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for i, f in enumerate(frames):
                scene.frame_set(f)
                scene.render.filepath = os.path.join(tmp, f"frame{i:03d}.png")
                bpy.ops.render.render(write_still=True, scene=scene.name)
                tile = _read_png(scene.render.filepath)
                r, c = divmod(i, columns)
                # Blender images are stored bottom row first.
                y0 = (rows - 1 - r) * resolution
                sheet[y0:y0 + resolution, c * resolution:(c + 1) * resolution] = tile
        finally:
            scene.frame_set(old_frame)
            scene.render.filepath = old_path
    img = bpy.data.images.new("FaceForge Contact Sheet", sheet.shape[1], sheet.shape[0], alpha=True)
    try:
        img.pixels.foreach_set(sheet.ravel())
        img.filepath_raw = str(path)
        img.file_format = "PNG"
        img.save()
    finally:
        bpy.data.images.remove(img)
    return Path(path)
