"""Shared fixtures: run an SPMD program on three parties over a chosen transport."""

from __future__ import annotations

import numpy as np
import pytest

from spp_runtime.engine.local import run_local
from spp_runtime.engine.zmq_runner import run_zmq


@pytest.fixture
def run3():
    """Run a program on three in-process parties; returns the LocalRun."""
    return run_local


@pytest.fixture(params=["inprocess", pytest.param("zmq", marks=pytest.mark.network)])
def run_any(request):
    """The same test body over threads and over three real ZeroMQ processes."""
    return run_local if request.param == "inprocess" else run_zmq


@pytest.fixture
def rng():
    """A seeded numpy generator for test data (test inputs only, never secrets)."""
    return np.random.default_rng(20261125)
