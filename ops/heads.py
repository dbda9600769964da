"""Add the built-in human reference head (with its 52 ARKit shape keys) to the scene."""
import bpy

from ..addon import reference_head


class FACEFORGE_OT_add_reference_head(bpy.types.Operator):
    """Add FaceForge's built-in human head (MakeHuman, CC0) with its 52 ARKit shape keys"""
    bl_idname = "faceforge.add_reference_head"
    bl_label = "Add Reference Head"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        try:
            obj = reference_head.build_reference_head(collection=context.collection)
        except (ImportError, OSError, ValueError) as exc:
            self.report({"ERROR"}, f"could not build the reference head: {exc}")
            return {"CANCELLED"}
        for o in context.selected_objects:
            o.select_set(False)
        obj.select_set(True)
        context.view_layer.objects.active = obj
        obj.location = context.scene.cursor.location
        return {"FINISHED"}


CLASSES = (FACEFORGE_OT_add_reference_head,)
