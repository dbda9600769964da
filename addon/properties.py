"""FaceForge's scene settings (what the sidebar panel edits)."""
import bpy

CLASSES = ()


def register():
    for c in CLASSES:
        bpy.utils.register_class(c)


def unregister():
    for c in reversed(CLASSES):
        bpy.utils.unregister_class(c)
