"""A command's plan: every item (an input file, with the scene it is baked onto, and the
one output path it writes) decided before any work runs, so that collisions between
inputs, outputs that would replace an input, existing outputs and unwritable folders are
found up front. `--dry-run` prints it; batch runners (shards, resume, workers) take
their items from it.

Naming rule: an input given directly writes `<out>/<its name><suffix>`; an input found
inside a given folder keeps its sub-folder, `<out>/<sub-folder>/<its name><suffix>`, so
voices/anna/line1.wav and voices/ben/line1.wav give out/anna/line1.blend and
out/ben/line1.blend. Two inputs that still map to one output (h.blend and h.glb with
--format .blend) are an error before anything runs."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from . import outputs
from .manifest import Manifest, item_key


@dataclass(frozen=True)
class Source:
    """An input and its path relative to the folder it was found in (its name when given
    directly); the output mirrors `rel`."""
    path: Path
    rel: Path


def find_sources(paths: Iterable[str | Path], suffixes: Sequence[str]) -> list[Source]:
    """Files given directly, plus the files with a matching suffix inside given folders
    (sorted, sub-folders included). A missing path, or a folder with no matching files,
    is kept as-is so its item fails with a clear message instead of silently vanishing."""
    out: list[Source] = []
    wanted = tuple(s.lower() for s in suffixes)
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in wanted)
            out.extend(Source(f, f.relative_to(p)) for f in found)
            if not found:
                out.append(Source(p, Path(p.name or "input")))
        else:
            out.append(Source(p, Path(p.name)))
    return out


def output_name(source: Source, suffix: str) -> Path:
    """`rel` with the output suffix: a folder (image sequence) keeps its whole name, a
    frame pattern's % becomes _."""
    name = source.rel.name if source.path.is_dir() else source.rel.stem
    return source.rel.with_name(name.replace("%", "_") + suffix)


def _key(path: Path) -> str:
    """One spelling per file: absolute, normalised, case-folded (case-insensitive disks)."""
    return os.path.normcase(os.path.abspath(path)).casefold()


@dataclass(frozen=True)
class PlannedItem:
    """One unit of work: open `scene` (None: the input itself), apply the command to
    `input`, write `output`. `label` names the item in progress and FAILED lines."""
    input: Path
    output: Path
    label: str
    scene: Path | None = None


@dataclass
class Plan:
    """Every item of one command run, in order, with what stops items before they run.

    `errors`: (label, why) that stop the whole run (collisions, an output that would
    replace an input); `blocked`: {label: why} items that will not run (output exists
    without --overwrite), `done`: labels a previous run of the same plan finished (its
    manifest in `root` says so and the output is unchanged), both set by check_outputs().
    `options`: the options signature that, with each item, keys the manifest."""
    command: str
    items: list[PlannedItem]
    overwrite: bool = False
    errors: list[tuple[str, str]] = field(default_factory=list)
    blocked: dict[str, str] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    root: Path | None = None
    options: str = ""
    resume: bool = False
    manifest: Manifest | None = None

    @classmethod
    def build(cls, command: str, items: list[PlannedItem], overwrite: bool = False,
              protected: Sequence[Path] = (), root: Path | None = None,
              options: str = "", resume: bool = False) -> "Plan":
        """Check the items against each other: two writing one output, or an output that
        is one of the inputs (or a `protected` file such as the head), are errors.
        `root`: the output folder; with `resume`, the run keeps a manifest there."""
        plan = cls(command, items, overwrite, root=root, options=options, resume=resume)
        files = [*(i.input for i in items), *(i.scene for i in items if i.scene), *protected]
        inputs = {_key(p): p for p in files if p.exists()}  # a missing one fails by itself
        first: dict[str, PlannedItem] = {}
        for item in items:
            key = _key(item.output)
            if key in inputs:
                plan.errors.append((item.label, f"its output {item.output} would replace the "
                                                f"input {inputs[key]}; choose another -o folder"))
            elif key in first:
                plan.errors.append((item.label, f"its output {item.output} is also the output "
                                                f"of {first[key].label}; rename one of them, or "
                                                f"run them into different -o folders"))
            else:
                first[key] = item
        return plan

    def check_outputs(self, create: bool = True) -> None:
        """Up front: every output folder can be written (OutputError otherwise), stale
        temporary files of dead runs are removed from it, and items whose output exists
        are blocked unless --overwrite."""
        folders = [self.root] if self.root is not None else []
        for folder in dict.fromkeys(folders + [i.output.parent for i in self.items]):
            outputs.check_folder(folder, create=create)
            if create:
                outputs.clean_stale_temps(folder)
        if self.root is not None and self.resume:
            self.manifest = Manifest(self.root)
        if not self.overwrite:
            for item in self.items:
                if not item.output.exists():
                    continue
                if self.manifest and self.manifest.done(self.key(item), item.output):
                    self.done.add(item.label)
                else:
                    self.blocked[item.label] = outputs.exists_message(item.output)

    def key(self, item: PlannedItem) -> str:
        """The item's manifest key."""
        return item_key(self.command, item, self.options)

    def runnable(self) -> list[PlannedItem]:
        return [i for i in self.items if i.label not in self.blocked and i.label not in self.done]

    def shard(self, index: int, count: int) -> "Plan":
        """The index-th (1-based) of `count` interleaved slices of the plan: items
        index-1, index-1+count, ... (a farm runs each slice as one task). Collisions are
        checked on the whole plan first, so slices never write one output twice."""
        return Plan(self.command, self.items[index - 1::count], self.overwrite,
                    list(self.errors), dict(self.blocked), set(self.done), self.root,
                    self.options, self.resume)

    def text(self) -> str:
        """The plan as printed by --dry-run: one line per item, then what would stop."""
        lines = [f"{self.command}: {len(self.items)} item(s)"]
        for item in self.items:
            note = self.blocked.get(item.label)
            note = f"  [will not run: {note}]" if note else ""
            if item.label in self.done:
                note = "  [done: a previous run wrote it; skipped]"
            scene = f" (onto {item.scene})" if item.scene else ""
            lines.append(f"  {item.label}{scene} -> {item.output}{note}")
        lines += [f"  FAILED {label}: {why}" for label, why in self.errors]
        return "\n".join(lines)
