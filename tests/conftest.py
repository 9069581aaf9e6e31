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


@pytest.fixture(scope="session")
def zmq_parties():
    """Three party processes over CURVE ZeroMQ, started once per test session."""
    from spp_runtime.engine.remote import ZmqParties

    with ZmqParties() as parties:
        yield parties


@pytest.fixture(params=["inprocess", pytest.param("zmq", marks=pytest.mark.network)])
def run_any(request):
    """``run_any(program, *args, **kwargs)`` runs ``program(ctx, *args, **kwargs)`` on three
    parties, in-process or as three processes over ZeroMQ; returns the LocalRun.

    Programs must be module-level functions (they are pickled for the zmq transport).
    """
    if request.param == "inprocess":

        def run(program, *args, timeout=30.0, **kwargs):
            return run_local(lambda ctx: program(ctx, *args, **kwargs), timeout=timeout)

        return run
    parties = request.getfixturevalue("zmq_parties")

    def run_remote(program, *args, timeout=30.0, **kwargs):
        return parties.run(program, *args, timeout=timeout, **kwargs)

    return run_remote
