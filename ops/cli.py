"""The command line: `faceforge <command>` (with the PyPI bpy module) and
`blender -b -c faceforge <command>` (inside Blender). Each command declares its options in
its own module (add_cli) and runs the same service function as its operator; this module
only assembles them."""
from __future__ import annotations

import argparse
import atexit
import sys

import bpy

from . import autorig, demo, emotion, fit, lipsync, livelink, video
from .batch import guarded
from .scale import farm as scale_farm, runner as scale_runner
from .scale import plan as scale_plan
from .scale.plan import SCALABLE

DESCRIPTION = ("FaceForge from the command line: rig heads with the 52 ARKit shape keys and "
               "bake emotion, lip-sync, video and Live Link Face CSV takes onto them, one "
               "output per input file. Outputs are planned before any work, written "
               "atomically and never replace an existing file unless --overwrite; a failing "
               "input is reported and skipped, and the exit status is non-zero if any failed.")
COMMANDS = (autorig, emotion, lipsync, video, fit, livelink, demo)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faceforge", description=DESCRIPTION)
    p.add_argument("-v", "--verbose", action="store_true", help="tracebacks for failures")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           help="rig, emotion, lipsync, video, fit, import-csv, export-csv, demo "
                                "(faceforge COMMAND --help for its options)")
    for module in COMMANDS:
        module.add_cli(sub)
    scale_runner.add_options(sub)  # --shard/--workers/--cluster, and `faceforge farm`
    return p


scale_plan.use_parser(build_parser)


def run(argv) -> int:
    """Parse argv and run one command in the current (already registered) session."""
    if list(argv)[:1] == ["farm"]:  # its command after -- is not ours to parse
        return scale_farm.main(list(argv)[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in SCALABLE:  # planned: manifest, resume, --workers/--cluster/--shard
        return guarded(args.command, args.verbose, lambda: scale_runner.run(list(argv), parser))
    return guarded(args.command, args.verbose, lambda: args.func(args))


def main(argv=None) -> int:
    """Console entry point (PyPI bpy): register FaceForge in this process, then run."""
    register_all()
    return run(sys.argv[1:] if argv is None else argv)


def register_all() -> None:
    """Everything FaceForge registers: the sidebar (addon), the operators and the command
    line hook. The package's register() and the console script both call this."""
    global _registered
    from .. import addon
    from . import register as register_operators
    addon.register()
    register_operators()
    register()
    _registered = True
    atexit.unregister(_unregister_at_exit)  # once, however often register_all() runs
    atexit.register(_unregister_at_exit)


def unregister_all() -> None:
    global _registered
    from .. import addon
    from . import unregister as unregister_operators
    unregister()
    unregister_operators()
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
        unregister_all()
    except Exception:  # noqa: BLE001 - at exit nothing can be done about it
        pass
    for clear in getattr(typing, "_cleanups", ()):
        clear()


def register():
    """Hook `run` up as `blender -c faceforge ...`."""
    global _cli_handle
    if hasattr(bpy.utils, "register_cli_command"):  # Blender 4.2+
        _cli_handle = bpy.utils.register_cli_command("faceforge", run)


def unregister():
    global _cli_handle
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None


_cli_handle = None
_registered = False
