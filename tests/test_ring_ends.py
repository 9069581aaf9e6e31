"""Saturating functions and exact comparisons on the whole ring: every class of ring element
(the extremes 2^63 - 1 and -2^63, the neighbourhoods of the saturation thresholds, of 0 and
of the wrap point, and uniform ring elements) against float64."""

import numpy as np
import pytest

from helpers import inputs
from spp_runtime.engine.local import run_local
from spp_runtime.protocols.activations import sigmoid, sigmoid_grad, tanh, tanh_grad
from spp_runtime.protocols.exponential import exp
from spp_runtime.protocols.opened_compare import less_than_public
from spp_runtime.protocols.ring_compare import less_than_public_exact
from spp_runtime.reference import approximations as ap
from spp_runtime.reference.approximations import exp_reference

F = 16


def _wrap(v: int) -> int:
    return ((v + 2**63) % 2**64) - 2**63


def ring_classes(rng, n_random: int = 2000) -> np.ndarray:
    """Raw ring elements (int64 encodings): dense runs at both ends of the ring and around
    0, every threshold the default functions use (+-4, +-4.25 (tanh), +-8, +-16 and the exp table's window)
    at ulp and at 1/16 spacing, whole reals near the ends, and uniform ring elements."""
    out: list[int] = []
    for base in (2**63 - 1, -(2**63), 0):
        out += [base + d for d in range(-64, 65)]
    for t in (4, 4.25, 8, 16):
        for c in (int(t * 2**F), -int(t * 2**F)):
            out += [c + d for d in range(-5, 6)] + [c + d * 2**12 for d in range(-32, 33)]
    reals = range(40)
    out += [int(2**63 - k * 2**F) for k in reals] + [int(-(2**63) + k * 2**F) for k in reals]
    out += [int(2**63 - 2**F * 2**k) for k in range(0, 47)] + [int(-(2**63) + 2**F * 2**k) for k in range(0, 47)]
    raw = np.array([_wrap(v) for v in out], dtype=np.int64)
    return np.concatenate([raw, rng.integers(-(2**63), 2**63 - 1, n_random, dtype=np.int64, endpoint=True)])


def _raw_program(ctx, fn, raw):
    return fn(inputs(ctx, raw.view(np.uint64), encoded=True)).reveal()


def sig(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


@pytest.mark.parametrize(
    "fn, ref, bar",
    [
        (sigmoid, sig, 3.4e-4),
        (tanh, np.tanh, 4.2e-4),
        (sigmoid_grad, lambda x: sig(x) * (1 - sig(x)), 3.5e-4),
        (tanh_grad, lambda x: 1 - np.tanh(x) ** 2, 8.3e-4),
    ],
    ids=["sigmoid", "tanh", "sigmoid_grad", "tanh_grad"],
)
def test_activations_hold_on_every_ring_element(run_any, rng, fn, ref, bar):
    raw = ring_classes(rng)
    x = raw.astype(np.float64) / 2.0**F
    got = run_any(_raw_program, fn, raw).outputs[0]
    err = np.abs(got - ref(x))
    assert err.max() <= bar, f"max error {err.max():.3g} at x = {x[err.argmax()]}"
    far = np.abs(x) > 2 * ap.SIGMOID_LIMIT
    assert np.all(err[far] <= 2**-16)  # exact saturation up to the ends


def test_exp_holds_on_every_ring_element(run_any, rng):
    raw = ring_classes(rng)
    x = raw.astype(np.float64) / 2.0**F
    got = run_any(_raw_program, exp, raw).outputs[0]
    ref = exp_reference(x)
    assert np.all(got[x < -ap.EXP_LIMIT] == 0.0)  # 0, never e^16 or 2 e^16, at the negative end
    assert np.all(np.abs(got[x >= ap.EXP_LIMIT] - np.exp(ap.EXP_LIMIT)) <= 2e-4)
    inside = (x >= -ap.EXP_LIMIT) & (x < ap.EXP_LIMIT)
    assert np.max(np.abs(got - ref)[inside] / np.maximum(ref[inside], 1.0)) <= 1e-3


def _bits_program(ctx, fn, raw, thresholds):
    _, bits = fn(inputs(ctx, raw.view(np.uint64), encoded=True), thresholds)
    return None if ctx.is_helper else bits.mine


def test_exact_comparison_on_every_ring_element_where_the_msb_one_wraps(rng):
    raw = ring_classes(rng)
    raw = raw[: raw.size // 8 * 8]  # whole bytes of packed bits: the cost below is exact
    thresholds = [8.0, -8.0, 0.0, 16.0, -2.0**46]
    want = np.stack([raw < int(t * 2**F) for t in thresholds]).astype(np.uint8)
    run = run_local(lambda ctx: _bits_program(ctx, less_than_public_exact, raw, thresholds))
    assert np.array_equal(run.outputs[0] ^ run.outputs[1], want)
    (st,) = run.top("less_than_public_exact")
    assert st.rounds == 5
    n = raw.size
    k = len(thresholds)
    assert st.bytes_per_link["p0->p1"] == st.bytes_per_link["p1->p0"] == 8 * n + 41 * (k + 1) * n // 8
    assert st.offline_bytes == (240 + 26 * (k + 1)) * n // 8
    # the msb comparison errs exactly where x - t wraps: the case this module exists for
    old = run_local(lambda ctx: _bits_program(ctx, less_than_public, raw, thresholds))
    wrong = (old.outputs[0] ^ old.outputs[1]) != want
    assert wrong.any()
    assert not wrong[:, np.abs(raw.astype(np.float64)) < 2.0**62].any()
