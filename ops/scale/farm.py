"""`faceforge farm flamenco|deadline|openjd --shards N -- COMMAND...`: write what a render
farm needs to run one planned command as N independent `--shard I/N` tasks, from the
small templates in templates/. Every task resumes its shard, so a requeued or repeated
task only finishes what is left; the farm needs to know nothing about FaceForge."""
from __future__ import annotations

DESCRIPTION = ("Write what a render farm needs to run one planned FaceForge command as N "
               "independent --shard I/N tasks (I from 0 to N-1); every task resumes its shard, "
               "so a requeued task only finishes what is left.")

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path

from ..errors import UserError
from .plan import SCALABLE, command_parser

TEMPLATES = Path(__file__).with_name("templates")
KINDS = ("flamenco", "deadline", "openjd")
DEFAULT_LAUNCHER = "blender -b -c faceforge"
#: runner options a farm task must not carry (the farm is the runner)
_NOT_ON_FARM = ("--shard", "--workers", "--cluster", "--dry-run")


def add_cli(sub) -> None:
    """`faceforge farm` in the command list (its arguments are parsed by main())."""
    _add_arguments(sub.add_parser("farm", help="write a render-farm job that runs a command "
                                               "as N shards", usage=USAGE))


USAGE = "faceforge farm {flamenco,deadline,openjd} [--shards N] [--to DIR] -- COMMAND..."


def _add_arguments(f) -> None:
    f.add_argument("kind", choices=KINDS, help="the farm manager")
    f.add_argument("--shards", type=int, default=8, help="tasks to split the plan into")
    f.add_argument("--to", type=Path, default=Path("."), help="folder for the job files")
    f.add_argument("--name", help="job name (default: the command and its output folder)")
    f.add_argument("--launcher", default=DEFAULT_LAUNCHER,
                   help=f"how a worker starts FaceForge (default: {DEFAULT_LAUNCHER!r}); "
                        f"Flamenco uses its {{blender}} variable instead")
    f.set_defaults(func=cmd_farm)


def main(argv: list[str]) -> int:
    """`faceforge farm ARGS -- COMMAND...` (the command after -- is kept whole)."""
    argv = list(argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(prog="faceforge farm", usage=USAGE,
                                     description=DESCRIPTION)
    _add_arguments(parser)
    args = parser.parse_args(argv[:cut])
    args.command = argv[cut + 1:]
    try:
        return cmd_farm(args)
    except UserError as exc:
        print(f"faceforge: {exc}", file=sys.stderr)
        return 1


def deadline_quote(word: str) -> str:
    """A word for Deadline's Arguments line (double quotes, Windows-style escaping)."""
    if word and not any(c in word for c in ' \t"'):
        return word
    return '"' + word.replace('"', '\\"') + '"'


def _check_command(command: list[str]) -> None:
    if not command:
        raise UserError("farm: give the command after --, e.g. -- lipsync head.blend voices -o out")
    if command[0] not in SCALABLE:
        raise UserError(f"farm: {command[0]!r} cannot be sharded (only {', '.join(SCALABLE)})")
    bad = [a for a in command if a.split("=", 1)[0] in _NOT_ON_FARM]
    if bad:
        raise UserError(f"farm: leave {bad[0]} out of the command: the farm job adds the shard")
    command_parser().parse_args(command)  # a usage error stops here, not on every worker


def _count_items(command: list[str]) -> str:
    """'N items' when the command can be planned here, else why not."""
    from .plan import build_plan
    try:
        return f"{len(build_plan(command).items)} items"
    except (UserError, OSError) as exc:
        return f"not planned here ({exc})"


def write_openjd(to: Path, command: list[str], shards: int, name: str, launcher: str) -> list[Path]:
    job, params = to / "faceforge-job.yaml", to / "faceforge-params.json"
    shutil.copyfile(TEMPLATES / "openjd_faceforge.yaml", job)
    params.write_text(json.dumps({"JobName": name, "Command": shlex.join(command),
                                  "Shards": shards, "ShardRange": f"0-{shards - 1}",
                                  "Launcher": launcher}, indent=1) + "\n")
    print(f"openjd check {job}\nopenjd run {job} -p file://{params}", file=sys.stderr)
    return [job, params]


def write_deadline(to: Path, command: list[str], shards: int, name: str, launcher: str) -> list[Path]:
    words = shlex.split(launcher)
    fields = dict(name=name, command=shlex.join(command), last=shards - 1, shards=shards,
                  executable=words[0],
                  arguments=" ".join(deadline_quote(w) for w in words[1:] + command))
    out = []
    for kind in ("job", "plugin"):
        text = (TEMPLATES / f"deadline_{kind}_info.job").read_text()
        path = to / f"faceforge_{kind}_info.job"
        path.write_text(text.format(**fields))
        out.append(path)
    print(f"deadlinecommand {out[0]} {out[1]}", file=sys.stderr)
    return out


def write_flamenco(to: Path, command: list[str], shards: int, name: str, launcher: str) -> list[Path]:
    script, job = to / "faceforge.js", to / "faceforge-job.json"
    shutil.copyfile(TEMPLATES / "faceforge_flamenco.js", script)
    words = shlex.split(launcher)
    before = words[1:words.index("-c")] if "-c" in words else ["-b"]
    job.write_text(json.dumps({"name": name, "type": "faceforge", "priority": 50,
                               "submitter_platform": "linux",
                               "settings": {"command": shlex.join(command), "shards": shards,
                                            "blender_args": shlex.join(before)}},
                              indent=1) + "\n")
    print(f"copy {script} into the Flamenco Manager's scripts/ folder and restart it, then:\n"
          f"curl -X POST -H 'Content-Type: application/json' -d @{job} "
          f"http://MANAGER:8080/api/v3/jobs", file=sys.stderr)
    return [script, job]


WRITERS = {"openjd": write_openjd, "deadline": write_deadline, "flamenco": write_flamenco}


def cmd_farm(args) -> int:
    command = list(args.command)
    _check_command(command)
    if args.shards < 1:
        raise UserError("farm: --shards must be at least 1")
    relative = [a for a in command if not a.startswith("-") and Path(a).exists()
                and not Path(a).is_absolute()]
    if relative:
        print(f"farm: warning: {relative[0]} is a relative path; workers start elsewhere: give "
              f"paths every worker sees (absolute, on shared storage)", file=sys.stderr)
    try:
        out_dir = command[command.index("-o") + 1]
    except (ValueError, IndexError):
        out_dir = "?"
    name = args.name or f"{command[0]} -> {out_dir}"
    args.to.mkdir(parents=True, exist_ok=True)
    paths = WRITERS[args.kind](args.to, command, args.shards, name, args.launcher)
    print(f"wrote {', '.join(str(p) for p in paths)}: {args.shards} shards of "
          f"{_count_items(command)}", file=sys.stderr)
    return 0

