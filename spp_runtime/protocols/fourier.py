"""Trigonometric series evaluated from a masked opening with helper-dealt correlations.

For a period of 2^p real units (m = p + f ring bits, since 2^m divides 2^64 the residue
x mod 2^m is given exactly by the low m bits), the opening ``M = x + R`` of
:func:`~.opened_compare.open_masked` gives the primaries ``c = x + r mod 2^m`` with r the
low m bits of R, which the helper knows. With ``theta = 2 pi r / 2^m`` the helper deals ring
shares of ``sin(k theta)`` and ``cos(k theta)`` for each harmonic k. Since x = c - r
(mod 2^m),

    sin(k phi_x) = sin(k phi_c) cos(k theta) - cos(k phi_c) sin(k theta)
    cos(k phi_x) = cos(k phi_c) cos(k theta) + sin(k phi_c) sin(k theta)

are linear in the dealt shares with public coefficients, so any series
``b0 + sum_k a_k sin(k phi_x) + b_k cos(k phi_x)`` costs 16 B per harmonic offline per
element and one truncation, on top of an opening the caller shares with other uses
(sigmoid and tanh take their saturation tests from it too). The series itself
(:class:`~spp_runtime.reference.fourier.TrigSeries`) and its fits are plaintext, in
:mod:`spp_runtime.reference.fourier`.

Security: c is uniform in Z_{2^m} to each primary (R is uniform and each knows only its own
half of it); the dealt shares reach P1 minus fresh P0-P2 PRG values; the helper receives
nothing. Accuracy: the dealt values carry ``TRIG_BITS``
fractional bits and the public coefficients ``COEF_BITS``; the rounding error is about
``sum_k (|a_k| + |b_k|) 2^-TRIG_BITS`` plus one unit of the output.
"""

from __future__ import annotations

import numpy as np

from ..engine.context import protocol
from ..reference.fourier import TrigSeries
from ..ring import DTYPE
from ..tensor import SharedTensor, held, truncate
from .opened_compare import Opened

TRIG_BITS = 18
COEF_BITS = 18


def _encode(values: np.ndarray, bits: int) -> np.ndarray:
    return np.rint(values * 2.0**bits).astype(np.int64).view(DTYPE)


@protocol("trig_series_opened")
def trig_series_opened(opened: Opened, series: TrigSeries, out_bits: int | None = None) -> SharedTensor:
    """Evaluate ``series`` at every x from a masked opening ``M = x + R`` (its low m bits are
    ``x + r mod 2^m``): no round and nothing online, 16 B per harmonic offline, one
    truncation. The result has ``out_bits`` fractional bits (default: the context's)."""
    mask = np.uint64((1 << _ring_bits(opened.ctx, series)) - 1)
    if opened.ctx.is_helper:
        return _evaluate(opened.ctx, opened.shape, series, out_bits, r=held(opened.mask) & mask)
    return _evaluate(opened.ctx, opened.shape, series, out_bits, c=held(opened.value) & mask)


def _ring_bits(ctx, series: TrigSeries) -> int:
    m = series.period_bits + ctx.fxp.frac_bits
    if not 0 < m <= 63:
        raise ValueError(f"period of 2^{series.period_bits} needs {m} ring bits; at most 63")
    return m


def _evaluate(
    ctx, shape: tuple[int, ...], series: TrigSeries, out_bits: int | None,
    c: np.ndarray | None = None, r: np.ndarray | None = None,
) -> SharedTensor:
    """The helper (given r) deals sin/cos of k theta; the primaries (given the public
    residues c = x + r mod 2^m) combine them with public coefficients."""
    f = ctx.fxp.frac_bits
    out_f = f if out_bits is None else out_bits
    m = _ring_bits(ctx, series)
    ks = np.asarray(series.harmonics, dtype=np.float64)
    nk = len(ks)
    dealt_shape = shape + (2 * nk,)
    if ctx.is_helper:
        theta = 2 * np.pi * held(r).astype(np.float64)[..., None] * ks / 2.0**m
        dealt = np.concatenate([np.sin(theta), np.cos(theta)], axis=-1)
        c0 = ctx.prg(0).uint64(dealt_shape)
        ctx.send(1, _encode(dealt, TRIG_BITS) - c0, offline=True)
        return SharedTensor(ctx, None, shape)
    if ctx.party == 0:
        dealt = ctx.prg(2).uint64(dealt_shape)
    else:
        (dealt,) = ctx.recv(2, expect=[(dealt_shape, DTYPE)])
    phi_c = 2 * np.pi * held(c).astype(np.float64)[..., None] * ks / 2.0**m
    sc, cc = np.sin(phi_c), np.cos(phi_c)
    a = np.asarray(series.sin_coefs)
    b = np.asarray(series.cos_coefs)
    # coefficient of the dealt cos(k theta) and sin(k theta) shares
    coef_cos = a * sc + b * cc
    coef_sin = -a * cc + b * sc
    coefs = _encode(np.concatenate([coef_sin, coef_cos], axis=-1), COEF_BITS)
    acc = (dealt * coefs).sum(axis=-1, dtype=DTYPE)
    out = truncate(SharedTensor(ctx, acc), TRIG_BITS + COEF_BITS - out_f)
    if series.b0:
        out = out.add_ring(np.int64(round(series.b0 * 2.0**out_f)))
    return out
