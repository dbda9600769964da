#!/usr/bin/env bash
# Idempotent developer setup: .venv (Python 3.11) with requirements.txt and FaceForge
# installed editable, plus, on Debian/Ubuntu, the system libraries the bpy module loads.
# Re-running is cheap: pip runs only when requirements.txt or pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python_311() {
    local py
    for py in python3.11 python3; do
        if command -v "$py" >/dev/null && "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            echo "$py"; return 0
        fi
    done
    echo "setup.sh: Python 3.11 is required (bpy 5.0 is built for it)" >&2
    return 1
}

if [ ! -x .venv/bin/python ]; then
    py=$(python_311)
    echo "setup.sh: creating .venv with $py"
    "$py" -m venv .venv
fi

stamp=.venv/.faceforge-setup.sha256
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x .venv/bin/faceforge ]; then
    echo "setup.sh: installing requirements"
    .venv/bin/python -m pip install -q "setuptools>=77"  # pyproject's SPDX license string
    .venv/bin/python -m pip install -q -r requirements.txt
    .venv/bin/python -m pip install -q -e . --no-deps --no-build-isolation
    echo "$want" > "$stamp"
fi

# bpy links X11/GL client libraries (no display is needed, but the libraries must exist)
# and loads libEGL/libGL at run time. Slim Debian/Ubuntu images lack some of them.
bpy_so=.venv/lib/python3.11/site-packages/bpy/__init__.so
if [ "$(uname -s)" = Linux ] && [ -f "$bpy_so" ]; then
    linked=$(ldd "$bpy_so")
    cached=$("$(command -v ldconfig || echo /sbin/ldconfig)" -p)
    if [[ $linked == *"not found"* || $cached != *"libEGL.so.1 "* || $cached != *"libGL.so.1 "* ]]; then
        pkgs="libx11-6 libxext6 libxrender1 libxfixes3 libxi6 libxkbcommon0 libsm6 libgl1 libegl1"
        if command -v apt-get >/dev/null; then
            sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
            echo "setup.sh: installing system libraries for bpy: $pkgs"
            $sudo apt-get update -qq
            $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs
        else
            echo "setup.sh: bpy needs these libraries (Debian names): $pkgs" >&2
            grep "not found" <<< "$linked" >&2 || true
            exit 1
        fi
    fi
fi
