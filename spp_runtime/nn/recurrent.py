"""Recurrent layers over a sequence: LSTM, GRU and a plain RNN (tanh or ReLU), on any
:class:`~.ops.Ops` back end, with backpropagation through time.

Inputs are flat rows of ``steps * n_in`` values (a row-sequential MNIST image is 28 steps of
28 pixels); the output is the last hidden state (B, hidden) or, with ``sequences``, all of
them as (B, steps * hidden). Parameters: one stacked matrix ``W`` of shape
(n_in + hidden, G * hidden) and a bias of G * hidden (G = 4 for LSTM and GRU, 1 for RNN).

Per step, every gate comes from ONE product ``[x_t, h_{t-1}] @ W`` (1 round) and, where the
recurrence allows it, ONE activation call:

- LSTM (gate blocks i, f, o, g): ``c = f*c + i*g``, ``h = o * tanh(c)``. With ``fused`` (the
  default) the candidate's tanh comes from the same sigmoid call as the three gates, through
  ``tanh(x) = 2 sigmoid(2x) - 1``: the candidate block is doubled (a local addition) and one
  sigmoid over all 4H pre-activations gives every gate in one opening (6 rounds, 223 B per
  element instead of 239 B for a separate tanh, which would also add its rounds). The error
  of the candidate doubles with the sigmoid's (<= 6.8e-4 instead of tanh's 4.1e-4, still
  < 1e-3 on the whole ring). The cell state's tanh stays a tanh call. Forward per step: 1 product, 1
  sigmoid (4H), 1 batched product (i*g, f*c), 1 tanh (H), 1 product (o * tanh c): 15 rounds.
- GRU (PyTorch's form, blocks r, z, n_x, n_h): ``n = tanh(x W_nx + b_nx + r * (h W_nh +
  b_nh))``, ``h' = (1 - z) n + z h``. The stored W is (n_in + hidden, 3 hidden) with columns
  [r, z, n]; the step multiplies ``[x, h]`` by the block matrix
  ``[[W_xr, W_xz, W_xn, 0], [W_hr, W_hz, 0, W_hn]]`` (public zeros), so the x and h parts of
  the candidate stay apart and one product still serves every gate. One sigmoid (2H), one
  product, one tanh (H), one product: 15 rounds.
- RNN: ``h = act(x W_x + h W_h + b)`` with tanh or ReLU: 1 product and one activation.

Backward (BPTT) takes every derivative from the forward outputs (sigma' = s - s^2, tanh' =
1 - t^2): one square call over all steps' gate outputs and one batched product for the
step-independent factors (e.g. ``tanh(c) * o'``) before the time loop; then per step the
LSTM needs two batched products and one matrix product for the hidden-state gradient (3
rounds), the GRU likewise, the RNN one product (or select) and one matrix product. The
weight gradient of all steps is one product ``[x, h]_all^T @ dZ_all`` after the loop
(:meth:`~.ops.Ops.weight_grad`, which applies the optimiser's step ``lr / batch``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .ops import Ops

Grads = dict[str, Any]
CELLS = ("lstm", "gru", "rnn")
RNN_ACTIVATIONS = ("tanh", "relu")


def _split(v: Any, widths: list[int], axis: int = 1) -> list[Any]:
    """Blocks of ``widths`` along ``axis`` (local slicing, any back end)."""
    out, start = [], 0
    for w in widths:
        idx = (slice(None),) * axis + (slice(start, start + w),)
        out.append(v[idx])
        start += w
    return out


def _muls(ops: Ops, pairs: list[tuple[Any, Any]]) -> list[Any]:
    """Several elementwise products of equal row counts in ONE product call (1 round)."""
    if len(pairs) == 1:
        return [ops.mul(*pairs[0])]
    widths = [a.shape[1] for a, _ in pairs]
    prod = ops.mul(ops.concat([a for a, _ in pairs], 1), ops.concat([b for _, b in pairs], 1))
    return _split(prod, widths)


def _steps(ops: Ops, x: Any, steps: int, n_in: int) -> list[Any]:
    """The (B, n_in) input of each step from flat rows (B, steps * n_in)."""
    return _split(x, [n_in] * steps)


def _uniform(rng: np.random.Generator, hidden: int, shape: tuple[int, ...]) -> np.ndarray:
    """PyTorch's recurrent init: U(-1/sqrt(hidden), 1/sqrt(hidden))."""
    k = 1.0 / float(np.sqrt(hidden))
    return rng.uniform(-k, k, shape)


