"""spp_runtime.nn: layers on shares against float64 numpy, secure training against the
fixed-point emulation, model configs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import inputs

from spp_runtime.data.mnist import default_mnist_dir, load_mnist
from spp_runtime.engine.local import run_local
from spp_runtime.nn import FloatOps, ModelConfigError, SecureOps, load_model_config, model_from_dict
from spp_runtime.nn.layers import Dense, MaxPool, ReLU, Sigmoid, Tanh
from spp_runtime.nn.model import load_params, save_params
from spp_runtime.nn.runner import Hyper, train_plain, train_secure_local
from spp_runtime.nn.train import batch_order, onehot

CONFIGS = "spp_runtime/configs/models"


def _layer_roundtrip(layer, x, dy, params):
    """(y, dx, grads) of one layer's forward and backward on shares, revealed."""

    def prog(ctx):
        ops = SecureOps(ctx)
        sx, sdy, *sp = inputs(ctx, x, dy, *params.values())
        p = dict(zip(params, sp))
        y, cache = layer.forward(ops, p, sx)
        dx, g = layer.backward(ops, p, cache, sdy, need_dx=True)
        return y.reveal(), dx.reveal(), {k: v.reveal() for k, v in g.items()}

    return run_local(prog).outputs[0]


@pytest.mark.parametrize("layer", [ReLU(), Sigmoid(), Tanh(), Dense(12, 5), MaxPool(2, 4, 4, 2)], ids=lambda l: type(l).__name__)
def test_layer_forward_backward_match_float64(rng, layer):
    n_in = layer.n_in if isinstance(layer, Dense) else 32
    n_out = layer.n_out if isinstance(layer, (Dense, MaxPool)) else n_in
    x = rng.uniform(-4, 4, (6, n_in))
    dy = rng.uniform(-1, 1, (6, n_out))
    params = layer.init(rng, "relu") if isinstance(layer, Dense) else {}
    if params:
        params["b"] = rng.uniform(-1, 1, params["b"].shape)
    y, dx, grads = _layer_roundtrip(layer, x, dy, params)
    fy, cache = layer.forward(FloatOps(), params, x)
    fdx, fgrads = layer.backward(FloatOps(), params, cache, dy, need_dx=True)
    assert np.max(np.abs(y - fy)) <= 2e-3
    assert np.max(np.abs(dx - fdx)) <= 3e-3
    for k in fgrads:
        assert np.max(np.abs(grads[k] - fgrads[k])) <= 3e-3


def test_float_backward_is_the_gradient_of_cross_entropy(rng):
    model = load_model_config(f"{CONFIGS}/mnist_a_tanh.toml")
    model = dataclasses.replace(model, layers=(Dense(20, 8), Tanh(), Dense(8, 3)), inputs=20)
    ops = FloatOps()
    p = model.init_params(3)
    x, y = rng.uniform(-1, 1, (7, 20)), onehot(rng.integers(0, 3, 7), 3)

    def loss(q):
        z, _ = model.forward(ops, q, x)
        return -np.sum(y * np.log(ops.softmax(z)))

    z, caches = model.forward(ops, p, x)
    grads = model.backward(ops, p, caches, ops.softmax(z) - y)
    for k in p:
        idx = tuple(1 for _ in p[k].shape)
        bumped = {**p, k: p[k].copy()}
        bumped[k][idx] += 1e-6
        assert abs((loss(bumped) - loss(p)) / 1e-6 - grads[k][idx]) <= 1e-4


def _mnist(n: int):
    tr = load_mnist(default_mnist_dir(), "train", limit=n)
    return tr.images.reshape(n, -1), onehot(tr.labels, 10)


@pytest.mark.parametrize("config,output", [("mnist_a.toml", "softmax"), ("mnist_a_sigmoid.toml", "relu_grad")])
def test_secure_training_follows_the_fixed_point_emulation(config, output):
    model = dataclasses.replace(load_model_config(f"{CONFIGS}/{config}"), output=output)
    x, y = _mnist(256)
    hyper = Hyper.of(model, epochs=1, batch_size=64)
    p0 = model.init_params(7)
    secure = train_secure_local(model, x, y, p0, hyper)
    fixed = train_plain(model, x, y, p0, hyper, fixed=True)
    flt = train_plain(model, x, y, p0, hyper)
    for k in p0:
        moved = np.max(np.abs(flt.params[k] - p0[k]))
        assert moved > 1e-3  # training changed the weights ...
        assert np.max(np.abs(secure.params[k] - fixed.params[k])) <= 0.05 * moved + 2e-3  # ... the same way

    def loss(params):
        z, _ = model.forward(FloatOps(), params, x)
        return -np.mean(np.sum(y * np.log(FloatOps().softmax(z) + 1e-12), axis=1))

    assert loss(secure.params) < loss(p0) - 0.03  # the loss went down
    assert abs(loss(secure.params) - loss(flt.params)) <= 0.02  # as far as in float64


