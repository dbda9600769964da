"""Without ../shared/data the tests that need it are skipped with a reason, not failed;
with FACEFORGE_REQUIRE_SHARED_DATA=1 (for CI, where the folder must be there) they fail."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# One test per way of reaching the data: the fixture itself, a module-scoped fixture built
# on it, a parametrised test asking for it by name, and a lab default path (ICT template).
NEEDS_SHARED = [
    "tests/test_emotion.py::test_table_json_is_read_from_shared_data",
    "tests/test_autorig_eyes_metrics.py::test_baseline_transfers_between_ict_identities",
    "tests/test_autorig_data.py::test_samples_are_canonical[ict]",
    "tests/test_autorig_eyes_metrics.py::test_baseline_on_anny_with_the_full_template",
]


def _pytest(tmp_path, *extra_env):
    env = dict(os.environ, FACEFORGE_SHARED_DATA=str(tmp_path / "no-shared-data"))
    env.pop("FACEFORGE_REQUIRE_SHARED_DATA", None)
    env.update(extra_env)
    return subprocess.run([sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider",
                           *NEEDS_SHARED], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def test_tests_needing_shared_data_skip_without_it(tmp_path):
    run = _pytest(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(NEEDS_SHARED)} skipped" in run.stdout, run.stdout
    assert "failed" not in run.stdout and "error" not in run.stdout, run.stdout
    assert "needs the shared data folder" in run.stdout and "MISSING" in run.stdout


def test_ci_can_require_shared_data(tmp_path):
    run = _pytest(tmp_path, ("FACEFORGE_REQUIRE_SHARED_DATA", "1"))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "needs the shared data folder" in run.stdout
