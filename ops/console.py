"""The `faceforge` console command: start the run's `--workers` before Blender is imported
(they load while this process imports and plans; `ops.scale.prestart`), then run the CLI.
Its own module so that the scale runner, which takes those workers, never imports the CLI."""
from __future__ import annotations

import sys


def main() -> int:
    from .scale import prestart
    prestart.begin(sys.argv[1:])
    from .cli import main as cli_main
    return cli_main()
