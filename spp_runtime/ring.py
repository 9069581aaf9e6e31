"""The ring Z_2^64 on numpy ``uint64`` arrays.

numpy's unsigned arithmetic wraps modulo 2^64, so ring addition, subtraction and
multiplication are the plain operators on ``uint64`` arrays. This module holds the few
helpers that are not one operator: signed views, shifts with the right semantics, and
matrix products that stay exact modulo 2^64.
"""

from __future__ import annotations

import math

import numpy as np

RING_BITS = 64
DTYPE = np.uint64
Ring = np.ndarray  # an array of dtype uint64


def as_ring(x: np.ndarray | np.integer | int) -> np.ndarray:
    """Reinterpret integers as ring elements (two's complement for negatives)."""
    a = np.asarray(x)
    if a.dtype == DTYPE:
        return a
    if a.dtype.kind == "i":
        return a.astype(np.int64).view(DTYPE)
    if a.dtype.kind in "ub":
        return a.astype(DTYPE)
    raise TypeError(f"ring elements must be integers, got dtype {a.dtype}")


def to_signed(x: np.ndarray) -> np.ndarray:
    """View ring elements as signed 64-bit integers (two's complement)."""
    return np.asarray(x, dtype=DTYPE).view(np.int64)


def msb(x: np.ndarray) -> np.ndarray:
    """Most significant bit of each element, as uint64 0/1 (plaintext helper)."""
    return np.asarray(x, dtype=DTYPE) >> np.uint64(RING_BITS - 1)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix product modulo 2^64, exactly ``np.matmul`` on uint64 (wrapping) for every input,
    with numpy's semantics: batch dimensions broadcast, a 1-D operand is promoted to a matrix
    and the added dimension removed from the result.

    numpy's integer matmul has no BLAS. Where it pays, the product runs on float64 BLAS instead
    (see `_matmul_blas`); small or thin products, where splitting the operands costs more than
    the faster products save, stay on numpy's uint64 loop.
    """
    a, b = as_ring(a), as_ring(b)
    if min(a.ndim, b.ndim, a.size, b.size) == 0 or a.ndim + b.ndim == 2 or not _blas_pays(a.shape, b.shape):
        return np.matmul(a, b)  # scalars and empty operands (numpy's result or error), dot products
    out = _matmul_blas(a[None, :] if a.ndim == 1 else a, b[:, None] if b.ndim == 1 else b)
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


# -- exact products through float64 BLAS ------------------------------------------------------
#
# A ring element x is written as x = l0 + 2^22 l1 + 2^42 l2 (mod 2^64) with balanced (signed)
# limbs |l0| <= 2^21, |l1| <= 2^19, |l2| <= 2^21: the fields [0, 22), [22, 42) and [42, 64) of
# t = (x + OFFSET) XOR OFFSET read as two's-complement numbers, where OFFSET has the top bit of
# each field set (adding it carries each field's upper half into the next field, the XOR then
# makes the field signed). With A = A0 + 2^22 A1 + 2^42 A2 and B likewise, modulo 2^64
#
#     A @ B = A0B0 + 2^22 (A0B1 + A1B0) + 2^44 A1B1 + 2^42 (A0B2 + A2B0)
#
# (A1B2 and A2B1 sit at 2^64, A2B2 above), and Karatsuba gives the middle term from one more
# product: A0B1 + A1B0 = (A0 + A1)(B0 + B1) - A0B0 - A1B1. That is five float64 products of the
# original shape, with every entry an integer sum of k limb products; they are exact while all
# partial sums stay within 2^53 in magnitude. The largest terms are |(A0+A1)(B0+B1)| <=
# (2^21 + 2^19)^2 = 25 * 2^38 (the others are at most 2^42), so the inner dimension is cut into
# chunks of at most 2^53 / (25 * 2^38) = 1310. The float results are exact integers below 2^53:
# they are converted to int64 and recombined with wrapping uint64 arithmetic.
#
# (Three limbs is the fewest possible: a limb pair's product sums must stay below 2^53, so
# limbs have at most about 22 bits for the inner dimensions used here. The field widths put the
# third limb where its products with the middle limb vanish mod 2^64, and keep (A0+A1) small.)

_OFFSET = np.uint64((1 << 21) | (1 << 41) | (1 << 63))
_MAX_CHUNK = (1 << 53) // ((1 << 21) + (1 << 19)) ** 2  # 1310
_BLOCK = 1 << 17  # elements per block of the limb extraction (keeps its scratch in cache)
_TILE = 1 << 19  # elements of a (and of the result) per tile: bounds the workspace
# Rough costs in ns on one core (fitted on the 2-core dev machine, OpenBLAS), used only to choose
# between numpy's uint64 loop and the BLAS path (both are exact): per multiply-add of the uint64
# loop, which slows down once b's rows are long (it walks b's columns); per multiply-add of the
# BLAS path (five float64 products); per operand element split into limbs; per output element
# and chunk recombined; per call and per chunk.
_NS_UINT64_MAC = ((64, 0.6), (256, 0.9), (None, 2.0))  # (n below, cost)
_NS_BLAS_MAC = 0.25
_NS_SPLIT = 3.4
_NS_OUT = 6.3
_NS_CALL = 15_000.0
_NS_CHUNK = 20_000.0
_MIN_K = 8  # below this the uint64 loop stays fast whatever the shape


def _blas_pays(sa: tuple[int, ...], sb: tuple[int, ...]) -> bool:
    """Whether the BLAS path is expected to beat numpy's uint64 loop for these shapes (False
    for shapes np.matmul rejects, so that numpy raises its own error)."""
    if len(sa) == 1:
        sa = (1,) + sa
    if len(sb) == 1:
        sb = sb + (1,)
    m, k, n = sa[-2], sa[-1], sb[-1]
    if k != sb[-2]:
        return False
    if len(sa) == 2 and len(sb) == 2:
        batch = 1
    else:
        try:
            batch = math.prod(np.broadcast_shapes(sa[:-2], sb[:-2]))
        except ValueError:
            return False
    macs = batch * m * k * n
    uint64 = macs * next(c for below, c in _NS_UINT64_MAC if below is None or n < below)
    if k < _MIN_K or uint64 < _NS_CALL + _NS_CHUNK + _NS_BLAS_MAC * macs:
        return False
    chunks = -(-k // _MAX_CHUNK)
    blas = (_NS_CALL + _NS_CHUNK * chunks + _NS_BLAS_MAC * macs
            + _NS_SPLIT * (math.prod(sa) + math.prod(sb)) + _NS_OUT * chunks * batch * m * n)
    return blas < uint64


def _matmul_blas(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` mod 2^64 for uint64 ``a (..., m, k)`` and ``b (..., k, n)``, through float64 BLAS.

    The inner dimension is cut into chunks of at most `_MAX_CHUNK` and, for large operands, the
    rows of ``a`` into tiles of about `_TILE` elements (which bounds the workspace); each
    chunk's partial products are summed into the result mod 2^64.
    """
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    step = -(-k // -(-k // _MAX_CHUNK))  # equal chunks of at most _MAX_CHUNK
    batch_a, batch_b = a.shape[:-2], b.shape[:-2]
    batch = np.broadcast_shapes(batch_a, batch_b)
    na, nb, no = math.prod(batch_a), math.prod(batch_b), math.prod(batch)
    rows = max(1, min(m, _TILE // (na * step), _TILE // (no * n)))
    size_a, size_b, size_o = na * rows * step, nb * step * n, no * rows * n
    # the limbs are extracted in blocks of first-axis slices: the scratch holds at least one
    first_a = size_a // (a.shape[0] if a.ndim > 2 else rows)
    first_b = size_b // (b.shape[0] if b.ndim > 2 else step)
    scratch = min(max(size_a, size_b), max(_BLOCK, first_a, first_b))
    # One workspace for everything, because fresh large allocations cost page faults on every
    # call: the limbs of a's tile as (3, ..., rows, k) in the order a0, a2, a1 (a0 and a2 are
    # one operand against b0), those of b as (4, ..., k, n) in the order b0, b2, b1, b0+b1,
    # scratch for the limb extraction, and the products [a0; a2] @ b0, a0 @ b2, a1 @ b1,
    # (a0+a1) @ (b0+b1) with their int64 copies.
    ws = np.empty(3 * size_a + 4 * size_b + 2 * scratch + 10 * size_o)
    wa, wb, t, u, g, gi = np.split(ws, np.cumsum([3 * size_a, 4 * size_b, scratch, scratch, 5 * size_o]))
    t, u, gi = t.view(DTYPE), u.view(DTYPE), gi.view(DTYPE)
    out = np.empty(batch + (m, n), dtype=DTYPE)
    for s in range(0, k, step):
        bc = b[..., s:s + step, :]
        lb = wb[:4 * bc.size].reshape((4,) + bc.shape)
        _limbs(bc, lb[0], lb[2], lb[1], t, u)
        np.add(lb[0], lb[2], out=lb[3])
        for r in range(0, m, rows):
            ac = a[..., r:r + rows, s:s + step]
            la = wa[:3 * ac.size].reshape((3,) + ac.shape)
            _limbs(ac, la[0], la[2], la[1], t, u)
            shape = batch + (ac.shape[-2], n)
            size = math.prod(shape)
            g04, g3, g1, g2 = g[:2 * size], g[2 * size:3 * size], g[3 * size:4 * size], g[4 * size:5 * size]
            if not batch:  # [a0; a2] as one (2 rows, k) operand
                np.matmul(la[:2].reshape(-1, ac.shape[-1]), lb[0], out=g04.reshape(-1, n))
            else:
                pad = (1,) * (len(shape) - ac.ndim)
                np.matmul(la[:2].reshape((2,) + pad + ac.shape), lb[0], out=g04.reshape((2,) + shape))
            np.matmul(la[0], lb[1], out=g3.reshape(shape))
            np.matmul(la[2], lb[2], out=g1.reshape(shape))
            np.add(la[2], la[0], out=la[2])
            np.matmul(la[2], lb[3], out=g2.reshape(shape))
            _combine(g[:5 * size].reshape((5,) + shape), gi[:5 * size].reshape((5,) + shape),
                     out[..., r:r + rows, :], first=s == 0)
    return out


def _limbs(x: np.ndarray, l0: np.ndarray, l1: np.ndarray, l2: np.ndarray, t: np.ndarray,
           u: np.ndarray) -> None:
    """Write the balanced limbs of ``x`` (uint64) into ``l0, l1, l2`` (float64, x's shape),
    using ``t`` and ``u`` (flat uint64) as scratch, in blocks along the first axis."""
    rows = max(1, min(x.shape[0], t.size * x.shape[0] // max(x.size, 1)))
    for r in range(0, x.shape[0], rows):
        xb = x[r:r + rows]
        tb, ub = t[:xb.size].reshape(xb.shape), u[:xb.size].reshape(xb.shape)
        np.add(xb, _OFFSET, out=tb)
        np.bitwise_xor(tb, _OFFSET, out=tb)
        ti, ui = tb.view(np.int64), ub.view(np.int64)
        np.right_shift(ti, 42, out=l2[r:r + rows], casting="unsafe")
        np.left_shift(tb, np.uint64(42), out=ub)
        np.right_shift(ui, 42, out=l0[r:r + rows], casting="unsafe")
        np.left_shift(tb, np.uint64(22), out=ub)
        np.right_shift(ui, 44, out=l1[r:r + rows], casting="unsafe")


def _combine(g: np.ndarray, gi: np.ndarray, out: np.ndarray, *, first: bool) -> None:
    """out (+)= g0 + 2^22 (g2 - g0 - g1) + 2^42 (4 g1 + g3 + g4) mod 2^64, for the five
    products ``g = [g0, g4, g3, g1, g2]`` (exact integers in float64, each of out's shape);
    ``gi`` is uint64 scratch of g's shape."""
    np.copyto(gi.view(np.int64), g, casting="unsafe")
    i0, i4, i3, i1, i2 = gi
    np.subtract(i2, i0, out=i2)
    np.subtract(i2, i1, out=i2)  # A0B1 + A1B0
    np.left_shift(i2, np.uint64(22), out=i2)
    if first:
        np.add(i2, i0, out=out)
    else:
        np.add(out, i2, out=out)
        np.add(out, i0, out=out)
    np.left_shift(i1, np.uint64(2), out=i1)
    np.add(i1, i3, out=i1)
    np.add(i1, i4, out=i1)
    np.left_shift(i1, np.uint64(42), out=i1)
    np.add(out, i1, out=out)
