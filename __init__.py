"""FaceForge: turn any head mesh into an animatable ARKit face and animate it.

The package root is the Blender extension. Importing it must not need bpy, so that
`faceforge.ml` stays usable on its own; Blender-facing modules load in register().
"""
import atexit

_registered = False


def register():
    global _registered
    from . import addon, ops
    addon.register()
    ops.register()
    _registered = True
    atexit.unregister(_unregister_at_exit)  # once, however often register() runs
    atexit.register(_unregister_at_exit)


def unregister():
    global _registered
    from . import addon, ops
    ops.unregister()
    addon.unregister()
    _registered = False


def _unregister_at_exit():
    """Let bpy-as-a-module processes (the `faceforge` console script, tests) end with their
    own exit status on Blender 4.2, which otherwise dies with SIGSEGV (-11) at exit.

    4.2 frees its type registry in a C++ static destructor after Python has finalised and
    calls into Python for each class still registered: ours, and Blender's own UI classes
    whenever the bpy module outlives finalisation (typing's caches keep it alive once the
    glTF exporter has been imported), so Blender's own exit never ran. Unregistering
    FaceForge and clearing typing's caches first avoids both. atexit is last-in first-out:
    this runs before bpy's hooks. Inside Blender, add-ons are unregistered before Python
    ends, so this does nothing there."""
    if not _registered:
        return
    import typing
    try:
        unregister()
    except Exception:  # noqa: BLE001 - at exit nothing can be done about it
        pass
    for clear in getattr(typing, "_cleanups", ()):
        clear()
