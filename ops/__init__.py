"""Operators (what the buttons run) and the command line (the same functions, headless)."""


def _modules():
    from . import autorig, emotion, fit, heads, lipsync, livelink, video
    return (autorig, emotion, heads, lipsync, livelink, video, fit)


def register():
    import bpy
    from . import cli
    for module in _modules():
        for c in module.CLASSES:
            bpy.utils.register_class(c)
    cli.register()


def unregister():
    import bpy
    from . import cli
    cli.unregister()
    for module in reversed(_modules()):
        for c in reversed(module.CLASSES):
            bpy.utils.unregister_class(c)
