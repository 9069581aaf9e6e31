#!/usr/bin/env bash
# Set up (idempotent) and run the test suite. Usage: scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' >/dev/null
exec .venv/bin/python -m pytest "$@"
