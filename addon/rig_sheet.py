"""A contact sheet of a rig's 52 ARKit shapes (one tile each, at weight 1, ARKit order),
so an artist checks a whole rig in one look. The scene is left as it was: the keys'
values, actions, camera, frame and render settings are put back afterwards."""
from __future__ import annotations

from pathlib import Path

import bpy

from ..ml.arkit import ARKIT_NAMES
from . import render

COLUMNS = 13          # 4 rows of 13
TILE_PX = 160
CAMERA = "FaceForge Sheet Camera"
_RENDER_SETTINGS = ("engine", "resolution_x", "resolution_y", "resolution_percentage", "film_transparent")
_SHADING = ("light", "color_type", "single_color", "show_cavity")


def rigged_meshes(objects) -> list:
    """Meshes carrying all 52 ARKit keys."""
    return [o for o in objects if o.type == "MESH" and o.data.shape_keys is not None
            and all(n in o.data.shape_keys.key_blocks for n in ARKIT_NAMES)]


def write_sheet(objects, path: Path, columns: int = COLUMNS, tile: int = TILE_PX) -> Path:
    """Render the rigged meshes among `objects` from the front, shape i alone at 1.0 in
    tile i, into one PNG at `path`."""
    meshes = rigged_meshes(objects)
    if not meshes:
        raise ValueError("nothing rigged to draw a contact sheet of")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    scene = bpy.context.scene
    blocks = [o.data.shape_keys.key_blocks for o in meshes]
    values = [{n: kb[n].value for n in ARKIT_NAMES} for kb in blocks]
    actions = [o.data.shape_keys.animation_data.action if o.data.shape_keys.animation_data else None
               for o in meshes]
    settings = {k: getattr(scene.render, k) for k in _RENDER_SETTINGS}
    file_format = scene.render.image_settings.file_format
    shading = {k: getattr(scene.display.shading, k) for k in _SHADING}
    shading["single_color"] = tuple(shading["single_color"])
    old_camera = scene.camera

    def pose(scn, *_):
        shape = scn.frame_current - 1
        for kb in blocks:
            for i, n in enumerate(ARKIT_NAMES):
                kb[n].value = 1.0 if i == shape else 0.0

    try:
        for o in meshes:
            if o.data.shape_keys.animation_data:
                o.data.shape_keys.animation_data.action = None
        bpy.app.handlers.frame_change_pre.append(pose)
        cam = render.frame_objects(scene, meshes, margin=1.05, name=CAMERA)
        render.render_contact_sheet(scene, range(1, len(ARKIT_NAMES) + 1), Path(path),
                                    columns=columns, resolution=tile)
    finally:
        bpy.app.handlers.frame_change_pre.remove(pose)
        cam = bpy.data.objects.get(CAMERA)
        if cam is not None:
            data = cam.data
            bpy.data.objects.remove(cam)
            bpy.data.cameras.remove(data)
        scene.camera = old_camera
        for o, action, vals, kb in zip(meshes, actions, values, blocks):
            if action is not None:
                o.data.shape_keys.animation_data.action = action
            for n, v in vals.items():
                kb[n].value = v
        for k, v in settings.items():
            setattr(scene.render, k, v)
        scene.render.image_settings.file_format = file_format
        for k, v in shading.items():
            setattr(scene.display.shading, k, v)
    return Path(path)
