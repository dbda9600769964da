"""The `faceforge` console command. With `--workers N` it starts the workers first and lets
one of them plan (ops.scale.workers.plan_on_worker), so this process never imports Blender:
its start-up would otherwise compete for the cores with the workers' own. Every other
command line runs the CLI here. Its own module so that the scale runner, which takes those
workers, never imports the CLI."""
from __future__ import annotations

import sys


def main() -> int:
    argv = sys.argv[1:]
    from .scale import prestart
    prestart.begin(argv)
    if prestart.requested(argv) >= 2:
        from .batch import guarded
        from .scale import runner, workers
        verbose = bool({"-v", "--verbose"} & set(argv))
        return guarded(argv[0], verbose,
                       lambda: runner.run(argv, planner=workers.plan_on_worker))
    from .cli import main as cli_main
    return cli_main()
