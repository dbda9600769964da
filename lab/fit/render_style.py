"""Photo-like looks for the lab's renders of the fit rig: the head dressed for EEVEE or
Cycles (a Principled skin material whose colour comes from a painted vertex attribute:
skin, darker lips and brows, a lash line, eyeballs with iris and pupil; one key light with
shadows and a fill), beside face_rig.front_render's Workbench looks ("flat", "shaded").

The paint is placed from the rig's landmark binding at rest (MediaPipe's lip, brow and
eye contours on the neutral surface, projected to the front plane) and stored per vertex,
so it moves with the bones as the surface does.
"""
from __future__ import annotations

import bpy
import numpy as np
from matplotlib.path import Path as Polygon

from faceforge.addon.face_rig import RENDER_STYLES as STYLES
from faceforge.addon.mesh_io import bulk_get

LIT = ("eevee", "cycles")
LIGHTS = "FaceForge Lights"  # the empty the lights hang from, turned by View.light (engine.set_view)
ATTRIBUTE = "faceforge_paint"
WORLD = "FaceForge Backdrop"
BACKDROP = (0.18, 0.18, 0.19)
CYCLES_SAMPLES = 16
EEVEE_SAMPLES = 16

# MediaPipe face-mesh contours, in order around each region.
LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84,
              181, 91, 146)
BROWS = ((70, 63, 105, 66, 107, 55, 65, 52, 53, 46),
         (300, 293, 334, 296, 336, 285, 295, 282, 283, 276))
UPPER_LIDS = ((33, 246, 161, 160, 159, 158, 157, 173, 133),
              (263, 466, 388, 387, 386, 385, 384, 398, 362))
IRIS_RADIUS = 0.09  # of the outer-eye-corner distance (about 6 mm of 65)

# Linear RGB (Principled base colour).
SKIN = (0.62, 0.36, 0.27)
LIPS = (0.36, 0.10, 0.09)
BROW = (0.05, 0.03, 0.02)
LASH = (0.03, 0.02, 0.02)
HAIR = (0.04, 0.025, 0.015)
HAIRLINE = 10  # MediaPipe's top of the face oval: the scalp above it is hair
SCLERA = (0.75, 0.72, 0.68)
IRIS = (0.10, 0.05, 0.025)
PUPIL = (0.005, 0.005, 0.005)
PARTS = {"teeth_upper": (0.80, 0.75, 0.62), "teeth_lower": (0.80, 0.75, 0.62),
         "tongue": (0.45, 0.10, 0.10)}


def paint(mesh, binding) -> np.ndarray:
    """Per-vertex linear RGB [V, 3] for the head `mesh` (object space, facing -Y) from its
    landmark `binding` at rest."""
    verts = bulk_get(mesh.data.vertices, "co", np.float64, 3)
    normals = bulk_get(mesh.data.vertices, "normal", np.float64, 3)
    pts = binding.points(verts)
    xz = verts[:, [0, 2]]
    front = normals[:, 1] < -0.1
    names = ("skin", "eye_left", "eye_right") + tuple(PARTS)
    groups = {g.name: g.index for g in mesh.vertex_groups if g.name in names}
    part = np.full(len(verts), -1)
    for v in mesh.data.vertices:  # once per head: the part groups, not the bones' weights
        for g in v.groups:
            if g.group in groups.values():
                part[v.index] = g.group
    skin = part == groups.get("skin", -2)
    colour = np.tile(np.array(SKIN), (len(verts), 1))
    for name, c in PARTS.items():
        if name in groups:
            colour[part == groups[name]] = c

    def inside(ring):
        return Polygon(pts[list(ring)][:, [0, 2]]).contains_points(xz)

    colour[skin & (verts[:, 2] > pts[HAIRLINE, 2] + 0.05 * binding.unit)] = HAIR
    colour[skin & front & inside(LIPS_OUTER)] = LIPS
    for ring in BROWS:
        colour[skin & front & inside(ring)] = BROW
    width = binding.unit * 0.025
    for lid in UPPER_LIDS:
        line = pts[list(lid)][:, [0, 2]]
        d = _polyline_distance(xz, line)
        colour[skin & front & (d < width)] = LASH
    for side in ("eye_right", "eye_left"):
        if side not in groups:
            continue
        eye = part == groups[side]
        colour[eye] = SCLERA
        centre = verts[eye][:, [0, 2]].mean(0)        # the eyeball's front pole, looking ahead
        radius = IRIS_RADIUS * binding.unit
        r = np.linalg.norm(xz - centre, axis=1)
        ahead = eye & (verts[:, 1] < verts[eye, 1].mean())
        colour[ahead & (r < radius)] = IRIS
        colour[ahead & (r < 0.45 * radius)] = PUPIL
    return colour


