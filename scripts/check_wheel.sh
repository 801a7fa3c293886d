#!/usr/bin/env bash
# Packaging check: build the wheel, install it into a fresh venv (torch 2.13.0 first), import it
# and run the CLI from outside the source tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/ctflow-wheel.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$root/.venv/bin/python" -m build --wheel --outdir "$tmp/dist" "$root" >/dev/null
wheel=$(ls "$tmp"/dist/ctflow-*.whl)
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q torch==2.13.0
"$tmp/venv/bin/python" -m pip install -q "$wheel"
cd "$tmp"
"$tmp/venv/bin/python" -c "import ctflow, ctflow.experiments; print('ctflow', ctflow.__version__, 'from', ctflow.__file__)"
"$tmp/venv/bin/ctflow" list
echo "wheel-check: $(basename "$wheel") installs, imports and runs"
