#!/usr/bin/env bash
# Create .venv (once) and install spp_runtime with its dev extras into it (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' >/dev/null
