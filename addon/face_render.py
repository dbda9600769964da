"""Workbench renders of painted synthetic heads through the video regressor's pinhole
camera (ml.video.face_model.Camera), returned as RGB arrays for MediaPipe."""
from __future__ import annotations

import os
import tempfile

import bpy
import numpy as np

from ..ml.video.face_model import PAINT, Camera, Head
from .render import _read_png


def build_painted_head(head: Head, name: str = "Synthetic Head") -> bpy.types.Object:
    """The head's neutral mesh with its paint as a face-corner colour attribute."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(head.verts.tolist(), [], head.tris.tolist())
    colours = np.concatenate([PAINT[head.paint], np.ones((len(head.verts), 1), np.float32)], 1)
    attr = mesh.color_attributes.new("paint", "FLOAT_COLOR", "POINT")
    attr.data.foreach_set("color", colours.ravel())
    mesh.color_attributes.active_color = attr
    mesh.shade_smooth()
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.rotation_mode = "XYZ"
    return obj


def setup_scene(scene, cam: Camera) -> None:
    """Workbench with studio light, cavity and the paint; a camera matching `cam`."""
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x, scene.render.resolution_y = cam.size
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.film_transparent = False
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "VERTEX"
    scene.display.shading.show_cavity = True
    scene.display.shading.show_specular_highlight = True
    if scene.world is None:
        scene.world = bpy.data.worlds.new("World")
    scene.world.color = (0.35, 0.38, 0.42)
    cam_obj = scene.camera
    if cam_obj is None:
        cam_obj = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
        scene.collection.objects.link(cam_obj)
        scene.camera = cam_obj
    cam_obj.data.type = "PERSP"
    cam_obj.data.sensor_fit = "AUTO"
    cam_obj.data.sensor_width = 36.0
    cam_obj.data.lens = cam.lens
    cam_obj.data.clip_start = 0.01
    cam_obj.location = (cam.offset[0], -cam.distance, cam.offset[1])
    cam_obj.rotation_euler = (np.pi / 2, 0.0, 0.0)  # look along +Y, +Z up


def set_pose(obj, verts: np.ndarray, euler: np.ndarray) -> None:
    """Move the mesh's vertices to `verts` [V,3] and rotate the object by `euler`."""
    obj.data.vertices.foreach_set("co", np.ascontiguousarray(verts, np.float32).ravel())
    obj.data.update()
    obj.rotation_euler = tuple(float(a) for a in euler)


def render_rgb(scene) -> np.ndarray:
    """Render the scene camera to an [H,W,3] uint8 RGB array, top row first."""
    fd, path = tempfile.mkstemp(suffix=".png")
    os.close(fd)
    try:
        scene.render.filepath = path
        bpy.ops.render.render(write_still=True, scene=scene.name)
        px = _read_png(path)
    finally:
        os.remove(path)
    return (np.clip(px[::-1, :, :3], 0, 1) * 255 + 0.5).astype(np.uint8)


def render_clip(head: Head, weights: np.ndarray, euler: np.ndarray, cam: Camera) -> list[np.ndarray]:
    """Render a performance ([T,52] weights, [T,3] head Euler) of `head` in a fresh scene."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    obj = build_painted_head(head)
    setup_scene(scene, cam)
    frames = []
    for w, e in zip(weights, euler):
        set_pose(obj, head.verts + np.tensordot(w, head.deltas, axes=1), e)
        frames.append(render_rgb(scene))
    return frames
