"""Protocols: SPMD functions every party runs against its PartyContext, on SharedTensors.

The linear protocols (input sharing, opening, truncation, Beaver products) live beside
``SharedTensor`` in :mod:`spp_runtime.tensor`; the helper's correlated randomness in
:mod:`spp_runtime.dealer`. Here, from the bottom up: ``boolean`` (XOR-shared bits),
``opened_compare`` (comparisons after one masked opening), ``fourier`` and ``exp_lookup``
(series and the exponential table on that opening), ``baselines.securenn`` (SecureNN,
faithfully), ``compare`` (sign, comparison, ReLU, selection), ``maxpool`` (row max, pooling),
``division``, ``baselines.spp_paper`` (the S++ paper's algorithms), ``activations``,
``exponential`` and ``softmax`` (the S++ functions). ``variants`` names every variant and the
functions that have it. Nonlinear functions are called as plain functions
(``compare.relu(x)``, ``activations.sigmoid(x, variant)``). Plaintext references are in
:mod:`spp_runtime.reference`.
"""
