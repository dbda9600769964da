"""Where the lab reads and writes: the checkout, ../shared/data beside it, checkpoints/.

SHARED_DATA is the project's shared data folder (see docs/shared_data.md): training and
evaluation data that is never copied into the repository. FACEFORGE_SHARED_DATA, when set,
names another folder (tests and lab alike)."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]          # the checkout (the extension package)
SHARED_DATA = Path(os.environ.get("FACEFORGE_SHARED_DATA") or ROOT.parent / "shared" / "data")
CHECKPOINTS = ROOT / "checkpoints"                  # git-ignored: caches, renders, runs
