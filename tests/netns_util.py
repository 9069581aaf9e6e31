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
