"""Inputs for the batch tests: folders of tiny rigged heads, one .blend per name."""
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
