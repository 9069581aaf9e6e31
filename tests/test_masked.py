"""Masked operands (spp_runtime.masked): matrices opened once and reused by several products,
against float64 numpy, with exact costs; a dense layer's training step opens each matrix once.

Runs on both transports (``run_any``), so programs are module-level functions.
"""

import numpy as np
import pytest
from helpers import inputs

from spp_runtime.engine.local import run_local
from spp_runtime.masked import MaskedOperand, masked_matmul, masked_rescale, open_operands
from spp_runtime.nn import SecureOps
from spp_runtime.nn.layers import Dense
from spp_runtime.nn.ops import FixedOps, grad_scaling

ULP = 2.0**-16


def _products(ctx, x, w, dy, k, s):
    sx, sw, sdy = inputs(ctx, x, w, dy)
    xo, wo = open_operands(sx, sw)
    (dyo,) = open_operands(sdy)
    y = masked_matmul(xo, wo)
    dx = masked_matmul(dyo, wo.T)
    gw = masked_matmul(xo.T, dyo)
    scaled = masked_rescale(dyo, k, s)
    return {
        "y": y.reveal(), "dx": dx.reveal(), "gw": gw.reveal(), "x": xo.value().reveal(),
        "scaled": scaled.value().reveal(), "gw_scaled": masked_matmul(xo.T, scaled).reveal(),
    }


@pytest.mark.parametrize("m, d, n", [(1, 1, 1), (8, 16, 4), (32, 24, 10)])
def test_operands_opened_once_serve_every_product(run_any, rng, m, d, n):
    x, w, dy = rng.normal(size=(m, d)), rng.normal(size=(d, n)), rng.normal(size=(m, n))
    k, s = 11, 3  # scaled = floor(11 dy / 8), at the same fractional bits
    run = run_any(_products, x, w, dy, k, s)
    got = run.outputs[0]
    assert run.outputs[1].keys() == got.keys() and run.outputs[2]["y"] is None
    bound = (max(m, d, n) + 2) * ULP
    assert np.max(np.abs(got["x"] - x)) <= ULP
    assert np.max(np.abs(got["y"] - x @ w)) <= bound
    assert np.max(np.abs(got["dx"] - dy @ w.T)) <= bound
    assert np.max(np.abs(got["gw"] - x.T @ dy)) <= bound
    assert np.max(np.abs(got["scaled"] - k * dy / 2**s)) <= 2 * ULP
    assert np.max(np.abs(got["gw_scaled"] - x.T @ (k * dy / 2**s))) <= 2 * bound
    opens = run.top("open_operands")
    assert [st.rounds for st in opens] == [1, 1]
    assert opens[0].bytes_per_link == {"p0->p1": 8 * (m * d + d * n), "p1->p0": 8 * (m * d + d * n)}
    assert opens[1].bytes_per_link == {"p0->p1": 8 * m * n, "p1->p0": 8 * m * n}
    products = run.top("masked_matmul")
    assert [st.rounds for st in products] == [0] * 4
    assert [st.bytes_per_link for st in products] == [
        {"p2->p1": 8 * m * n}, {"p2->p1": 8 * m * d}, {"p2->p1": 8 * d * n}, {"p2->p1": 8 * d * n}
    ]
    assert all(st.offline_bytes == st.bytes_total for st in products)
    (resc,) = run.top("masked_rescale")
    assert resc.rounds == 0 and resc.bytes_per_link == {"p2->p1": 8 * m * n} and resc.offline_bytes == 8 * m * n


def test_rescale_is_the_local_truncation_of_k_times_x(rng):
    """The scaled operand equals floor(k x / 2^s) up to one unit, for large k and both signs
    (what FixedOps emulates for the weight gradient's scaled output gradient)."""
    dy = np.concatenate([rng.normal(size=500), -rng.uniform(0, 2.0**-10, 100), [0.0, ULP, -ULP]])
    k, s1, _ = grad_scaling(1e-4, 16)
    fixed = FixedOps()
    want = (fixed.encode(dy) * k) >> s1

    def prog(ctx):
        (o,) = open_operands(inputs(ctx, dy))
        out = masked_rescale(o, k, s1).value()
        return None if out.share is None else out.share

    outs = run_local(prog).outputs
    got = (outs[0] + outs[1]).view(np.int64)
    assert np.all((got - want >= 0) & (got - want <= 1))


