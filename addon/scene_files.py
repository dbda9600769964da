"""Open and save the scene files the command line works on (.blend, glTF, FBX, OBJ)."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import bpy

SCENE_SUFFIXES = (".blend", ".glb", ".gltf", ".fbx", ".obj")
SAVE_SUFFIXES = (".blend", ".glb", ".fbx")


def load_scene(path: Path) -> None:
    """Replace the current session with the file's content (imports go into an empty scene)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".blend":
        bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
        return
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if suffix in (".glb", ".gltf"):
        bpy.ops.import_scene.gltf(filepath=str(path))
    elif suffix == ".fbx":
        bpy.ops.import_scene.fbx(filepath=str(path))
    elif suffix == ".obj":
        bpy.ops.wm.obj_import(filepath=str(path))
    else:
        raise ValueError(f"{path}: cannot open {suffix} files (use {', '.join(SCENE_SUFFIXES)})")


def save_scene(path: Path) -> None:
    """Write the current session to path, the format chosen by its suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".blend":
        bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True, compress=True)
    elif suffix == ".glb":
        export_glb(path)
    elif suffix == ".fbx":
        bpy.ops.export_scene.fbx(filepath=str(path), use_selection=False, bake_anim=True,
                                 add_leaf_bones=False)
    else:
        raise ValueError(f"{path}: cannot save {suffix} files (use {', '.join(SAVE_SUFFIXES)})")


def export_glb(path: Path, selected_only: bool = False) -> None:
    """Binary glTF with shape keys as morph targets (named after the keys) and their animation."""
    bpy.ops.export_scene.gltf(
        filepath=str(path), export_format="GLB", use_selection=selected_only,
        export_morph=True, export_morph_normal=False, export_animations=True,
        export_apply=False)


def glb_json(path: Path) -> dict:
    """The JSON chunk of a .glb file (to inspect what an export wrote)."""
    data = Path(path).read_bytes()
    magic, _version, _length = struct.unpack_from("<4sII", data, 0)
    if magic != b"glTF":
        raise ValueError(f"{path}: not a binary glTF file")
    chunk_len, chunk_type = struct.unpack_from("<II", data, 12)
    if chunk_type != 0x4E4F534A:  # 'JSON'
        raise ValueError(f"{path}: first glTF chunk is not JSON")
    return json.loads(data[20:20 + chunk_len])
