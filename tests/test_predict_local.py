"""The prediction protocol in process: weights opened once and reused, scores against float64,
exact costs per query, and what each primary's opening looks like."""

import numpy as np

from spp_runtime.engine.local import run_local
from spp_runtime.encoding import FixedPoint
from spp_runtime.jobs import StoredModel
from spp_runtime.jobs.services import helper_holds_nothing
from spp_runtime.nn.masked_weights import fixed_matmul, open_weights
from spp_runtime.nn.model import model_from_dict
from spp_runtime.nn.ops import FloatOps
from spp_runtime.nn.predict import forward, load_model
from spp_runtime.sharing import share
from spp_runtime.tensor import SharedTensor

MODEL = model_from_dict({"name": "small", "inputs": 20, "output": "softmax", "layers": [
    {"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 4}]})


class Stores:
    """Two primaries' model shares and openings, in memory."""

    def __init__(self, params):
        fxp = FixedPoint()
        self.shares = [{}, {}]
        for k, v in params.items():
            s0, s1 = share(fxp.encode(v))
            self.shares[0][k], self.shares[1][k] = s0, s1
        self.openings = [None, None]
        self.shapes = {k: v.shape for k, v in params.items()}

    def model(self, ctx):
        if ctx.is_helper:
            return StoredModel("m", "id1", MODEL.to_dict(), self.shapes, helper_holds_nothing,
                               helper_holds_nothing, helper_holds_nothing)
        p = ctx.party

        def save(mask_id, seed, opened):
            self.openings[p] = (mask_id, seed, dict(opened))

        return StoredModel("m", "id1", MODEL.to_dict(), self.shapes,
                           lambda names: {k: self.shares[p][k] for k in names},
                           lambda: self.openings[p], save)


def _query(stores, x):
    fxp = FixedPoint()
    x0, x1 = share(fxp.encode(x))

    def program(ctx):
        model, weights, biases = load_model(ctx, stores.model(ctx))
        xs = SharedTensor.like(ctx, {0: x0, 1: x1}.get(ctx.party), x.shape)
        return forward(ctx, model, weights, biases, xs).reveal()

    return run_local(program)


def test_scores_match_float64_and_the_opening_is_made_once(rng):
    params = MODEL.init_params(3)
    params = {k: v + rng.normal(0, 0.1, v.shape) for k, v in params.items()}
    stores = Stores(params)
    x = rng.normal(0, 1, (5, 20))
    want, _ = MODEL.forward(FloatOps(), params, x, keep=False)
    first = _query(stores, x)
    assert np.abs(first.outputs[0] - want).max() < 2e-3
    assert stores.openings[0] is not None and stores.openings[0][0] == stores.openings[1][0]
    # the same opened F on both primaries; each keeps its own seed
    for k in ("0.W", "2.W"):
        assert np.array_equal(stores.openings[0][2][k], stores.openings[1][2][k])
    assert stores.openings[0][1] != stores.openings[1][1]
    opened = stores.openings[0][2]["0.W"]
    again = _query(stores, x[:1])
    assert np.abs(again.outputs[0] - want[:1]).max() < 2e-3
    assert stores.openings[0][2]["0.W"] is opened  # reused, not masked again
    # per query the weights cost nothing but the fingerprints: 32 bytes each way, 1 round
    (op,) = again.top("weights.open")
    assert op.rounds == 1
    assert op.bytes_per_link["p0->p1"] == 32 and op.bytes_per_link["p1->p0"] == 32
    assert op.bytes_per_link["p0->p2"] == 24 and op.bytes_per_link["p1->p2"] == 24
    (first_op,) = first.top("weights.open")
    n_weights = 20 * 16 + 16 * 4
    assert first_op.rounds == 2 and first_op.bytes_per_link["p0->p1"] == 32 + 8 * n_weights
    # a dense layer opens only its input: 8 bytes per input element each way, 1 round
    mm = again.top("weights.matmul")
    assert [m.rounds for m in mm] == [1, 1]
    assert [m.bytes_per_link["p0->p1"] for m in mm] == [8 * 20, 8 * 16]
    assert [m.bytes_per_link["p2->p1"] for m in mm] == [8 * 16, 8 * 4]
    assert "p2->p0" not in mm[0].bytes_per_link or mm[0].bytes_per_link["p2->p0"] == 0


def test_mismatched_openings_are_replaced_by_a_fresh_mask(rng):
    params = MODEL.init_params(4)
    stores = Stores(params)
    x = rng.normal(0, 1, (2, 20))
    want, _ = MODEL.forward(FloatOps(), params, x, keep=False)
    _query(stores, x)
    old = stores.openings[0]
    stores.openings[1] = None  # p1 lost its opening
    res = _query(stores, x)
    assert np.abs(res.outputs[0] - want).max() < 2e-3
    assert stores.openings[0][0] != old[0] and stores.openings[0][0] == stores.openings[1][0]
    assert not np.array_equal(stores.openings[0][2]["0.W"], old[2]["0.W"])  # a fresh mask, a fresh opening


def test_the_opening_is_uniform_whatever_the_weights():
    """F = W - B for W = 0 and for large W: both look uniform (top bits balanced)."""
    for value in (0.0, 1000.0):
        params = {k: np.full(v.shape, value) for k, v in MODEL.init_params(1).items()}
        stores = Stores(params)

        def program(ctx, stores=stores):
            return open_weights(ctx, stores.model(ctx), ["0.W"])

        run_local(program)
        f = stores.openings[0][2]["0.W"]
        top = (f >> np.uint64(63)).mean()
        assert 0.35 < top < 0.65


def test_fixed_matmul_matches_a_plain_product(rng):
    w = rng.normal(0, 1, (6, 3))
    x = rng.normal(0, 1, (4, 6))
    stores = Stores({"0.W": w})
    fxp = FixedPoint()
    x0, x1 = share(fxp.encode(x))

    def program(ctx):
        (op,) = open_weights(ctx, stores.model(ctx), ["0.W"]).values()
        xs = SharedTensor.like(ctx, {0: x0, 1: x1}.get(ctx.party), x.shape)
        return fixed_matmul(xs, op).reveal()

    res = run_local(program)
    assert np.abs(res.outputs[0] - x @ w).max() < 1e-3
