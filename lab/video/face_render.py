"""Workbench (or Cycles) renders of painted synthetic heads through the video regressor's
pinhole camera (ml.video.face_model.Camera), returned as RGB arrays for MediaPipe."""
from __future__ import annotations

import os
import tempfile

import bpy
import numpy as np
from mathutils import Vector

from .face_model import PAINT, Camera, Head
from faceforge.addon.render import _read_png


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


def setup_scene(scene, cam: Camera, aa: str = "8") -> None:
    """Workbench with studio light, cavity and the paint; a camera matching `cam`; `aa`:
    Workbench's anti-aliasing ("8" samples by default; "FXAA" renders ~5x faster)."""
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.render_aa = aa
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


def use_cycles(scene, obj, samples: int = 16) -> None:
    """Cycles instead of Workbench, for a more photo-like image: the paint as a skin-like
    principled material (a little subsurface), key, fill and rim area lights, denoised.
    Several seconds a frame on this machine's CPU (Workbench: a fraction of a second)."""
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = True
    scene.cycles.max_bounces = 4
    mat = bpy.data.materials.new("Painted Skin")
    mat.use_nodes = True  # needed before Blender 5 (5.x always uses nodes and warns)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = nodes["Principled BSDF"]
    paint = nodes.new("ShaderNodeVertexColor")
    paint.layer_name = "paint"
    links.new(paint.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.45
    bsdf.inputs["Subsurface Weight"].default_value = 0.15
    obj.data.materials.append(mat)
    scene.world.use_nodes = True
    background = scene.world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = (*scene.world.color, 1.0)
    background.inputs["Strength"].default_value = 0.3
    for name, location, watts in (("Key", (0.5, -0.8, 0.5), 12.0), ("Fill", (-0.7, -0.6, 0.1), 4.0),
                                  ("Rim", (0.0, 0.6, 0.6), 6.0)):
        light = bpy.data.lights.new(name, "AREA")
        light.energy, light.size = watts, 0.5
        lamp = bpy.data.objects.new(name, light)
        scene.collection.objects.link(lamp)
        lamp.location = location
        lamp.rotation_euler = (-Vector(location)).to_track_quat("-Z", "Y").to_euler()  # aim at the head


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


def render_clip(head: Head, weights: np.ndarray, euler: np.ndarray, cam: Camera,
                aa: str = "8") -> list[np.ndarray]:
    """Render a performance ([T,52] weights, [T,3] head Euler) of `head` in a fresh scene."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    obj = build_painted_head(head)
    setup_scene(scene, cam, aa)
    frames = []
    for w, e in zip(weights, euler):
        set_pose(obj, head.verts + np.tensordot(w, head.deltas, axes=1), e)
        frames.append(render_rgb(scene))
    return frames
