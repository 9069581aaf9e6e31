"""spp_runtime: a three-server secure-computation runtime for neural networks.

Two primary servers (P0, P1) hold 2-out-of-2 additive shares over Z_2^64; a helper (P2) deals
correlated randomness and takes part in comparisons, as in SecureNN. On top sit the S++
functions (exp, sigmoid, tanh, their derivatives, softmax) and neural-network training.

Layers, in dependency order (the full module table is ``docs/ARCHITECTURE.md``; a test keeps
the import graph acyclic and downward):

``ring`` / ``encoding`` -> ``randomness`` / ``sharing`` -> ``keys`` -> ``config`` -> ``transport``
-> ``api`` -> ``engine`` -> ``dealer`` -> ``tensor`` -> ``reference`` -> ``protocols`` -> ``jobs``
-> ``data`` -> ``storage`` -> ``server`` -> ``client`` -> ``netem`` -> ``launch`` -> ``nn``
-> ``bench`` -> ``apps`` -> ``cli``.
"""

__version__ = "0.1.0"

P0, P1, P2 = 0, 1, 2
PARTY_NAMES = ("p0", "p1", "p2")

__all__ = ["P0", "P1", "P2", "PARTY_NAMES", "__version__"]
