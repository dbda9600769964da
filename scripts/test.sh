#!/usr/bin/env bash
# Run the test suite with the PyPI bpy module, or, when BLENDER_EXECUTABLE is set,
# inside that Blender through pytest-blender. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${BLENDER_EXECUTABLE:-}" ]; then
    # pyproject.toml disables the plugin by default; -p turns it back on.
    set -- -p pytest-blender --blender-executable "$BLENDER_EXECUTABLE" "$@"
fi
exec .venv/bin/python -m pytest -q "$@"
