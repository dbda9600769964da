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

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED.exists():  # CI clones to another folder with shared/ beside the checkout
    SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data next to the checkout (training and test data, never copied in)."""
    if not SHARED.exists():
        pytest.fail(f"../shared/data not found at {SHARED}")
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
