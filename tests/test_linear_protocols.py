"""Linear protocols and Beaver products against float64 numpy, with exact cost checks.

Every test runs on both transports (``run_any``: in-process threads and three processes over
CURVE ZeroMQ), so its programs are module-level functions taking their data as arguments.
"""

import numpy as np
import pytest

from spp_runtime.tensor import SharedTensor, matmul, mul, share_input, square

ULP = 2.0**-16


def _inputs(ctx, *arrays, owner=0):
    return [
        share_input(ctx, a if ctx.party == owner else None, owner, a.shape) for a in arrays
    ]


_PRODUCTS = {"mul": mul, "matmul": matmul}


def _product(ctx, name, x, y):
    a, b = _inputs(ctx, x, y)
    return _PRODUCTS[name](a, b).reveal()


def _square(ctx, x):
    (a,) = _inputs(ctx, x)
    return square(a).reveal()


def _share_and_reveal(ctx, x, owner):
    (t,) = _inputs(ctx, x, owner=owner)
    return t.reveal(), t.reveal(to=1)


@pytest.mark.parametrize("owner", [0, 1, 2])
def test_share_input_and_reveal(run_any, rng, owner):
    x = rng.normal(size=(3, 5)) * 100
    outs = run_any(_share_and_reveal, x, owner).outputs
    for p in (0, 1):
        assert np.max(np.abs(outs[p][0] - x)) <= ULP
    assert outs[0][1] is None and np.max(np.abs(outs[1][1] - x)) <= ULP
    assert outs[2] == (None, None)


def _local_ops(ctx, x, y, w):
    a, b = _inputs(ctx, x, y)
    out = {
        "add": a + b, "sub": a - b, "neg": -a, "addc": a + 2.5, "rsub": 1.0 - a,
        "muli": a * 3, "mulf": a * 0.375, "mulv": a * y, "pubmat": a @ w,
        "sum": a.sum(axis=0), "T": a.T, "idx": a[1:3, ::2], "resh": a.reshape(8, 3),
    }
    return {k: v.reveal() for k, v in out.items()}


def test_local_linear_ops_match_numpy(run_any, rng):
    x, y = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    w = rng.normal(size=(6, 3))
    run = run_any(_local_ops, x, y, w)
    assert {s.name for s in run.stats} == {"share_input", "reveal"}  # local ops cost nothing
    got = run.outputs[0]
    want = {
        "add": x + y, "sub": x - y, "neg": -x, "addc": x + 2.5, "rsub": 1.0 - x,
        "muli": x * 3, "mulf": x * 0.375, "mulv": x * y, "pubmat": x @ w,
        "sum": x.sum(axis=0), "T": x.T, "idx": x[1:3, ::2], "resh": x.reshape(8, 3),
    }
    for k in want:
        assert got[k].shape == want[k].shape, k
        assert np.max(np.abs(got[k] - want[k])) <= 8 * ULP, k


@pytest.mark.parametrize("shape_x, shape_y", [((5, 7), (5, 7)), ((4, 1), (1, 6)), ((3,), (3,))])
def test_mul_matches_numpy_and_states_cost(run_any, rng, shape_x, shape_y):
    x, y = rng.normal(size=shape_x) * 10, rng.normal(size=shape_y) * 10
    run = run_any(_product, "mul", x, y)
    z = x * y
    assert np.max(np.abs(run.outputs[0] - z)) <= 2 * ULP + 20 * ULP  # truncation + encoding
    (st,) = run.top("mul")
    nx, ny, nz = x.size, y.size, z.size
    assert st.rounds == 1
    assert st.bytes_per_link == {"p0->p1": 8 * (nx + ny), "p1->p0": 8 * (nx + ny), "p2->p1": 8 * nz}
    assert st.offline_bytes == 8 * nz


def test_square_matches_numpy_and_states_cost(run_any, rng):
    x = rng.normal(size=(6, 6)) * 30
    run = run_any(_square, x)
    assert np.max(np.abs(run.outputs[0] - x * x)) <= 64 * ULP
    (st,) = run.top("square")
    assert st.rounds == 1
    assert st.bytes_per_link == {"p0->p1": 8 * 36, "p1->p0": 8 * 36, "p2->p1": 8 * 36}


@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (8, 16, 4), (64, 16, 16), (3, 50, 1)])
def test_matmul_matches_numpy_and_states_cost(run_any, rng, m, k, n):
    x, y = rng.normal(size=(m, k)), rng.normal(size=(k, n))
    run = run_any(_product, "matmul", x, y)
    assert np.max(np.abs(run.outputs[0] - x @ y)) <= (k + 2) * ULP
    (st,) = run.top("matmul")
    assert st.rounds == 1
    assert st.bytes_per_link == {
        "p0->p1": 8 * (m * k + k * n), "p1->p0": 8 * (m * k + k * n), "p2->p1": 8 * m * n
    }


def _operators(ctx, x, y):
    a, b = _inputs(ctx, x, y)
    return (a * b).reveal(), (a @ b).reveal(), a.square().reveal()


def test_operators_dispatch_to_protocols(run_any, rng):
    x, y = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    run = run_any(_operators, x, y)
    names = [s.name for s in run.top()]
    assert names.count("mul") == 1 and names.count("matmul") == 1 and names.count("square") == 1
    got = run.outputs[1]
    assert np.allclose(got[0], x * y, atol=1e-3)
    assert np.allclose(got[1], x @ y, atol=1e-3)
    assert np.allclose(got[2], x * x, atol=1e-3)


def _scale(ctx, x):
    (a,) = _inputs(ctx, x)
    return (a * 0.5).reveal(), (a * 3).reveal()


def test_truncation_error_is_at_most_one_ulp(run_any, rng):
    x = rng.normal(size=10000) * 1000
    half, triple = run_any(_scale, x).outputs[0]
    assert np.max(np.abs(half - x * 0.5)) <= 1.5 * ULP
    assert np.max(np.abs(triple - x * 3)) <= 3 * ULP / 2 + 1e-12


def _share_and_repr(ctx, x):
    (a,) = _inputs(ctx, x)
    return a.share, repr(a)


def test_helper_holds_no_share(run_any, rng):
    x = rng.normal(size=(2, 2))
    outs = run_any(_share_and_repr, x).outputs
    assert outs[2][0] is None and outs[0][0] is not None
    assert "share" not in outs[0][1].split("(")[0].lower() or "shape=(2, 2)" in outs[0][1]


def _public(ctx, values):
    return SharedTensor.public(ctx, values).reveal()


def test_public_tensor_and_mismatched_contexts(run_any):
    assert np.array_equal(run_any(_public, np.array([1.5, -2.0])).outputs[1], [1.5, -2.0])
