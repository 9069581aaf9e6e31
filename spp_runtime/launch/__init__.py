"""Launchers: start the three parties as processes, and stop them however the caller ends.

Every launcher prepares its processes with :mod:`.files` (fresh CURVE keys, free ports, the
cluster config) and runs them under the one cleanup policy of :mod:`.lifecycle`, entered
before the first process starts. The flavours:

* :mod:`.local`: the local cluster, three ``spp server`` processes detached from one run
  directory (``spp cluster up|status|down``, and the cluster a command starts for itself);
* :mod:`.parties`: three party processes driven from the calling process over pipes
  (``run_zmq``, ``ZmqParties``: tests, benches, studies);
* :mod:`.lan`: the servers and a client each on its own host of an emulated LAN (network
  namespaces; ``spp bench --net lan``, multi-host tests).

Nothing is imported here, so a spawned party process loads only :mod:`.parties` and what it needs.
"""
