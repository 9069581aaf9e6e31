"""Shared fixtures: run an SPMD program on three parties over a chosen transport."""

from __future__ import annotations

import numpy as np
import pytest

from spp_runtime.engine.local import run_local


@pytest.fixture
def run3():
    """Run a program on three in-process parties; returns the LocalRun."""
    return run_local


@pytest.fixture
def rng():
    """A seeded numpy generator for test data (test inputs only, never secrets)."""
    return np.random.default_rng(20261125)