def test_secure_accuracy_count_opens_only_the_count(rng):
    scores = rng.normal(size=(50, 10))
    labels = rng.integers(0, 10, 50)
    y = onehot(labels, 10)

    def prog(ctx):
        s, t = inputs(ctx, scores, y)
        return SecureOps(ctx).count_correct(s, t)

    run = run_local(prog)
    assert run.outputs[0] == run.outputs[1] == int(np.sum(scores.argmax(1) == labels))
    assert run.outputs[2] is None


def test_batch_order_is_a_seeded_permutation():
    a = batch_order(1000, 128, seed=1, epoch=0)
    assert [len(b) for b in a] == [128] * 7 + [104]
    assert sorted(np.concatenate(a)) == list(range(1000))
    assert all(np.array_equal(u, v) for u, v in zip(a, batch_order(1000, 128, 1, 0)))
    assert not np.array_equal(a[0], batch_order(1000, 128, 1, 1)[0])


def test_model_configs_load_and_bad_ones_say_what_is_wrong(tmp_path):
    for name, hidden in [("mnist_a", "ReLU"), ("mnist_a_sigmoid", "Sigmoid"), ("mnist_a_tanh", "Tanh")]:
        m = load_model_config(f"{CONFIGS}/{name}.toml")
        assert (m.inputs, m.outputs, type(m.layers[1]).__name__) == (784, 10, hidden)
        assert [p.shape for p in m.init_params(1).values()] == [(784, 128), (128,), (128, 128), (128,), (128, 10), (10,)]
    assert load_model_config(f"{CONFIGS}/mnist_1layer.toml").param_names() == ["0.W", "0.b"]
    base = {"inputs": 4, "layers": [{"type": "dense", "units": 2}]}
    with pytest.raises(ModelConfigError, match="layer 0 has unknown type 'conv'"):
        model_from_dict({**base, "layers": [{"type": "conv"}]})
    with pytest.raises(ModelConfigError, match="last layer must be dense"):
        model_from_dict({**base, "layers": [{"type": "dense", "units": 2}, {"type": "relu"}]})
    with pytest.raises(ModelConfigError, match="output 'max'"):
        model_from_dict({**base, "output": "max"})
    with pytest.raises(ModelConfigError, match="missing key 'inputs'"):
        model_from_dict({"layers": []})
    with pytest.raises(ModelConfigError, match=r"\[train\] lr must be a finite number in \(0, 1e\+06\], got -1"):
        model_from_dict({**base, "train": {"lr": -1}})
    bad_values = [
        ({**base, "inputs": float("inf")}, "inputs must be an integer"),
        ({**base, "inputs": float("nan")}, "inputs must be an integer"),
        ({**base, "inputs": 0}, "inputs must be an integer in"),
        ({**base, "inputs": "784"}, "inputs must be an integer"),
        ({**base, "inputs": True}, "inputs must be an integer"),
        ({**base, "layers": [{"type": "dense", "units": 2.5}]}, r"layer 0 \(dense\) units must be an integer"),
        ({**base, "layers": [{"type": "dense", "units": -3}]}, r"layer 0 \(dense\) units must be an integer"),
        ({**base, "layers": "dense"}, "needs a list of 1-256 layers"),
        ({**base, "name": ["x"]}, "name must be a string"),
        ({**base, "train": {"lr": float("nan")}}, "lr must be a finite number"),
        ({**base, "train": {"lr": float("inf")}}, "lr must be a finite number"),
        ({**base, "train": {"momentum": 1.0}}, "momentum must be a finite number in \\[0, 1\\)"),
        ({**base, "train": {"batch_size": 0}}, "batch_size must be an integer"),
        ({**base, "train": {"batch_size": 1.5}}, "batch_size must be an integer"),
        ({**base, "train": {"epochs": -1}}, "epochs must be an integer"),
        ({**base, "train": {"seed": -1}}, "seed must be an integer"),
        ({**base, "train": [1]}, r"\[train\] must be a table"),
    ]
    for cfg, message in bad_values:
        with pytest.raises(ModelConfigError, match=message):
            model_from_dict(cfg)
    # huge but valid sizes: the shapes are computed, nothing is allocated
    huge = model_from_dict({"inputs": 10**7, "layers": [{"type": "dense", "units": 10**7}]})
    assert huge.param_shapes() == {"0.W": (10**7, 10**7), "0.b": (10**7,)} and huge.widths() == [10**7, 10**7]
    m = load_model_config(f"{CONFIGS}/mnist_a.toml")
    assert m.param_shapes() == {k: v.shape for k, v in m.init_params(3).items()}
    bad = tmp_path / "bad.toml"
    bad.write_text("inputs = [")
    with pytest.raises(ModelConfigError, match="not valid TOML"):
        load_model_config(bad)


def test_saved_model_round_trips(tmp_path, rng):
    cfg = {"name": "t", "inputs": 3, "layers": [{"type": "dense", "units": 2}]}
    m = model_from_dict(cfg)
    p = m.init_params(1)
    save_params(tmp_path / "m.npz", m, p, epochs=2)
    m2, p2, meta = load_params(tmp_path / "m.npz")
    assert m2 == m and meta == {"epochs": 2}
    assert all(np.array_equal(p[k], p2[k]) for k in p)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelConfigError, match="not a model written by spp train"):
        load_params(tmp_path / "junk.npz")
