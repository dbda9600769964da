"""The FaceForge tab in the 3D View sidebar."""
import bpy


class _SidebarTab:
    """Where every FaceForge panel lives: the FaceForge tab of the 3D View sidebar."""
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "FaceForge"


class FACEFORGE_PT_main(_SidebarTab, bpy.types.Panel):
    """Auto-Rig Face and the built-in reference head."""
    bl_label = "FaceForge"
    bl_idname = "FACEFORGE_PT_main"

    def draw(self, context):
        col = self.layout.column(align=True)
        col.scale_y = 1.4
        col.operator("faceforge.auto_rig", icon="SHAPEKEY_DATA")
        self.layout.operator("faceforge.rig_sheet", icon="IMAGE_DATA")
        self.layout.operator("faceforge.add_reference_head", icon="USER")


class FACEFORGE_PT_emotion(_SidebarTab, bpy.types.Panel):
    """Emotion baking settings and button."""
    bl_label = "Emotion"
    bl_idname = "FACEFORGE_PT_emotion"
    bl_parent_id = "FACEFORGE_PT_main"

    def draw(self, context):
        s = context.scene.faceforge
        layout = self.layout
        layout.prop(s, "emotion_track", text="")
        col = layout.column(align=True)
        col.prop(s, "emotion_take")
        col.prop(s, "emotion_region")
        col.prop(s, "emotion_ease")
        col.prop(s, "emotion_transition")
        col.prop(s, "start_frame")
        col.prop(s, "reduce_tolerance")
        layout.operator("faceforge.bake_emotion", icon="ACTION")


class FACEFORGE_PT_lipsync(_SidebarTab, bpy.types.Panel):
    """Bake lip-sync from an audio file."""
    bl_label = "Lip-Sync"
    bl_idname = "FACEFORGE_PT_lipsync"
    bl_parent_id = "FACEFORGE_PT_main"

    def draw(self, context):
        self.layout.operator("faceforge.bake_lipsync", icon="SPEAKER")


class FACEFORGE_PT_video(_SidebarTab, bpy.types.Panel):
    """Bake a face video clip."""
    bl_label = "Video"
    bl_idname = "FACEFORGE_PT_video"
    bl_parent_id = "FACEFORGE_PT_main"

    def draw(self, context):
        self.layout.operator("faceforge.bake_video", icon="FILE_MOVIE")


class FACEFORGE_PT_fit(_SidebarTab, bpy.types.Panel):
    """Fit a face rig to a photo."""
    bl_label = "Fit to Photo"
    bl_idname = "FACEFORGE_PT_fit"
    bl_parent_id = "FACEFORGE_PT_main"

    def draw(self, context):
        col = self.layout.column(align=True)
        col.operator("faceforge.make_face_rig", icon="ARMATURE_DATA")
        col.operator("faceforge.fit_photo", icon="IMAGE_DATA")


class FACEFORGE_PT_livelink(_SidebarTab, bpy.types.Panel):
    """Live Link Face CSV import and export."""
    bl_label = "Live Link Face"
    bl_idname = "FACEFORGE_PT_livelink"
    bl_parent_id = "FACEFORGE_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        row = self.layout.row(align=True)
        row.operator("faceforge.import_livelink_csv", icon="IMPORT")
        row.operator("faceforge.export_livelink_csv", icon="EXPORT")


CLASSES = (FACEFORGE_PT_main, FACEFORGE_PT_emotion, FACEFORGE_PT_lipsync, FACEFORGE_PT_video,
           FACEFORGE_PT_fit, FACEFORGE_PT_livelink)


def register():
    for c in CLASSES:
        bpy.utils.register_class(c)


def unregister():
    for c in reversed(CLASSES):
        bpy.utils.unregister_class(c)
