"""FaceForge: turn any head mesh into an animatable ARKit face and animate it.

The package root is the Blender extension. Importing it must not need bpy, so that
`faceforge.ml` stays usable on its own; Blender-facing modules load in register().
"""


def register():
    from .ops import cli
    cli.register_all()


def unregister():
    from .ops import cli
    cli.unregister_all()
