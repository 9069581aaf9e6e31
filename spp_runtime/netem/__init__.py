"""Emulated networks for benchmarks and multi-host tests.

``topology``: network namespaces (one per host) joined by veth links through a bridge, with
per-host upload/download rate limits (tc ``tbf``). ``relay``: a TCP relay that holds every
chunk for a fixed one-way delay (this kernel has no ``netem``). ``measure``: ping-pong and bulk
probes that check the emulated network delivers the delay and rate asked for. ``costmodel``:
predicts a protocol's time on a network from its counted rounds and bytes.
"""
