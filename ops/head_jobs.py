"""`faceforge <command> HEAD MEDIA... -o DIR`: one output scene per media file (speech,
video), each baked onto a freshly loaded copy of the head scene."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from ..addon import scene_files
from . import batch
from .batch import UserError


def run_head_jobs(args, media: list[Path], label: str, bake: Callable[[Path], str]) -> int:
    """For each media file, load `args.head`, run bake(media) (returns a summary line;
    ValueError = the input's fault) and save the scene as `<media name><suffix>` in
    `args.output` (suffix: --format, else the head's if it can be saved, else .blend)."""
    batch.check_format(args.format, scene_files.SAVE_SUFFIXES)
    batch.check_input(args.head, scene_files.SCENE_SUFFIXES)
    head_suffix = args.head.suffix.lower()
    suffix = args.format or (head_suffix if head_suffix in scene_files.SAVE_SUFFIXES else ".blend")

    def job(item: Path) -> str:
        stem = item.name if item.is_dir() else item.stem
        target = args.output / f"{stem.replace('%', '_')}{suffix}"
        if target.resolve() == args.head.resolve():
            raise UserError(f"{item}: output would overwrite the head file; "
                            f"choose another -o folder")
        scene_files.load_scene(args.head)
        try:
            note = bake(item)
        except ValueError as exc:
            raise UserError(f"{item}: {exc}") from exc
        print(f"  {note}", file=sys.stderr)
        with batch.atomic_output(target, args.overwrite) as tmp:
            scene_files.save_scene(tmp)
        return str(target)

    return batch.run_batch(media, job, label, getattr(args, "verbose", False)).exit_code


def add_head_job_parser(sub, command: str, help_text: str, media: str, media_help: str,
                        take: str):
    """A `faceforge COMMAND HEAD MEDIA... -o DIR` subparser with the options every such
    command shares (take, start frame, output format, overwrite); returns it."""
    p = sub.add_parser(command, help=help_text)
    p.add_argument("head", type=Path, help="scene file with the rigged head")
    p.add_argument(media, nargs="+", type=Path, help=media_help)
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output folder: one scene per input, named after it")
    p.add_argument("--take", default=take, help="action (take) name")
    p.add_argument("--start-frame", type=int, default=1, help="frame where the input starts")
    p.add_argument("--format", help="output suffix (.blend, .glb, .fbx; default: the head's)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return p
