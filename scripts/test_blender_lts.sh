#!/usr/bin/env bash
# Run the Blender-facing tests against the Blender LTS releases the manifest supports
# (bpy from PyPI, Python 3.11), each in its own virtual environment under .venv-lts/.
#
#   scripts/test_blender_lts.sh                      # 4.2 and 4.5, every Blender-facing test
#   scripts/test_blender_lts.sh 4.2 -- tests/test_shape_keys.py -q
#   LTS_SETUP_ONLY=1 scripts/test_blender_lts.sh 4.2 # build the environment, run nothing
#
# Idempotent: an environment is (re)installed only when requirements.txt, pyproject.toml
# or this script changed. Each gets requirements.txt with its bpy pin swapped, and
# FaceForge installed editable (so the `faceforge` console script is this checkout's).
# Exit status: 0 when every version passed, else the last failing pytest status.
set -uo pipefail
cd "$(dirname "$0")/.."

versions=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do versions+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#versions[@]} -eq 0 ] && versions=(4.2 4.5)

if [ $# -eq 0 ]; then
    # Every test module that touches Blender (imports bpy or drives the CLI through it).
    mapfile -t tests < <(grep -l -E "^\s*(import bpy|from \.?helpers import|bpy = pytest.importorskip)|bpy_empty" \
                         tests/test_*.py | sort)
    set -- -q "${tests[@]}"
fi

base_python() {  # the Python 3.11 that scripts/setup.sh made .venv from
    if [ ! -x .venv/bin/python ]; then
        echo "test_blender_lts.sh: no .venv; run scripts/setup.sh first" >&2
        return 1
    fi
    .venv/bin/python -c 'import sys; print(sys._base_executable)'
}

setup_env() {  # $1 = Blender series (4.2), $2 = venv folder
    local series=$1 env=$2 stamp want
    if [ ! -x "$env/bin/python" ]; then
        local py; py=$(base_python) || return 1
        echo "test_blender_lts.sh: creating $env with $py"
        "$py" -m venv "$env" || return 1
    fi
    stamp=$env/.faceforge-lts.sha256
    want=$(cat requirements.txt pyproject.toml "$0" | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x "$env/bin/faceforge" ]; then
        return 0
    fi
    echo "test_blender_lts.sh: installing bpy==$series.* and the requirements into $env"
    local reqs="$env/requirements.txt"
    sed -E "s/^bpy==.*/bpy==$series.*/" requirements.txt > "$reqs"
    "$env/bin/python" -m pip install -q "setuptools>=77" &&
    "$env/bin/python" -m pip install -q -r "$reqs" &&
    "$env/bin/python" -m pip install -q -e . --no-deps --no-build-isolation || return 1
    echo "$want" > "$stamp"
}

status=0
for series in "${versions[@]}"; do
    env=.venv-lts/bpy-$series
    mkdir -p .venv-lts
    if ! setup_env "$series" "$env"; then
        echo "test_blender_lts.sh: could not set up $env" >&2
        status=1; continue
    fi
    version=$("$env/bin/python" -c "import bpy; print(bpy.app.version_string)" 2>/dev/null | tail -1)
    echo "== Blender $version ($env)"
    [ -n "${LTS_SETUP_ONLY:-}" ] && continue
    # The editable install names this checkout; PYTHONPATH keeps a worktree's own copy first.
    PYTHONPATH="$(cd .. && pwd)${PYTHONPATH:+:$PYTHONPATH}" "$env/bin/python" -m pytest -p no:cacheprovider "$@"
    rc=$?
    echo "== Blender $version: pytest exit $rc"
    [ "$rc" -ne 0 ] && status=$rc
done
exit "$status"
