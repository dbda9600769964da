"""Test setup: Blender's user folders go to a scratch dir before bpy loads; each
Blender test starts from an empty factory scene with FaceForge registered."""
import os
import sys
import tempfile
from pathlib import Path

import pytest

_SCRATCH = Path(tempfile.mkdtemp(prefix="faceforge-tests-"))
os.environ.setdefault("BLENDER_USER_RESOURCES", str(_SCRATCH / "blender"))
os.environ["HOME"] = str(_SCRATCH / "home")
(_SCRATCH / "home").mkdir(parents=True, exist_ok=True)

from lab.paths import SHARED_DATA as SHARED  # ../shared/data, or $FACEFORGE_SHARED_DATA

SHARED_MISSING = (f"needs the shared data folder, not found at {SHARED} (it lies beside the "
                  "checkout as ../shared/data, or set FACEFORGE_SHARED_DATA; docs/shared_data.md)")


def pytest_report_header(config):
    found = "found" if SHARED.is_dir() else "MISSING: the tests that need it are skipped"
    return f"shared data: {SHARED} ({found})"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data next to the checkout (training and test data, never copied in).
    Without it the test is skipped, or fails where FACEFORGE_REQUIRE_SHARED_DATA=1 (CI)."""
    if not SHARED.is_dir():
        if os.environ.get("FACEFORGE_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(SHARED_MISSING)
        pytest.skip(SHARED_MISSING)
    return SHARED


_registered = False


def _register_once():
    """Register FaceForge once per test session (classes survive factory resets)."""
    global _registered
    if not _registered:
        import faceforge
        faceforge.register()
        _registered = True


@pytest.fixture
def bpy_empty():
    """A fresh, empty Blender session with the FaceForge extension registered."""
    bpy = pytest.importorskip("bpy")
    _register_once()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)