@dataclass(frozen=True)
class Recurrent:
    """Common shape bookkeeping of the recurrent layers."""

    n_in: int  # features per step
    hidden: int
    steps: int
    sequences: bool = False  # return all hidden states instead of the last

    gates = 1

    @property
    def n_out(self) -> int:
        return self.hidden * (self.steps if self.sequences else 1)

    @property
    def kind(self) -> str:
        return type(self).__name__.lower()

    def spec(self) -> dict[str, Any]:
        """The config entry of this layer (see :func:`~.model.model_from_dict`)."""
        return {"type": self.kind, "units": self.hidden, "return": "all" if self.sequences else "last"}

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shapes :meth:`init` makes (nothing allocated)."""
        return {"W": (self.n_in + self.hidden, self.gates * self.hidden), "b": (self.gates * self.hidden,)}

    def inner_width(self) -> int:
        """Elements per batch row of the widest tensor a pass computes inside the layer: every
        step's [x, h] stacked for the weight gradient, every step's gates and states."""
        return self.steps * max(self.n_in + self.hidden, 2 * self.gates * self.hidden)

    def init(self, rng: np.random.Generator, activation: str = "") -> dict[str, np.ndarray]:
        g = self.gates
        return {"W": _uniform(rng, self.hidden, (self.n_in + self.hidden, g * self.hidden)),
                "b": _uniform(rng, self.hidden, (g * self.hidden,))}

    def _output(self, ops: Ops, hs: list[Any]) -> Any:
        return ops.concat(hs, 1) if self.sequences else hs[-1]

    def _dh_out(self, dy: Any) -> list[Any | None]:
        """The output gradient reaching each step's hidden state."""
        if self.sequences:
            return _split(dy, [self.hidden] * self.steps)
        return [None] * (self.steps - 1) + [dy]

    def _finish(self, ops: Ops, xhs: list[Any], dzs: list[Any], dxs: list[Any], need_dx: bool, step: float) -> tuple[Any, Grads]:
        """One weight-gradient product over all steps; the input gradient in step order."""
        gw, gb = ops.weight_grad(ops.concat(xhs, 0), ops.concat(dzs[::-1], 0), step)
        return (ops.concat(dxs[::-1], 1) if need_dx else None), {"W": gw, "b": gb}

    def _back_matmul(self, ops: Ops, dz: Any, W: Any, need_dx: bool) -> tuple[Any | None, Any]:
        """(dx_t, dh_{t-1}) from the pre-activation gradient: one product with W^T (only its
        hidden rows when the input gradient is not needed)."""
        if need_dx:
            dxh = ops.matmul(dz, W.T)
            return dxh[:, : self.n_in], dxh[:, self.n_in :]
        return None, ops.matmul(dz, W[self.n_in :].T)


@dataclass(frozen=True)
class LSTM(Recurrent):
    """LSTM with gate blocks [i, f, o, g] in W's columns; ``fused``: one sigmoid call for all
    four blocks (tanh(x) = 2 sigmoid(2x) - 1 for the candidate). Forget bias starts at 1."""

    fused: bool = True

    gates = 4

    def spec(self) -> dict[str, Any]:
        return super().spec() | ({} if self.fused else {"fused": False})

    def init(self, rng: np.random.Generator, activation: str = "") -> dict[str, np.ndarray]:
        p = super().init(rng, activation)
        p["b"][self.hidden : 2 * self.hidden] += 1.0
        return p

    def gates_of(self, ops: Ops, a: Any, one: Any) -> list[Any]:
        """[i, f, o, g] from the pre-activations (B, 4H)."""
        H = self.hidden
        if self.fused:
            s = ops.sigmoid(ops.concat([a[:, : 3 * H], a[:, 3 * H :] + a[:, 3 * H :]], 1))
            i, f, o, sg = _split(s, [H] * 4)
            return [i, f, o, sg + sg - one]
        i, f, o = _split(ops.sigmoid(a[:, : 3 * H]), [H] * 3)
        return [i, f, o, ops.tanh(a[:, 3 * H :])]

    def cell(self, ops: Ops, p: dict[str, Any], x: Any, h: Any, c: Any, one: Any) -> tuple[Any, Any, tuple[Any, ...]]:
        """One step: (h, c, cache)."""
        xh = ops.concat([x, h], 1)
        i, f, o, g = self.gates_of(ops, ops.matmul(xh, p["W"]) + p["b"], one)
        ig, fc = _muls(ops, [(i, g), (f, c)])
        c2 = ig + fc
        tc = ops.tanh(c2)
        return ops.mul(o, tc), c2, (xh, i, f, o, g, c, tc)

    def forward(self, ops: Ops, p: dict[str, Any], x: Any) -> tuple[Any, Any]:
        B, H = x.shape[0], self.hidden
        one = ops.constant(np.ones((B, H)))
        h = c = ops.constant(np.zeros((B, H)))
        hs, caches = [], []
        for xt in _steps(ops, x, self.steps, self.n_in):
            h, c, cache = self.cell(ops, p, xt, h, c, one)
            hs.append(h)
            caches.append(cache)
        return self._output(ops, hs), caches

    def backward(self, ops: Ops, p: dict[str, Any], caches: Any, dy: Any, need_dx: bool, step: float = 1.0) -> tuple[Any, Grads]:
        T, H = len(caches), self.hidden
        B = caches[0][1].shape[0]
        I, F, O, G, C, TC = (ops.concat([cc[k] for cc in caches], 0) for k in range(1, 7))
        one = ops.constant(np.ones((T * B, H)))
        sq = _split(ops.square(ops.concat([I, F, O, G, TC], 1)), [H] * 5)
        di, df, do, dg, dtc = I - sq[0], F - sq[1], O - sq[2], one - sq[3], one - sq[4]
        k_o, k_c, k_i, k_f, k_g = (_split(v, [B] * T, 0) for v in _muls(ops, [(TC, do), (O, dtc), (G, di), (C, df), (I, dg)]))
        f_t = _split(F, [B] * T, 0)
        dh_out = self._dh_out(dy)
        dh = dc = None
        dzs, dxs = [], []
        for t in range(T - 1, -1, -1):
            dh = _add(dh, dh_out[t])
            dz_o, dcq = _muls(ops, [(dh, k_o[t]), (dh, k_c[t])])
            dc = _add(dc, dcq)
            dz_i, dz_f, dz_g, dc = _muls(ops, [(dc, k_i[t]), (dc, k_f[t]), (dc, k_g[t]), (dc, f_t[t])])
            dz = ops.concat([dz_i, dz_f, dz_o, dz_g], 1)
            dzs.append(dz)
            if need_dx or t > 0:
                dx, dh = self._back_matmul(ops, dz, p["W"], need_dx)
                if need_dx:
                    dxs.append(dx)
        return self._finish(ops, [cc[0] for cc in caches], dzs, dxs, need_dx, step)


