"""FaceForge's scene settings (what the sidebar panel edits), stored on the scene."""
import bpy
from bpy.props import EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

DEFAULT_TRACK = "0:neutral,1:happiness,3:surprise,5:sadness*0.8,7:anger,9:neutral"


class FaceForgeSettings(bpy.types.PropertyGroup):
    emotion_track: StringProperty(
        name="Track", default=DEFAULT_TRACK,
        description="Emotion keys as time:emotion[*intensity], comma-separated; "
                    "mix emotions with + (e.g. 2:happiness+surprise)")
    emotion_take: StringProperty(
        name="Take", default="Emotion",
        description="Name of the action the bake writes; other takes are kept")
    emotion_ease: EnumProperty(
        name="Ease", default="smooth",
        items=[("smooth", "Smooth", "Ease in and out of each transition"),
               ("linear", "Linear", "Constant-speed transitions"),
               ("constant", "Constant", "Jump at each key")])
    emotion_transition: FloatProperty(
        name="Transition", default=0.4, min=0.0, soft_max=3.0, unit="TIME_ABSOLUTE",
        description="Seconds each change of emotion takes, ending at the next key")
    emotion_region: EnumProperty(
        name="Region", default="ALL",
        items=[("ALL", "Whole Face", "Bake every ARKit shape"),
               ("UPPER", "Upper Face", "Brows, eyes, cheeks and nose only "
                                       "(leave the mouth to lip-sync)"),
               ("LOWER", "Lower Face", "Mouth, jaw and tongue only")])
    start_frame: IntProperty(name="Start Frame", default=1,
                             description="Frame the first baked sample lands on")
    reduce_tolerance: FloatProperty(
        name="Key Reduction", default=0.0, min=0.0, soft_max=0.05, precision=3,
        description="Drop keyframes whose removal changes a weight by less than this "
                    "(0 keeps one key per frame)")


CLASSES = (FaceForgeSettings,)


def register():
    for c in CLASSES:
        bpy.utils.register_class(c)
    bpy.types.Scene.faceforge = PointerProperty(type=FaceForgeSettings)


def unregister():
    del bpy.types.Scene.faceforge
    for c in reversed(CLASSES):
        bpy.utils.unregister_class(c)
