"""The command line: `faceforge <command>` (PyPI bpy) and `blender -b -c faceforge <command>`."""


def main(argv=None) -> int:
    raise SystemExit("faceforge: command line not built yet")


def register():
    pass


def unregister():
    pass
