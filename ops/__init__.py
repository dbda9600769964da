"""Operators (what the buttons run) and the command line (the same functions, headless)."""


def _modules():
    from . import autorig, emotion, fit, heads, lipsync, livelink, video
    return (autorig, emotion, heads, lipsync, livelink, video, fit)


def register():
    """The operators (the command line's hook is registered by the package, beside them)."""
    import bpy
    for module in _modules():
        for c in module.CLASSES:
            bpy.utils.register_class(c)


def unregister():
    import bpy
    for module in reversed(_modules()):
        for c in reversed(module.CLASSES):
            bpy.utils.unregister_class(c)