@dataclass(frozen=True)
class GRU(Recurrent):
    """GRU (PyTorch's form): W (n_in + hidden, 3 hidden) with columns [r, z, n]; bias of 4
    hidden [b_r, b_z, b_xn, b_hn]."""

    gates = 4

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"W": (self.n_in + self.hidden, 3 * self.hidden), "b": (4 * self.hidden,)}

    def init(self, rng: np.random.Generator, activation: str = "") -> dict[str, np.ndarray]:
        return {"W": _uniform(rng, self.hidden, (self.n_in + self.hidden, 3 * self.hidden)),
                "b": _uniform(rng, self.hidden, (4 * self.hidden,))}

    def block(self, ops: Ops, W: Any) -> Any:
        """The (n_in + H, 4H) product matrix [[W_xr, W_xz, W_xn, 0], [W_hr, W_hz, 0, W_hn]]."""
        D, H = self.n_in, self.hidden
        zx, zh = ops.constant(np.zeros((H, H))), ops.constant(np.zeros((D, H)))
        return ops.concat([W[:, : 2 * H], ops.concat([W[:D, 2 * H :], zx], 0), ops.concat([zh, W[D:, 2 * H :]], 0)], 1)

    def unblock(self, ops: Ops, gW: Any) -> Any:
        D, H = self.n_in, self.hidden
        return ops.concat([gW[:, : 2 * H], ops.concat([gW[:D, 2 * H : 3 * H], gW[D:, 3 * H :]], 0)], 1)

    def cell(self, ops: Ops, Wb: Any, b: Any, x: Any, h: Any) -> tuple[Any, tuple[Any, ...]]:
        H = self.hidden
        xh = ops.concat([x, h], 1)
        a = ops.matmul(xh, Wb) + b
        r, z = _split(ops.sigmoid(a[:, : 2 * H]), [H, H])
        anh = a[:, 3 * H :]
        n = ops.tanh(a[:, 2 * H : 3 * H] + ops.mul(r, anh))
        return n + ops.mul(z, h - n), (xh, r, z, n, anh, h)

    def forward(self, ops: Ops, p: dict[str, Any], x: Any) -> tuple[Any, Any]:
        B, H = x.shape[0], self.hidden
        Wb = self.block(ops, p["W"])
        h = ops.constant(np.zeros((B, H)))
        hs, caches = [], []
        for xt in _steps(ops, x, self.steps, self.n_in):
            h, cache = self.cell(ops, Wb, p["b"], xt, h)
            hs.append(h)
            caches.append(cache)
        return self._output(ops, hs), (Wb, caches)

    def backward(self, ops: Ops, p: dict[str, Any], cache: Any, dy: Any, need_dx: bool, step: float = 1.0) -> tuple[Any, Grads]:
        Wb, caches = cache
        T, H = len(caches), self.hidden
        B = caches[0][1].shape[0]
        R, Z, N, ANH, HP = (ops.concat([cc[k] for cc in caches], 0) for k in range(1, 6))
        one = ops.constant(np.ones((T * B, H)))
        sq = _split(ops.square(ops.concat([R, Z, N], 1)), [H] * 3)
        dr, dz_, dn = R - sq[0], Z - sq[1], one - sq[2]
        k_z, k_n, k_r = (_split(v, [B] * T, 0) for v in _muls(ops, [(HP - N, dz_), (one - Z, dn), (ANH, dr)]))
        r_t, z_t = _split(R, [B] * T, 0), _split(Z, [B] * T, 0)
        dh_out = self._dh_out(dy)
        dh = None
        dzs, dxs = [], []
        for t in range(T - 1, -1, -1):
            dh = _add(dh, dh_out[t])
            da_z, da_n, dhd = _muls(ops, [(dh, k_z[t]), (dh, k_n[t]), (dh, z_t[t])])
            da_nh, da_r = _muls(ops, [(da_n, r_t[t]), (da_n, k_r[t])])
            dz = ops.concat([da_r, da_z, da_n, da_nh], 1)
            dzs.append(dz)
            if need_dx or t > 0:
                dx, dhp = self._back_matmul(ops, dz, Wb, need_dx)
                dh = dhd + dhp
                if need_dx:
                    dxs.append(dx)
        dx, g = self._finish(ops, [cc[0] for cc in caches], dzs, dxs, need_dx, step)
        return dx, {"W": self.unblock(ops, g["W"]), "b": g["b"]}


