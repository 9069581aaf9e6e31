"""Skip-or-fail marker for tests that need root and ``ip netns`` (``SPP_REQUIRE_NETNS=1``:
a missing capability fails the test instead of skipping it)."""

from __future__ import annotations

import os

import pytest

from spp_runtime.netem.topology import NetnsUnavailable, require_netns


def netns_available() -> bool:
    try:
        require_netns()
        return True
    except NetnsUnavailable:
        if os.environ.get("SPP_REQUIRE_NETNS") == "1":
            raise
        return False


needs_netns = pytest.mark.skipif(not netns_available(), reason="needs root and iproute2 (ip, tc)")


_ECHO = "import sys\nfor line in sys.stdin.buffer:\n    sys.stdout.buffer.write(line); sys.stdout.buffer.flush()\n"


def scheduling_rtt_s(n: int = 30) -> float:
    """The machine's own round-trip time between two processes (a pipe echo, no network):
    about 0.1 ms on an idle machine, several ms on a busy one. Timing tests add a multiple of
    it to their upper bounds: a delay relay is a process that must be scheduled at every hop."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", _ECHO], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            proc.stdin.write(b"x\n")
            proc.stdin.flush()
            proc.stdout.readline()
            times.append(time.perf_counter() - t0)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    times.sort()
    return times[len(times) // 2]
