"""Convolutional layers and the networks B, C, D on the three back ends (float64, fixed-point
emulation, secure), gradient checks, configs and the relu/maxpool reordering."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import inputs

from spp_runtime.engine.local import run_local
from spp_runtime.nn import (
    FixedOps,
    FloatOps,
    ModelConfigError,
    SecureOps,
    load_model_config,
    model_from_dict,
)
from spp_runtime.nn.conv_layers import AvgPool, Conv2d, Flatten
from spp_runtime.nn.layers import MaxPool, ReLU
from spp_runtime.nn.model import load_params, save_params
from spp_runtime.nn.runner import Hyper, train_plain, train_secure_local
from spp_runtime.nn.train import onehot
from spp_runtime.protocols.conv import ConvGeometry

CONFIGS = "spp_runtime/configs/models"


def _layer_secure(layer, x, dy, params):
    def prog(ctx):
        ops = SecureOps(ctx)
        sx, sdy, *sp = inputs(ctx, x, dy, *params.values())
        p = dict(zip(params, sp))
        y, cache = layer.forward(ops, p, sx)
        dx, g = layer.backward(ops, p, cache, sdy, need_dx=True, step=0.5)
        return y.reveal(), dx.reveal(), {k: v.reveal() for k, v in g.items()}

    return run_local(prog, timeout=60.0).outputs[0]


def _layer_fixed(layer, x, dy, params):
    ops = FixedOps()
    p = {k: ops.encode(v) for k, v in params.items()}
    y, cache = layer.forward(ops, p, ops.encode(x))
    dx, g = layer.backward(ops, p, cache, ops.encode(dy), need_dx=True, step=0.5)
    return ops.decode(y), ops.decode(dx), {k: ops.decode(v) for k, v in g.items()}


LAYERS = [
    Conv2d(ConvGeometry(2, 3, 8, 8, (3, 3))),
    Conv2d(ConvGeometry(1, 5, 9, 9, (5, 5), (2, 2), "same")),
    Conv2d(ConvGeometry(2, 2, 6, 6, (3, 3), padding=(1, 1, 0, 2)), bias=False),
    AvgPool(3, 4, 6, 2),
    Flatten(),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda l: f"{type(l).__name__}")
def test_layers_agree_on_the_three_back_ends(rng, layer):
    n_in = layer.n_in if isinstance(layer, Conv2d) else 72
    n_out = layer.n_out if isinstance(layer, (Conv2d, AvgPool)) else n_in
    x = rng.uniform(-2, 2, (3, n_in))
    dy = rng.uniform(-1, 1, (3, n_out))
    params = layer.init(rng, "relu") if isinstance(layer, Conv2d) else {}
    if "b" in params:
        params["b"] = rng.uniform(-1, 1, params["b"].shape)
    fy, cache = layer.forward(FloatOps(), params, x)
    fdx, fg = layer.backward(FloatOps(), params, cache, dy, need_dx=True, step=0.5)
    assert fy.shape == (3, n_out) and fdx.shape == x.shape
    sy, sdx, sg = _layer_secure(layer, x, dy, params)
    xy, xdx, xg = _layer_fixed(layer, x, dy, params)
    for got, want, tol in [(sy, fy, 2e-3), (sdx, fdx, 2e-3), (xy, fy, 2e-3), (xdx, fdx, 2e-3)]:
        assert np.max(np.abs(got - want)) <= tol
    assert np.max(np.abs(sy - xy)) <= 2**-15 and np.max(np.abs(sdx - xdx)) <= 2**-15  # +-1 ulp truncation
    assert set(sg) == set(fg) == set(xg)
    for k in fg:
        assert np.max(np.abs(sg[k] - fg[k])) <= 4e-3 and np.max(np.abs(xg[k] - fg[k])) <= 4e-3


def test_avgpool_layer_is_the_window_mean(rng):
    layer = AvgPool(2, 4, 4, 2)
    x = rng.normal(size=(2, 32))
    y, _ = layer.forward(FloatOps(), {}, x)
    assert np.allclose(y, x.reshape(2, 2, 2, 2, 2, 2).mean(axis=(3, 5)).reshape(2, 8))


@pytest.mark.parametrize("name", ["mnist_b", "mnist_c", "mnist_d"])
def test_conv_model_gradient_is_the_numerical_gradient(rng, name):
    """The float64 backward pass (conv input and weight gradients included) against central
    differences of the cross-entropy loss, on the real architectures."""
    model = load_model_config(f"{CONFIGS}/{name}.toml")
    ops = FloatOps()
    p = model.init_params(3)
    for k in p:
        if k.endswith(".b"):
            p[k] = rng.uniform(-0.1, 0.1, p[k].shape)
    x, y = rng.uniform(0, 1, (2, 784)), onehot(rng.integers(0, 10, 2), 10)

    def loss(q):
        z, _ = model.forward(ops, q, x)
        return -np.sum(y * np.log(ops.softmax(z)))

    z, caches = model.forward(ops, p, x)
    grads = model.backward(ops, p, caches, ops.softmax(z) - y)
    assert set(grads) == set(p)
    h = 1e-5
    for k in p:
        flat = np.argsort(-np.abs(grads[k]).reshape(-1))[:3]  # the largest entries, never all zero
        for j in flat:
            idx = np.unravel_index(j, p[k].shape)
            up, dn = {**p, k: p[k].copy()}, {**p, k: p[k].copy()}
            up[k][idx] += h
            dn[k][idx] -= h
            num = (loss(up) - loss(dn)) / (2 * h)
            assert abs(num - grads[k][idx]) <= 1e-5 + 1e-4 * abs(num), (k, idx)


def _mnist(n: int):
    from spp_runtime.data.mnist import default_mnist_dir, load_mnist

    tr = load_mnist(default_mnist_dir(), "train", limit=n)
    return tr.images.reshape(n, -1), onehot(tr.labels, 10)


@pytest.mark.parametrize("name", ["mnist_b", "mnist_c", "mnist_d"])
def test_conv_models_train_alike_on_the_three_back_ends(rng, name):
    """SGD steps of each network: secure follows the fixed-point emulation up to the +-1 ulp
    truncations, and both follow float64. Biases start away from zero: with zero biases a
    blank image region gives convolution outputs of exactly 0, where ReLU's derivative is a
    tie that one ulp of truncation decides either way, for whole regions at once."""
    model = load_model_config(f"{CONFIGS}/{name}.toml")
    x, y = _mnist(48)
    hyper = Hyper.of(model, epochs=1, batch_size=24, lr=0.05)
    p0 = model.init_params(7)
    p0.update({k: rng.uniform(0.02, 0.1, v.shape) for k, v in p0.items() if k.endswith(".b")})
    secure = train_secure_local(model, x, y, p0, hyper, timeout=900.0)
    fixed = train_plain(model, x, y, p0, hyper, fixed=True)
    flt = train_plain(model, x, y, p0, hyper)
    for k in p0:
        # relative distances of the whole update: a ReLU whose input lies within the fixed-point
        # error of 0 (about 1e-4) can flip in any of the runs, changing one unit's gradient
        # (measured: up to ~10% of a 100-entry bias update; typically below 1%)
        moved = np.linalg.norm(flt.params[k] - p0[k])
        assert moved > 1e-3, k  # training changed the weights ...
        assert np.linalg.norm(secure.params[k] - fixed.params[k]) <= 0.2 * moved, k  # ... the same way
        assert np.linalg.norm(fixed.params[k] - flt.params[k]) <= 0.2 * moved, k

    def scores(params):
        return model.forward(FloatOps(), params, x)[0]

    s_sec, s_flt, s_0 = scores(secure.params), scores(flt.params), scores(p0)
    assert np.linalg.norm(s_sec - s_flt) <= 0.02 * np.linalg.norm(s_flt - s_0)  # the scores moved alike


def test_conv_configs_shapes_and_errors(tmp_path):
    shapes = {
        "mnist_b": [(16, 1, 5, 5), (16,), (16, 16, 5, 5), (16,), (256, 100), (100,), (100, 10), (10,)],
        "mnist_c": [(20, 1, 5, 5), (20,), (50, 20, 5, 5), (50,), (800, 500), (500,), (500, 10), (10,)],
        "mnist_d": [(5, 1, 5, 5), (5,), (980, 100), (100,), (100, 10), (10,)],
    }
    for name, want in shapes.items():
        m = load_model_config(f"{CONFIGS}/{name}.toml")
        assert (m.inputs, m.outputs, m.input_shape) == (784, 10, (1, 28, 28))
        assert [v.shape for v in m.init_params(1).values()] == want
        assert model_from_dict(m.to_dict()) == m
    base = {"inputs": [1, 8, 8], "layers": [{"type": "dense", "units": 2}]}
    with pytest.raises(ModelConfigError, match="layer 1 \\(conv2d\\) needs an image input"):
        model_from_dict({**base, "layers": [{"type": "dense", "units": 4}, {"type": "conv2d", "filters": 2}, base["layers"][0]]})
    with pytest.raises(ModelConfigError, match="layer 0 \\(conv2d\\): padding 'full'"):
        model_from_dict({**base, "layers": [{"type": "conv2d", "filters": 2, "padding": "full"}, base["layers"][0]]})
    with pytest.raises(ModelConfigError, match="layer 0 \\(conv2d\\): kernel 9x9 does not fit"):
        model_from_dict({**base, "layers": [{"type": "conv2d", "filters": 2, "kernel": 9}, base["layers"][0]]})
    with pytest.raises(ModelConfigError, match="image shape"):  # [steps, features] is a sequence input
        model_from_dict({**base, "inputs": [1, 8, 8, 1]})
    m = load_model_config(f"{CONFIGS}/mnist_d.toml")
    save_params(tmp_path / "d.npz", m, m.init_params(2))
    m2, p2, _ = load_params(tmp_path / "d.npz")
    assert m2 == m and set(p2) == set(m.param_names())


def test_relu_before_maxpool_is_moved_after_it_and_the_summary_says_so():
    cfg = {"inputs": [1, 8, 8], "layers": [
        {"type": "conv2d", "filters": 2, "kernel": 3}, {"type": "relu"}, {"type": "maxpool"},
        {"type": "flatten"}, {"type": "dense", "units": 3}]}
    m = model_from_dict(cfg)
    assert [type(l) for l in m.layers[:3]] == [Conv2d, MaxPool, ReLU]
    assert isinstance(m.layers[1], MaxPool) and (m.layers[1].channels, m.layers[1].height) == (2, 6)
    text = "\n".join(m.summary())
    assert "maxpool runs first" in text and "1/4 of the elements" in text
    # the same function: max over windows of relu(x) equals relu of the window max
    x = np.random.default_rng(0).normal(size=(4, 64))
    p = m.init_params(0)
    as_written = x
    for layer in (m.layers[0], ReLU(), m.layers[1]):
        as_written, _ = layer.forward(FloatOps(), {k[2:]: v for k, v in p.items() if k.startswith("0.")}, as_written)
    reordered, _ = m.forward(FloatOps(), p, x)
    z_written = as_written @ p["4.W"] + p["4.b"]
    assert np.allclose(reordered, z_written)