@dataclass(frozen=True)
class RNN(Recurrent):
    """Plain recurrent layer ``h = act([x, h] @ W + b)`` with act tanh or relu."""

    activation: str = "tanh"

    def spec(self) -> dict[str, Any]:
        return super().spec() | {"activation": self.activation}

    def init(self, rng: np.random.Generator, activation: str = "") -> dict[str, np.ndarray]:
        p = super().init(rng, activation)
        if self.activation == "relu":  # start near the identity recurrence (IRNN-like scale)
            p["W"][self.n_in :] = _uniform(rng, self.hidden, (self.hidden, self.hidden)) * 0.5
        return p

    def forward(self, ops: Ops, p: dict[str, Any], x: Any) -> tuple[Any, Any]:
        B, H = x.shape[0], self.hidden
        h = ops.constant(np.zeros((B, H)))
        hs, caches = [], []
        for xt in _steps(ops, x, self.steps, self.n_in):
            xh = ops.concat([xt, h], 1)
            a = ops.matmul(xh, p["W"]) + p["b"]
            if self.activation == "relu":
                h, aux = ops.relu(a)
            else:
                h = aux = ops.tanh(a)
            hs.append(h)
            caches.append((xh, aux))
        return self._output(ops, hs), caches

    def backward(self, ops: Ops, p: dict[str, Any], caches: Any, dy: Any, need_dx: bool, step: float = 1.0) -> tuple[Any, Grads]:
        T = len(caches)
        if self.activation == "tanh":
            Hs = ops.concat([cc[1] for cc in caches], 0)
            B = caches[0][1].shape[0]
            deriv = _split(ops.one_minus_square(Hs), [B] * T, 0)
        dh_out = self._dh_out(dy)
        dh = None
        dzs, dxs = [], []
        for t in range(T - 1, -1, -1):
            dh = _add(dh, dh_out[t])
            dz = ops.select(caches[t][1], dh) if self.activation == "relu" else ops.mul(dh, deriv[t])
            dzs.append(dz)
            if need_dx or t > 0:
                dx, dh = self._back_matmul(ops, dz, p["W"], need_dx)
                if need_dx:
                    dxs.append(dx)
        return self._finish(ops, [cc[0] for cc in caches], dzs, dxs, need_dx, step)


def _add(a: Any, b: Any) -> Any:
    """a + b where either may be absent (no gradient yet)."""
    if a is None:
        return b
    return a if b is None else a + b


RECURRENT_TYPES = (LSTM, GRU, RNN)
RecurrentLayer = LSTM | GRU | RNN


def make_recurrent(kind: str, n_in: int, hidden: int, steps: int, sequences: bool = False, **options: Any) -> RecurrentLayer:
    """A recurrent layer from its config entry (see :func:`~.model.model_from_dict`)."""
    if kind == "lstm":
        return LSTM(n_in, hidden, steps, sequences, fused=bool(options.get("fused", True)))
    if kind == "gru":
        return GRU(n_in, hidden, steps, sequences)
    if kind == "rnn":
        act = options.get("activation", "tanh")
        if act not in RNN_ACTIVATIONS:
            raise ValueError(f"rnn activation {act!r} is not one of {', '.join(RNN_ACTIVATIONS)}")
        return RNN(n_in, hidden, steps, sequences, activation=act)
    raise ValueError(f"unknown recurrent layer {kind!r}; known: {', '.join(CELLS)}")
