"""`faceforge farm`: the Open Job Description template passes `openjd check` and runs its
shards with `openjd run`; the Deadline submission and the Flamenco job type (run under
Node with stand-ins for Flamenco's job API) produce shard commands that together make
every output of the plan."""
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from faceforge.ops import cli
from faceforge.ops.scale import manifest
from scale_helpers import save_heads

OPENJD = Path(sys.executable).with_name("openjd")
FLAMENCO_JS = Path(cli.__file__).parent / "scale" / "templates" / "faceforge_flamenco.js"

# Flamenco's job API, stood in for: author.Task/Command build plain objects, the job
# collects tasks; prints the compiled tasks as JSON (or the error compileJob threw).
FLAMENCO_HARNESS = r"""
const fs = require("fs"), vm = require("vm");
const [script, settingsText] = process.argv.slice(-2), settings = JSON.parse(settingsText);
const tasks = [];
const author = {
  Task: (name, type) => { const t = {name, type, commands: [], deps: []};
    t.addCommand = c => t.commands.push(c); t.addDependency = d => t.deps.push(d.name); return t; },
  Command: (type, params) => ({type, params}),
};
const ctx = {author, print: () => {}, console};
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(script, "utf8") + "\nthis.JOB_TYPE = JOB_TYPE; this.compileJob = compileJob;", ctx);
const defaults = {};
for (const s of ctx.JOB_TYPE.settings) if ("default" in s) defaults[s.key] = s.default;
try {
  ctx.compileJob({settings: Object.assign(defaults, settings), addTask: t => tasks.push(t)});
  console.log(JSON.stringify({tasks: tasks.map(({name, type, commands}) => ({name, type, commands}))}));
} catch (e) { console.log(JSON.stringify({error: String(e)})); }
"""



def _heads(bpy, folder: Path, names) -> Path:
    return save_heads(bpy, folder, names)


@pytest.fixture
def fake_blender(tmp_path) -> Path:
    """Stands for `blender`: takes Blender's `... -c faceforge ARGS` and runs ARGS with
    the PyPI-bpy console entry (what Blender's registered command runs)."""
    exe = tmp_path / "bin" / "blender"
    exe.parent.mkdir()
    exe.write_text(f"""#!/bin/sh
while [ "$#" -gt 0 ] && [ "$1" != "-c" ]; do shift; done
shift 2
exec {shlex.quote(sys.executable)} -c 'import sys; from faceforge.ops.cli import main; sys.exit(main())' "$@"
""")
    exe.chmod(0o755)
    return exe


def _done(out: Path) -> dict:
    """Output name -> state in the command's own --resume manifest (the farm adds --resume)."""
    from faceforge.ops.manifest import Manifest
    return {Path(r["output"]).name: r["state"] for r in Manifest(out).records.values()}


def _job(bpy, tmp_path, names="abc"):
    src = _heads(bpy, tmp_path / "in", list(names))
    out = tmp_path / "out dir"  # a space: quoting must survive every farm's command line
    return src, out, ["emotion", str(src), "-o", str(out), "--track", "0:happiness,1:sadness"]


