"""Open and save the scene files the command line works on (.blend, glTF, FBX, OBJ)."""
from __future__ import annotations

import json
import os
import re
import struct
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import bpy

SCENE_SUFFIXES = (".blend", ".glb", ".gltf", ".fbx", ".obj")
SAVE_SUFFIXES = (".blend", ".glb", ".fbx")
_KIND = {".blend": "a .blend file Blender can read", ".glb": "a valid binary glTF file",
         ".gltf": "a valid glTF file", ".fbx": "a binary FBX file Blender can read",
         ".obj": "a valid OBJ file"}


# Ctrl-C landing in one of Blender's load handlers: Blender prints the traceback and goes
# on (the command line notices the Ctrl-C itself and stops after the item).
_HANDLER_CTRL_C = re.compile(rb"Error in bpy\.app\.handlers[^\n]*\nTraceback \(most recent call "
                             rb"last\):\n(?:[ \t][^\n]*\n)*KeyboardInterrupt\n?")


class SceneFileError(ValueError):
    """A scene file that cannot be opened; the message says what it is not, in words."""


@contextmanager
def _held_output(hide: str | None = None):
    """Hold what an importer or exporter prints (Blender prints its reports and Python
    tracebacks itself): given back if it works (without lines naming `hide`, e.g. a
    temporary file), dropped if it fails (our message replaces it)."""
    streams = []
    for stream in (sys.stdout, sys.stderr):
        try:
            streams.append((stream, stream.fileno()))
        except (AttributeError, OSError, ValueError):  # a captured or replaced stream
            pass
    held = []
    for stream, fd in streams:
        stream.flush()
        held.append((fd, os.dup(fd), tempfile.TemporaryFile()))
        os.dup2(held[-1][2].fileno(), fd)
    ok = False
    try:
        yield
        ok = True
    finally:
        for (stream, _), (fd, saved, buffer) in zip(streams, held):
            stream.flush()
            os.dup2(saved, fd)
            os.close(saved)
            if ok:
                buffer.seek(0)
                text = buffer.read()
                if hide:
                    text = b"".join(line for line in text.splitlines(keepends=True)
                                    if hide.encode() not in line)
                text = _HANDLER_CTRL_C.sub(b"", text)
                if text:
                    os.write(fd, text)
            buffer.close()


def _check_gltf(path: Path) -> None:
    """SceneFileError unless the file starts like glTF (binary header or JSON asset)."""
    try:
        if path.suffix.lower() == ".glb":
            gltf = glb_json(path)
        else:
            gltf = json.loads(path.read_bytes())
        ok = isinstance(gltf, dict) and isinstance(gltf.get("asset"), dict)
    except (ValueError, struct.error, UnicodeDecodeError):
        ok = False
    if not ok:
        raise SceneFileError(f"not {_KIND[path.suffix.lower()]}: it may be damaged, or "
                             f"another format named {path.suffix}")


def load_scene(path: Path) -> None:
    """Replace the current session with the file's content (imports go into an empty
    scene). SceneFileError (a ValueError) for a file Blender cannot read."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SCENE_SUFFIXES:
        raise SceneFileError(f"cannot open {suffix or 'suffix-less'} files "
                             f"(use {', '.join(SCENE_SUFFIXES)})")
    if suffix in (".glb", ".gltf"):
        _check_gltf(path)
    try:
        with _held_output():
            if suffix == ".blend":
                bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
                return
            bpy.ops.wm.read_factory_settings(use_empty=True)
            if suffix in (".glb", ".gltf"):
                bpy.ops.import_scene.gltf(filepath=str(path))
            elif suffix == ".fbx":
                bpy.ops.import_scene.fbx(filepath=str(path))
            else:
                bpy.ops.wm.obj_import(filepath=str(path))
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        detail = detail.removeprefix("Error: ").replace(f'"{path}"', "").replace(f"'{path}'", "")
        detail = " ".join(detail.split()).strip(" :").removesuffix(" in file")
        useful = suffix == ".fbx" and detail and "Traceback" not in detail  # e.g. ASCII FBX
        hint = f" ({detail})" if useful else ""
        raise SceneFileError(f"not {_KIND[suffix]}{hint}: it may be damaged, or another "
                             f"format named {suffix}") from None


def save_scene(path: Path) -> None:
    """Write the current session to path, the format chosen by its suffix (Blender's
    notes naming the file are not shown: it is usually a temporary name)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SAVE_SUFFIXES:
        raise ValueError(f"cannot save {suffix} files (use {', '.join(SAVE_SUFFIXES)})")
    with _held_output(hide=path.name):
        if suffix == ".blend":
            bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True, compress=True)
        elif suffix == ".glb":
            export_glb(path)
        else:
            bpy.ops.export_scene.fbx(filepath=str(path), use_selection=False, bake_anim=True,
                                     add_leaf_bones=False)


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
