"""The server side: one process per party serving jobs from clients over CURVE ZeroMQ.

``programs`` is the registry of what a job may run; ``party`` runs one job as one party;
``server`` is the serving loop (P0 orders the jobs); ``cluster`` starts and stops the three
servers of a local cluster.
"""