def test_operand_holds_no_value_the_party_must_not_have(rng):
    def prog(ctx):
        (o,) = open_operands(inputs(ctx, rng.normal(size=(2, 3))))
        return o, repr(o)

    outs = run_local(prog).outputs
    for p in (0, 1):
        o, text = outs[p]
        assert o.pair is None and o.opened is not None and "opened" not in text
        with pytest.raises(ValueError, match="only P2 holds masks"):
            o.full_mask()
    helper, _ = outs[2]
    assert helper.opened is None and helper.mask is None and helper.full_mask().shape == (2, 3)


def _dense_step(ctx, x, w, b, dy, step):
    ops = SecureOps(ctx)
    sx, sw, sb, sdy = inputs(ctx, x, w, b, dy)
    layer = Dense(*w.shape)
    p = {"W": sw, "b": sb}
    y, cache = layer.forward(ops, p, sx)
    dx, g = layer.backward(ops, p, cache, sdy, need_dx=True, step=step)
    return y.reveal(), dx.reveal(), g["W"].reveal(), g["b"].reveal()


def test_dense_step_opens_each_matrix_once_and_matches_the_emulation(run_any, rng):
    bsz, d, n, step = 16, 12, 6, 0.05 / 16
    x, w, b = rng.uniform(-2, 2, (bsz, d)), rng.uniform(-1, 1, (d, n)), rng.uniform(-1, 1, n)
    dy = rng.uniform(-1, 1, (bsz, n))
    run = run_any(_dense_step, x, w, b, dy, step)
    fixed = FixedOps()
    ex, ew, eb, edy = (fixed.encode(v) for v in (x, w, b, dy))
    layer = Dense(d, n)
    fy, cache = layer.forward(fixed, {"W": ew, "b": eb}, ex)
    fdx, fg = layer.backward(fixed, {"W": ew, "b": eb}, cache, edy, need_dx=True, step=step)
    y, dx, gw, gb = run.outputs[0]
    # each product's local truncation is off by at most one unit (d-term sums: a few units)
    assert np.max(np.abs(y - fixed.decode(fy))) <= 2 * ULP
    assert np.max(np.abs(dx - fixed.decode(fdx))) <= 2 * ULP
    assert np.max(np.abs(gw - fixed.decode(fg["W"]))) <= 2 * ULP
    assert np.max(np.abs(gb - fixed.decode(fg["b"]))) <= 2 * ULP
    names = [st.name for st in run.top() if st.name not in ("share_input", "reveal")]
    assert names == ["open_operands", "masked_matmul", "open_operands", "masked_rescale", "masked_matmul", "masked_matmul"]
    opens = run.top("open_operands")
    assert [st.bytes_per_link["p0->p1"] for st in opens] == [8 * (bsz * d + d * n), 8 * bsz * n]
    step_stats = [st for st in run.top() if st.name not in ("share_input", "reveal")]
    assert sum(st.rounds for st in step_stats) == 2  # three Beaver products took 3
    online = sum(st.online_bytes for st in step_stats)
    offline = sum(st.offline_bytes for st in step_stats)
    assert online == 2 * 8 * (bsz * d + d * n + bsz * n)  # each matrix opened once, both ways
    assert offline == 8 * (bsz * n + bsz * n + d * n + bsz * d)  # y, scaled dy, gW, dx


def test_operands_pass_through_and_mixed_products_open_the_other(rng):
    x, w = rng.normal(size=(4, 5)), rng.normal(size=(5, 3))

    def prog(ctx):
        ops = SecureOps(ctx)
        sx, sw = inputs(ctx, x, w)
        (xo,) = ops.operands(sx)
        again = ops.operands(xo, sw)
        assert again[0] is xo and isinstance(again[1], MaskedOperand)
        return ops.matmul(xo, sw).reveal()

    run = run_local(prog)
    assert np.max(np.abs(run.outputs[0] - x @ w)) <= 8 * ULP
    assert [st.name for st in run.top() if st.name != "share_input"] == [
        "open_operands", "open_operands", "open_operands", "masked_matmul", "reveal"
    ]
