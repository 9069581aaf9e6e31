"""Plaintext references: what the protocols compute, in float64 numpy (no sharing, no SPMD).

``fourier``: trigonometric series (evaluation and fits). ``approximations``: the fitted series
and saturation limits behind the default S++ functions, and the exponential's specification.
``emulate``: the default protocols' approximations end to end, for the fixed-point emulation
of training (:class:`spp_runtime.nn.ops.FixedOps`). The protocols import these, never the
reverse.
"""
