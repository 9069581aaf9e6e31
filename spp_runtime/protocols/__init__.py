"""Protocols: SPMD functions every party runs against its PartyContext.

``basic``: input sharing, reveal, local truncation. ``dealer``: the helper's correlated
randomness. ``beaver``: products with helper-dealt triples. Later modules add the SecureNN
comparison family and the S++ functions.
"""
