"""Shared fixtures: run an SPMD program on three parties over a chosen transport; a local
cluster of three ``spp server`` processes per test module and a client of it."""

from __future__ import annotations

import numpy as np
import pytest
from cluster_helpers import running_cluster

from spp_runtime.client import Client
from spp_runtime.engine.local import run_local
from spp_runtime.launch.parties import ZmqParties


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


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three ``spp server`` processes for the test module (``cluster_helpers.running_cluster``):
    yields (their config, the directory with ``cluster.toml``, ``keys/`` and ``run/``).

    A module that needs more (stored datasets, say) overrides it with a fixture of the same
    name that takes this one; one that needs other options uses ``running_cluster`` itself.
    """
    with running_cluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


@pytest.fixture
def client(cluster):
    """A client of the module's cluster (``cluster[0]`` is its config)."""
    with Client(cluster[0]) as c:
        yield c
