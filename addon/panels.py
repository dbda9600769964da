"""The FaceForge tab in the 3D View sidebar."""
import bpy

CLASSES = ()


def register():
    for c in CLASSES:
        bpy.utils.register_class(c)


def unregister():
    for c in reversed(CLASSES):
        bpy.utils.unregister_class(c)
