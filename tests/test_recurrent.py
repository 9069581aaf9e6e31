"""spp_runtime.nn.recurrent: LSTM, GRU and RNN layers in float64 (against numerical
gradients), in the fixed-point emulation and on shares (against float64), their costs per
step, gradient clipping, and the sequence model configs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from helpers import inputs
from spp_runtime.engine.local import run_local
from spp_runtime.nn import FixedOps, FloatOps, ModelConfigError, SecureOps, load_model_config, model_from_dict
from spp_runtime.nn.recurrent import GRU, LSTM, RNN
from spp_runtime.nn.runner import Hyper, secure_train_program, train_plain, train_secure_local
from spp_runtime.nn.study_recurrent import _train_curve
from spp_runtime.nn.train import onehot
from spp_runtime.protocols import activations

CONFIGS = "configs/models"
LAYERS = [LSTM(3, 4, 5), LSTM(3, 4, 5, True, fused=False), GRU(3, 4, 5), GRU(3, 4, 5, True),
          RNN(3, 4, 5), RNN(3, 4, 5, True, activation="relu")]
IDS = ["lstm", "lstm_all_unfused", "gru", "gru_all", "rnn_tanh", "rnn_relu_all"]


def _params(layer, rng):
    p = layer.init(rng)
    p["W"] = p["W"] * 2.0  # larger weights: the gates leave their linear range
    return p


def _loss(layer, p, x, dy):
    y, _ = layer.forward(FloatOps(), p, x)
    return float(np.sum(y * dy))


@pytest.mark.parametrize("layer", LAYERS, ids=IDS)
def test_bptt_matches_numerical_gradients(rng, layer):
    x = rng.uniform(-1, 1, (4, layer.steps * layer.n_in))
    dy = rng.uniform(-1, 1, (4, layer.n_out))
    p = _params(layer, rng)
    ops = FloatOps()
    y, cache = layer.forward(ops, p, x)
    dx, g = layer.backward(ops, p, cache, dy, need_dx=True)
    eps = 1e-6
    for name, value in [("x", x), *p.items()]:
        grad = dx if name == "x" else g[name]
        assert grad.shape == value.shape
        num = np.zeros(value.size)
        for j in range(value.size):  # central differences, every entry
            bump = np.zeros(value.size)
            bump[j] = eps
            bump = bump.reshape(value.shape)
            if name == "x":
                num[j] = (_loss(layer, p, x + bump, dy) - _loss(layer, p, x - bump, dy)) / (2 * eps)
            else:
                num[j] = (_loss(layer, {**p, name: value + bump}, x, dy) - _loss(layer, {**p, name: value - bump}, x, dy)) / (2 * eps)
        if layer.kind == "rnn" and getattr(layer, "activation", "") == "relu":
            tol = 1e-5  # kinks: inputs are far from 0 with probability ~1
        else:
            tol = 1e-6
        assert np.max(np.abs(num.reshape(value.shape) - grad)) <= tol * max(1.0, np.max(np.abs(grad))), name


def test_lstm_matches_the_textbook_cell(rng):
    """The fused gates (tanh as 2 sigmoid(2x) - 1) give the textbook LSTM in float64."""
    layer = LSTM(3, 4, 5)
    p = _params(layer, rng)
    x = rng.uniform(-1, 1, (2, 15))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h = c = np.zeros((2, 4))
    for t in range(5):
        a = np.concatenate([x[:, 3 * t : 3 * t + 3], h], 1) @ p["W"] + p["b"]
        i, f, o, g = sig(a[:, :4]), sig(a[:, 4:8]), sig(a[:, 8:12]), np.tanh(a[:, 12:])
        c = f * c + i * g
        h = o * np.tanh(c)
    y, _ = layer.forward(FloatOps(), p, x)
    assert np.max(np.abs(y - h)) <= 1e-12


def _secure_roundtrip(layer, x, dy, params):
    def prog(ctx):
        ops = SecureOps(ctx)
        sx, sdy, *sp = inputs(ctx, x, dy, *params.values())
        p = dict(zip(params, sp))
        with ctx.record("forward"):
            y, cache = layer.forward(ops, p, sx)
        with ctx.record("backward"):
            dx, g = layer.backward(ops, p, cache, sdy, need_dx=True)
        return y.reveal(), dx.reveal(), {k: v.reveal() for k, v in g.items()}

    return run_local(prog, timeout=120.0)


@pytest.mark.parametrize("layer", LAYERS, ids=IDS)
def test_float_fixed_and_secure_agree(rng, layer):
    x = rng.uniform(-1, 1, (3, layer.steps * layer.n_in))
    dy = rng.uniform(-1, 1, (3, layer.n_out))
    p = _params(layer, rng)
    fy, fc = layer.forward(FloatOps(), p, x)
    fdx, fg = layer.backward(FloatOps(), p, fc, dy, need_dx=True)
    fx = FixedOps()
    ey, ec = layer.forward(fx, {k: fx.encode(v) for k, v in p.items()}, fx.encode(x))
    edx, eg = layer.backward(fx, {k: fx.encode(v) for k, v in p.items()}, ec, fx.encode(dy), need_dx=True)
    run = _secure_roundtrip(layer, x, dy, p)
    sy, sdx, sg = run.outputs[0]
    for got_fixed, got_secure, want in [(ey, sy, fy), (edx, sdx, fdx), *((eg[k], sg[k], fg[k]) for k in fg)]:
        emu = fx.decode(got_fixed)
        assert np.max(np.abs(emu - want)) <= 5e-3  # the approximations' error, carried through
        assert np.max(np.abs(got_secure - emu)) <= 2e-3  # secure = emulation up to truncation
        assert np.max(np.abs(got_secure - want)) <= 6e-3


def _rounds_and_bytes(layer, B):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (B, layer.steps * layer.n_in))
    dy = rng.uniform(-1, 1, (B, layer.n_out))
    run = _secure_roundtrip(layer, x, dy, layer.init(rng))
    (fwd,), (back,) = run.top("forward"), run.top("backward")
    return fwd, back


def _activation_rounds() -> tuple[int, int]:
    """Rounds of one sigmoid and one tanh call, as the protocols cost them today."""
    from_x = np.linspace(-2, 2, 8)

    def prog(ctx):
        sx = inputs(ctx, from_x)
        with ctx.record("sigmoid_call"):
            activations.sigmoid(sx)
        with ctx.record("tanh_call"):
            activations.tanh(sx)

    run = run_local(prog)
    return run.top("sigmoid_call")[0].rounds, run.top("tanh_call")[0].rounds


@pytest.mark.parametrize("layer,base,sigmoids,tanhs",
                         [(LSTM(3, 4, 1), 3, 1, 1), (LSTM(3, 4, 1, fused=False), 3, 1, 2),
                          (GRU(3, 4, 1), 3, 1, 1), (RNN(3, 4, 1), 1, 0, 1)],
                         ids=["lstm", "lstm_unfused", "gru", "rnn"])
def test_one_step_costs(layer, base, sigmoids, tanhs):
    """One step forward: the products (LSTM/GRU 3 rounds: the stacked product, the cell or
    reset product, the output product; RNN 1) and one sigmoid call for all gates (the fused
    LSTM's candidate inside it) and the tanh calls; nothing else adds a round."""
    s_rounds, t_rounds = _activation_rounds()
    fwd_rounds = base + sigmoids * s_rounds + tanhs * t_rounds
    f1, b1 = _rounds_and_bytes(layer, 2)
    f2, b2 = _rounds_and_bytes(layer, 4)
    assert f1.rounds == f2.rounds == fwd_rounds
    # backward of one step: squares (1), the step-independent products (1), the step's
    # products (LSTM/GRU 2, RNN 1); no hidden-state product at t = 0 except for dx (1)
    want_back = {"lstm": 5, "gru": 5, "rnn": 3}[layer.kind] + 1
    assert b1.rounds == b2.rounds == want_back
    assert f2.bytes_total > f1.bytes_total


def test_fused_lstm_costs_less_than_separate_tanh():
    fused, _ = _rounds_and_bytes(LSTM(3, 8, 1), 8)
    plain, _ = _rounds_and_bytes(LSTM(3, 8, 1, fused=False), 8)
    saved = plain.bytes_total - fused.bytes_total
    assert saved == (239 - 223) * 8 * 8  # per candidate element: tanh 239 B, sigmoid 223 B


def test_clip_on_shares_and_in_emulation(rng):
    x = rng.uniform(-3, 3, (50,))

    def prog(ctx):
        sx = inputs(ctx, x)
        with ctx.record("clip"):
            y = SecureOps(ctx).clip(sx, 1.25)
        return y.reveal()

    run = run_local(prog)
    want = np.clip(x, -1.25, 1.25)
    assert np.max(np.abs(run.outputs[0] - want)) <= 2e-4
    fx = FixedOps()
    assert np.max(np.abs(fx.decode(fx.clip(fx.encode(x), 1.25)) - want)) <= 2e-5
    (st,) = run.top("clip")
    assert st.rounds == 4  # a 3-round sign bit and the select on its own opening
    assert st.bytes_total <= 2 * 81 * x.size  # two ReLUs of 80.375 B per element (packed bits round up)


@pytest.mark.parametrize("name", ["mnist_lstm", "mnist_gru", "mnist_rnn_tanh", "mnist_rnn_relu"])
def test_sequence_configs_load_and_round_trip(name):
    model = load_model_config(f"{CONFIGS}/{name}.toml")
    assert model.input_shape == (28, 28) and model.inputs == 784 and model.outputs == 10
    assert model_from_dict(model.to_dict()) == model
    p = model.init_params(1)
    assert set(p) == set(model.param_names())
    y, _ = model.forward(FloatOps(), p, np.zeros((2, 784)))
    assert y.shape == (2, 10)


def test_bad_sequence_configs_say_what_is_wrong():
    base = {"inputs": [28, 28], "layers": [{"type": "lstm", "units": 8}, {"type": "dense", "units": 10}]}
    model_from_dict(base)
    with pytest.raises(ModelConfigError, match="sequence input"):
        model_from_dict({**base, "inputs": 784})
    with pytest.raises(ModelConfigError, match="return"):
        model_from_dict({**base, "layers": [{"type": "gru", "units": 8, "return": "some"}, {"type": "dense", "units": 10}]})
    with pytest.raises(ModelConfigError, match="activation"):
        model_from_dict({**base, "layers": [{"type": "rnn", "units": 8, "activation": "sigmoid"}, {"type": "dense", "units": 10}]})
    with pytest.raises(ModelConfigError, match="steps, features"):
        model_from_dict({**base, "inputs": [28, 0]})
    stacked = model_from_dict({**base, "layers": [{"type": "gru", "units": 8, "return": "all"},
                                                  {"type": "lstm", "units": 6}, {"type": "dense", "units": 10}]})
    assert stacked.layers[1].n_in == 8 and stacked.outputs == 10


def test_secure_lstm_training_follows_the_emulation(rng):
    """A few secure SGD steps (momentum, clipping) of a small LSTM classifier move the weights
    as the fixed-point emulation does, and lower the loss as far as float64."""
    model = model_from_dict({"name": "tiny", "inputs": [4, 6],
                             "layers": [{"type": "lstm", "units": 8}, {"type": "dense", "units": 3}],
                             "train": {"lr": 0.5, "momentum": 0.9, "batch_size": 16, "epochs": 2, "seed": 3, "clip": 0.5}})
    x = rng.uniform(0, 1, (48, 24))
    labels = (x[:, :6].sum(1) > x[:, -6:].sum(1)).astype(int) + (x[:, 12:18].mean(1) > 0.6)
    y = onehot(labels, 3)
    hyper = Hyper.of(model)
    assert hyper.clip == 0.5
    p0 = model.init_params(5)
    secure = train_secure_local(model, x, y, p0, hyper, timeout=300.0)
    fixed = train_plain(model, x, y, p0, hyper, fixed=True)
    flt = train_plain(model, x, y, p0, hyper)

    def loss(params):
        z, _ = model.forward(FloatOps(), params, x)
        return -np.mean(np.sum(y * np.log(FloatOps().softmax(z) + 1e-12), axis=1))

    for k in p0:
        moved = np.max(np.abs(flt.params[k] - p0[k]))
        assert moved > 1e-2
        assert np.max(np.abs(secure.params[k] - fixed.params[k])) <= 0.05 * moved + 2e-3
    assert loss(secure.params) < loss(p0) - 0.05
    assert abs(loss(secure.params) - loss(flt.params)) <= 0.02


def test_clipping_bounds_every_update(rng):
    """With clip c, no weight moves by more than lr * c per step (no momentum)."""
    model = model_from_dict({"inputs": [3, 2], "layers": [{"type": "rnn", "units": 4, "activation": "relu"},
                                                          {"type": "dense", "units": 2}]})
    x, y = rng.uniform(-50, 50, (8, 6)), onehot(rng.integers(0, 2, 8), 2)
    p0 = model.init_params(1)
    hyper = Hyper(lr=0.1, momentum=0.0, batch_size=8, epochs=1, seed=1, clip=0.01)
    run = train_plain(model, x, y, p0, hyper)
    free = train_plain(model, x, y, p0, dataclasses.replace(hyper, clip=0.0))
    assert max(np.max(np.abs(run.params[k] - p0[k])) for k in p0) <= 0.1 * 0.01 + 1e-12
    assert max(np.max(np.abs(free.params[k] - p0[k])) for k in p0) > 0.1 * 0.01 * 10


def test_checkpoints_resume_where_the_run_stopped(tmp_path, rng):
    """Each party's share files after epoch 1 restart training at epoch 2 with the same
    result as an uninterrupted run (up to the local truncation's last-bit noise)."""
    model = model_from_dict({"inputs": [3, 4], "layers": [{"type": "gru", "units": 5}, {"type": "dense", "units": 2}],
                             "train": {"lr": 0.3, "momentum": 0.9, "batch_size": 8, "epochs": 2, "seed": 2}})
    x, y = rng.uniform(0, 1, (24, 12)), onehot(rng.integers(0, 2, 24), 2)
    p0 = model.init_params(1)
    hyper = Hyper.of(model)

    def train(ctx, h, directory, resume):
        return secure_train_program(ctx, model, x, y, p0, h, None, None, directory, resume)

    full = run_local(lambda ctx: train(ctx, hyper, str(tmp_path / "a"), 0), timeout=120.0).outputs[0][0]
    run_local(lambda ctx: train(ctx, dataclasses.replace(hyper, epochs=1), str(tmp_path / "b"), 0), timeout=120.0)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["party0_epoch1.npz", "party1_epoch1.npz"]
    resumed = run_local(lambda ctx: train(ctx, hyper, str(tmp_path / "b"), 1), timeout=120.0).outputs[0][0]
    flt = train_plain(model, x, y, p0, hyper)
    for k in p0:
        moved = np.max(np.abs(flt.params[k] - p0[k]))
        assert moved > 1e-2
        assert np.max(np.abs(resumed[k] - full[k])) <= 0.02 * moved + 1e-3


def test_study_curves_record_every_step(rng):
    model = model_from_dict({"name": "t", "inputs": [4, 6], "layers": [{"type": "rnn", "units": 6}, {"type": "dense", "units": 3}],
                             "train": {"lr": 0.2, "momentum": 0.9, "batch_size": 10, "epochs": 2, "seed": 4}})
    x = rng.uniform(0, 1, (40, 24))
    data, test = (x, onehot((x[:, :6].sum(1) > 3).astype(int), 3)), (x[:20], onehot((x[:20, :6].sum(1) > 3).astype(int), 3))
    p0 = model.init_params(4)
    f = _train_curve(model, "float64", p0, data, test, Hyper.of(model))
    e = _train_curve(model, "emulation", p0, data, test, Hyper.of(model))
    assert len(f.grad_norm) == len(f.loss) == 8 and len(f.test_acc) == 2
    assert np.allclose(f.grad_norm, e.grad_norm, rtol=0.02, atol=1e-3)
    assert f.loss[-1] < f.loss[0]
