"""A run's manifest: one JSON line per finished item beside the outputs
(`<out>/.faceforge-manifest.jsonl`: item key, state, output hash, seconds, error), so a
rerun of the same command resumes: an item whose output is still the one this manifest
recorded for the same input and options is skipped as done; everything else runs, and an
output the manifest does not know stays protected unless --overwrite."""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

NAME = ".faceforge-manifest.jsonl"


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _stamp(path: Path | None) -> list:
    """What identifies an input's content cheaply: its absolute path, size and mtime."""
    if path is None:
        return []
    try:
        st = os.stat(path)
        return [os.path.abspath(path), st.st_size, st.st_mtime_ns]
    except OSError:
        return [os.path.abspath(path)]


def item_key(command: str, item, options: str) -> str:
    """The identity of a planned item: command, input and scene (path, size, mtime),
    the options that shape the result, and the output path."""
    parts = [command, _stamp(item.input), _stamp(item.scene), options,
             os.path.abspath(item.output)]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


def options_signature(args, ignore=("overwrite", "dry_run", "shard", "verbose", "func",
                                    "command", "output", "inputs", "head", "audio", "clips",
                                    "csv")) -> str:
    """The command's options that change what an item writes, as one string (inputs and
    the head are part of each item's key instead)."""
    return json.dumps({k: str(v) for k, v in sorted(vars(args).items()) if k not in ignore})


class Manifest:
    """The manifest in folder (read once, appended to as items finish)."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / NAME
        self.records: dict[str, dict] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        for line in lines:
            try:
                rec = json.loads(line)
                self.records[rec["key"]] = rec
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by a kill: ignore it

    def done(self, key: str, output: Path) -> bool:
        """True when the manifest says this item finished and its output is unchanged."""
        rec = self.records.get(key)
        if not rec or rec.get("state") != "done" or not Path(output).is_file():
            return False
        try:
            return file_hash(output) == rec.get("sha256")
        except OSError:
            return False

    def record(self, key: str, item, state: str, seconds: float, error: str | None = None):
        """Append one line (a single write of one line: concurrent runs do not interleave
        within it)."""
        rec = {"key": key, "input": str(item.input), "output": str(item.output),
               "state": state, "seconds": round(seconds, 3), "time": time.time()}
        if state == "done" and Path(item.output).is_file():
            rec["sha256"] = file_hash(item.output)
        if error:
            rec["error"] = error
        self.records[key] = rec
        data = (json.dumps(rec) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
