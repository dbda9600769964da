"""Operators (what the buttons run) and the command line (the same functions, headless)."""


def register():
    from . import operators, cli
    operators.register()
    cli.register()


def unregister():
    from . import operators, cli
    cli.unregister()
    operators.unregister()