def _polyline_distance(p: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance [N] from points p [N, 2] to the polyline line [M, 2]."""
    a, b = line[:-1], line[1:]
    ab = b - a
    t = np.clip(np.einsum("nmc,mc->nm", p[:, None] - a, ab) / (ab ** 2).sum(1), 0, 1)
    closest = a + t[..., None] * ab
    return np.linalg.norm(p[:, None] - closest, axis=-1).min(1)


def dress(rig, style: str) -> None:
    """Prepare the scene for `style`: for EEVEE / Cycles, the painted Principled materials,
    a key and a fill light and the engine's sampling (idempotent); nothing for Workbench."""
    if style not in STYLES:
        raise ValueError(f"unknown render style {style!r}: one of {STYLES}")
    if style not in LIT:
        return
    scene = bpy.context.scene
    mesh = rig.mesh
    if ATTRIBUTE not in mesh.data.color_attributes:
        rgb = paint(mesh, rig.binding)
        attr = mesh.data.color_attributes.new(ATTRIBUTE, "FLOAT_COLOR", "POINT")
        attr.data.foreach_set("color", np.c_[rgb, np.ones(len(rgb))].ravel().astype(np.float32))
        for mat in mesh.data.materials:
            _node_material(mat, eye="eye" in mat.name)
    if LIGHTS not in bpy.data.objects:
        pivot = bpy.data.objects.new(LIGHTS, None)  # turned about Z by View.light (engine.set_view)
        scene.collection.objects.link(pivot)
        for name, rot, energy, angle in (("Key", (55, 0, -35), 4.0, 0.15),
                                         ("Fill", (75, 0, 50), 1.2, 0.5),
                                         ("Under", (120, 0, 0), 0.4, 1.0)):
            _sun(f"FaceForge {name}", np.radians(rot), energy, angle).parent = pivot
    if scene.world is None or scene.world.name != WORLD:
        scene.world = bpy.data.worlds.get(WORLD) or _world()
    if style == "cycles":
        scene.cycles.device = "CPU"
        scene.cycles.samples = CYCLES_SAMPLES
        scene.cycles.use_denoising = True
        scene.cycles.use_adaptive_sampling = False
        scene.render.threads_mode = "FIXED"
        scene.render.threads = 2
    else:
        scene.eevee.taa_render_samples = EEVEE_SAMPLES


def _world():
    """A plain grey backdrop that also fills the shadows a little (a photo's room)."""
    world = bpy.data.worlds.new(WORLD)
    world.use_nodes = True
    bg = world.node_tree.nodes["Background"]
    bg.inputs["Color"].default_value = (*BACKDROP, 1.0)
    bg.inputs["Strength"].default_value = 1.0
    return world


def _node_material(mat, eye: bool) -> None:
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    out = nodes.new("ShaderNodeOutputMaterial")
    bsdf = nodes.new("ShaderNodeBsdfPrincipled")
    col = nodes.new("ShaderNodeVertexColor")
    col.layer_name = ATTRIBUTE
    links.new(col.outputs["Color"], bsdf.inputs["Base Color"])
    links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    bsdf.inputs["Roughness"].default_value = 0.15 if eye else 0.5
    bsdf.inputs["Specular IOR Level"].default_value = 0.5 if eye else 0.35


def _sun(name: str, rotation, energy: float, angle: float):
    data = bpy.data.lights.new(name, "SUN")
    data.energy = energy
    data.angle = angle
    obj = bpy.data.objects.new(name, data)
    obj.rotation_euler = rotation
    bpy.context.scene.collection.objects.link(obj)
    return obj