def test_openjd_template_checks_and_runs_every_shard(bpy_empty, tmp_path, fake_blender):
    if not OPENJD.exists():
        pytest.skip("openjd-cli not installed (scripts/setup.sh installs it)")
    src, out, command = _job(bpy_empty, tmp_path)
    to = tmp_path / "job"
    assert cli.run(["farm", "openjd", "--shards", "2", "--to", str(to), "--"] + command) == 0
    check = subprocess.run([str(OPENJD), "check", str(to / "faceforge-job.yaml")],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    params = json.loads((to / "faceforge-params.json").read_text())
    assert params["ShardRange"] == "1-2"
    assert shlex.split(params["Command"]) == command + ["--resume"]
    run = subprocess.run([str(OPENJD), "run", str(to / "faceforge-job.yaml"),
                          "-p", f"file://{to / 'faceforge-params.json'}",
                          "-p", f"Launcher={fake_blender} -b -c faceforge"],
                         capture_output=True, text=True, timeout=400, env=os.environ)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert _done(out) == {"a.blend": "done", "b.blend": "done", "c.blend": "done"}
    assert "Chunks run: 2" in run.stdout  # one task per shard


def test_deadline_submission_frames_are_the_shards(bpy_empty, tmp_path, fake_blender):
    src, out, command = _job(bpy_empty, tmp_path)
    to = tmp_path / "job"
    assert cli.run(["farm", "deadline", "--shards", "2", "--to", str(to),
                    "--launcher", f"{fake_blender} -b -c faceforge", "--"] + command) == 0
    info = dict(line.split("=", 1) for line in
                (to / "faceforge_job_info.job").read_text().splitlines())
    plugin = dict(line.split("=", 1) for line in
                  (to / "faceforge_plugin_info.job").read_text().splitlines())
    assert info["Plugin"] == "CommandLine" and info["Frames"] == "1-2" and info["ChunkSize"] == "1"
    for frame in (1, 2):  # what Deadline's CommandLine plugin runs for each frame
        argv = [plugin["Executable"]] + shlex.split(
            plugin["Arguments"].replace("<STARTFRAME>", str(frame)))
        assert argv == [str(fake_blender), "-b", "-c", "faceforge"] + command + \
            ["--resume", "--shard", f"{frame}/2"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=os.environ)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert _done(out) == {"a.blend": "done", "b.blend": "done", "c.blend": "done"}


def _flamenco(settings: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed")
    proc = subprocess.run([node, "-e", FLAMENCO_HARNESS, str(FLAMENCO_JS), json.dumps(settings)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_flamenco_job_type_chunks_the_plan_into_shard_tasks(bpy_empty, tmp_path, fake_blender):
    src, out, command = _job(bpy_empty, tmp_path, "abcde")
    to = tmp_path / "job"
    assert cli.run(["farm", "flamenco", "--shards", "3", "--to", str(to), "--"] + command) == 0
    job = json.loads((to / "faceforge-job.json").read_text())
    assert job["type"] == "faceforge" and (to / "faceforge.js").read_text() == FLAMENCO_JS.read_text()
    compiled = _flamenco(job["settings"])
    assert [t["name"] for t in compiled["tasks"]] == ["faceforge-1of3", "faceforge-2of3",
                                                      "faceforge-3of3"]
    for i, task in enumerate(compiled["tasks"], 1):
        (cmd,) = task["commands"]
        assert task["type"] == "blender" and cmd["type"] == "exec"
        assert cmd["params"]["exe"] == "{blender}"
        assert cmd["params"]["args"] == ["-b", "-c", "faceforge"] + command + \
            ["--resume", "--shard", f"{i}/3"]
        argv = [str(fake_blender)] + cmd["params"]["args"]  # the worker's {blender} variable
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=os.environ)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(_done(out)) == [f"{n}.blend" for n in "abcde"]
    assert set(_done(out).values()) == {"done"}


def test_flamenco_job_type_refuses_bad_settings():
    assert "unclosed" in _flamenco({"command": "emotion 'a -o b", "shards": 2})["error"]
    assert "--shard" in _flamenco({"command": "emotion a -o b --shard 1/2", "shards": 2})["error"]
    assert _flamenco({"command": "emotion a\\ b \"c d\" -o o", "shards": 1})["tasks"][0][
        "commands"][0]["params"]["args"][3:6] == ["emotion", "a b", "c d"]


def test_farm_refuses_commands_it_cannot_shard(tmp_path, capsys):
    assert cli.run(["farm", "openjd", "--to", str(tmp_path), "--", "import-csv", "h.blend",
                    "a.csv", "-o", "x.blend"]) == 1
    assert "cannot be sharded" in capsys.readouterr().err
    assert cli.run(["farm", "openjd", "--to", str(tmp_path), "--", "rig", "a.blend", "-o", "o",
                    "--workers", "4"]) == 1
    assert "leave --workers out" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
