"""The benchmark client as its own process, for running on another (emulated) host.

``python -m spp_runtime.bench.worker SPEC.json`` reads ``{"config", "cases": [[name, variant]],
"shapes", "repeat", "wait_s"}``, waits until the three servers of ``config`` are connected,
runs every case and writes one JSON line per event to stdout: ``{"ready": true}``, then
``{"record": {...}}`` per case x shape, or ``{"error": "..."}`` (exit code 1).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from ..client import Client
from ..config import load
from ..errors import SppError
from .registry import get_case
from .runner import run_repeated


def _emit(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def wait_ready(client: Client, wait_s: float) -> None:
    """Block until all three servers answer ``ready`` (their peer links are up)."""
    deadline = time.monotonic() + wait_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            client.connect(timeout=2.0)
            answers = client.status(timeout=3.0)
            if all(a.get("ready") for a in answers.values()) and len(answers) == 3:
                return
            last = ", ".join(f"{k}: {'ready' if a.get('ready') else 'not ready'}" for k, a in answers.items())
        except SppError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise SppError(f"the servers were not ready within {wait_s:g} s ({last})")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    with open(args[0]) as f:
        spec = json.load(f)
    try:
        cfg = load(spec["config"])
        with Client(cfg) as client:
            wait_ready(client, float(spec.get("wait_s", 60)))
            _emit({"ready": True})
            for name, variant in spec["cases"]:
                case = get_case(name)
                for shape in spec["shapes"]:
                    rec = run_repeated(client, case, tuple(shape), variant, int(spec.get("repeat", 1)))
                    _emit({"record": rec})
    except (SppError, KeyError, ValueError) as exc:
        _emit({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
