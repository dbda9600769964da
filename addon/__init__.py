"""Blender glue: properties, panels, the mesh<->numpy bridge, shape-key and keyframe writing."""


def register():
    from . import properties, panels
    properties.register()
    panels.register()


def unregister():
    from . import properties, panels
    panels.unregister()
    properties.unregister()
