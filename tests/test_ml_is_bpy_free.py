"""`ml/` must load and run without Blender: importing every module pulls in no bpy."""
import subprocess
import sys
from pathlib import Path

ML = Path(__file__).resolve().parents[1] / "ml"


def test_ml_modules_import_without_bpy():
    modules = sorted("faceforge." + ".".join(p.relative_to(ML.parent).with_suffix("").parts)
                     for p in ML.rglob("*.py") if p.name != "__init__.py")
    code = ("import sys\n"
            f"for m in {modules!r}:\n"
            "    __import__(m)\n"
            "assert 'bpy' not in sys.modules, 'an ml module imported bpy'\n"
            "print(len(sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
