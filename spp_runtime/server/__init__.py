"""The server side: one process per party serving jobs from clients over CURVE ZeroMQ.

``server`` is the serving loop (P0 orders the jobs) over the programs table it is given
(``apps.PROGRAMS`` under ``spp server``); ``services`` gives programs progress reports and
checkpoints; ``storage_service`` answers upload and dataset requests; ``cluster`` starts and
stops the three servers of a local cluster.
"""
