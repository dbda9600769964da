"""Inputs for the batch tests: folders of tiny rigged heads, one .blend per name, and a
damaged .blend that crashes Blender when loaded."""
import subprocess
import sys
from pathlib import Path

from helpers import tiny_rigged_mesh


def save_heads(bpy, folder: Path, names, marker: bool = False) -> Path:
    """folder/<name>.blend for each name, each a tiny rigged mesh; with `marker` each file
    also holds an empty named only_in_<name> (to see that no input leaks into another)."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        tiny_rigged_mesh()
        if marker:
            bpy.context.scene.collection.objects.link(bpy.data.objects.new(f"only_in_{n}", None))
        bpy.ops.wm.save_as_mainfile(filepath=str(folder / f"{n}.blend"), copy=True)
    return folder


def _block_starts(data: bytes):
    """(offset, code) of each block of an uncompressed .blend: the 'BLENDER17-01' layout
    (17-byte file header; 32-byte block headers: code, SDNA index, old address, length,
    count) that Blender 5 writes."""
    pos = 17
    while pos + 32 <= len(data):
        code = data[pos:pos + 4]
        yield pos, code
        if code == b"ENDB":
            return
        pos += 32 + int.from_bytes(data[pos + 16:pos + 24], "little")


def save_damaged_head(bpy, path: Path) -> Path:
    """A tiny head saved uncompressed whose mesh is damaged: one byte of the block header
    of the mesh's first data block ('DATA' -> 'DGTA', as a bad sector or a torn copy
    leaves a file). Blender 5.0 dies with SIGSEGV loading it. In another layout (4.2's)
    the file is left undamaged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    tiny_rigged_mesh()
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True, compress=False)
    data = bytearray(path.read_bytes())
    if data.startswith(b"BLENDER17-01"):
        blocks = list(_block_starts(data))
        mesh = next(k for k, (_, code) in enumerate(blocks) if code == b"ME\0\0")
        pos, code = blocks[mesh + 1]
        if code == b"DATA":
            data[pos:pos + 4] = b"DGTA"
            path.write_bytes(bytes(data))
    return path


def crashes_blender(path: Path) -> bool:
    """Whether loading path as FaceForge loads a scene (addon.scene_files: no UI) kills a
    fresh Blender (bpy) process with a signal."""
    code = subprocess.run([sys.executable, "-c", "import bpy, sys; bpy.ops.wm.open_mainfile("
                           "filepath=sys.argv[1], load_ui=False)", str(path)],
                          capture_output=True, timeout=300).returncode
    return code < 0
