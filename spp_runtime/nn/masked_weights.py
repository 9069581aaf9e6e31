"""A stored model's weights opened once under a fixed mask; per query only the input is opened.

A Beaver product ``z = x @ W`` opens ``E = x - A`` and ``F = W - B`` (see
:mod:`spp_runtime.tensor`). The weights of a stored model never change, so each weight
matrix is masked **once** (:func:`open_weights`): ``F = W - B`` is opened to P0 and P1 and kept
by each of them beside the model (``storage.openings``), together with its share ``B_i`` of
the mask in compressed form: a 16-byte seed ``s_i`` that primary i and the helper drew
together from their pairwise PRG when the weights were masked (``B_i`` is the AES-CTR stream
of ``s_i``, tensors in sorted name order). The helper stores nothing: at every query each
primary reminds it of its seed (16 bytes, offline), so it can expand ``B = B_0 + B_1`` again.
Each query then draws a fresh mask A for its input and opens only ``E = x - A``
(:func:`fixed_matmul`); the helper deals shares of ``C = A @ B`` and the primaries set
``z_0 = E @ (F + B_0) + A_0 @ F + C_0`` and ``z_1 = E @ B_1 + A_1 @ F + C_1``, which sum
to ``(E + A) @ (F + B) = x @ W``.

:class:`FixedOperand` has the shape of the training branch's ``masked.MaskedOperand``
(``opened``, ``mask`` on P0 and P1, ``pair`` on the helper), for a value opened once and
kept across jobs rather than within one.

Costs (8-byte ring elements):

==============  ======  =======================================  ========================
protocol        rounds  p0->p1 and p1->p0 (each, online)         helper (offline)
==============  ======  =======================================  ========================
open_weights    1       32 bytes (the openings' fingerprints)    p0->p2, p1->p2: 24 bytes
 first query    +1      + 8 * sum |W| (the weights, once)        none
fixed_matmul    1       8|x|                                     p2->p1: 8|z|
==============  ======  =======================================  ========================

Security (docs/SECURITY.md, "Stored weight openings"). B is uniform and unknown to each
primary (P1 never learns ``s_0``, P0 never ``s_1``: each seed travels only between its
primary and the helper, over their encrypted link, and is stored like a share), so the one
opening F of the fixed W is uniform to each primary: **each mask hides one fixed value**, and
it is never used to open another (a model stored again gets a new ``model_id`` and new
seeds; a lost or mismatched opening is replaced by a fresh mask of the same W, which is
equally uniform). Reusing F across queries reveals nothing more: the query's A is fresh, so
E is uniform; P1's dealt ``C_1 = A B - C_0`` is padded by a fresh PRG value ``C_0`` of P0 and
the helper. The helper learns B (it deals with it) but never F, and receives only the seeds
and a reuse flag, which depend on no data. The fingerprints the primaries swap are functions
of F and the public mask id, which both already hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from .. import dealer
from ..engine.context import PartyContext, protocol
from ..errors import SppError
from ..jobs import StoredModel
from ..randomness import SEED_BYTES, Prg
from ..ring import DTYPE, matmul
from ..storage.openings import StoredOpening
from ..tensor import SharedTensor, _matmul_shape, held

REUSE, REMASK = 1, 0


@dataclass(frozen=True)
class FixedOperand:
    """A stored weight matrix W opened once under the fixed mask B, as one party holds it.

    P0 and P1: ``opened`` is the public ``F = W - B`` and ``mask`` this primary's share B_i
    (``left`` caches P0's ``F + B_0``). The helper: ``pair = (B_0, B_1)``. Nobody holds W."""

    shape: tuple[int, ...]
    opened: np.ndarray | None = None
    mask: np.ndarray | None = None
    pair: tuple[np.ndarray, np.ndarray] | None = None
    left: np.ndarray | None = None  # P0: F + B_0; P1: B_1 (what multiplies E)

    def __repr__(self) -> str:  # never shows an opening or a mask
        return f"FixedOperand(shape={self.shape})"

    def full_mask(self) -> np.ndarray:
        a, b = held(self.pair)
        return a + b


def expand_masks(seed: bytes, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """A primary's mask shares B_i of the named tensors from its seed (sorted name order)."""
    g = Prg(seed)
    return {k: g.uint64(tuple(shapes[k])) for k in sorted(shapes)}


def _operands(ctx: PartyContext, opened: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray]) -> dict[str, FixedOperand]:
    out = {}
    for k, f in opened.items():
        b = masks[k]
        left = f + b if ctx.party == 0 else b
        out[k] = FixedOperand(tuple(f.shape), opened=f, mask=b, left=left)
    return out


@protocol("weights.open")
def open_weights(ctx: PartyContext, model: StoredModel, names: Sequence[str]) -> dict[str, FixedOperand]:
    """The weight matrices ``names`` of a stored model as operands opened once.

    P0 and P1 swap the fingerprints of the openings they hold (32 bytes each way, 1 round).
    If both hold the same one they reuse it, and each sends the helper its mask seed (24
    bytes with the flag, offline). Otherwise they mask the weights anew (fresh seeds from the
    PRGs each shares with the helper, a mask id from the P0-P1 PRG), open ``F = W - B`` in
    one exchange (1 more round, 8 bytes per weight each way), store the opening, and tell the
    helper to derive the same seeds. Security: see the module docstring.
    """
    shapes = {k: tuple(model.shapes[k]) for k in sorted(names)}
    if ctx.is_helper:
        told = [ctx.recv(p, expect=[((3,), DTYPE)])[0] for p in (0, 1)]
        if int(told[0][0]) != int(told[1][0]):
            raise SppError("p0 and p1 disagree on the stored opening of the weights")
        if int(told[0][0]) == REUSE:
            seeds = [t[1:].tobytes() for t in told]
        else:
            seeds = [ctx.prg(p).random_bytes(SEED_BYTES) for p in (0, 1)]
        b0, b1 = expand_masks(seeds[0], shapes), expand_masks(seeds[1], shapes)
        return {k: FixedOperand(shapes[k], pair=(b0[k], b1[k])) for k in shapes}
    held_opening = model.load_opening()
    opening = None
    if held_opening is not None:
        opening = StoredOpening(*held_opening)
        if {k: tuple(v.shape) for k, v in opening.opened.items()} != shapes:
            opening = None
    mine = np.frombuffer(opening.fingerprint() if opening is not None else bytes(32), dtype=DTYPE)
    (theirs,) = ctx.exchange(ctx.other, mine)
    if opening is not None and np.array_equal(mine, theirs):
        seed_words = np.frombuffer(opening.seed, dtype=DTYPE)
        ctx.send(2, np.concatenate([np.array([REUSE], dtype=DTYPE), seed_words]), offline=True)
        return _operands(ctx, opening.opened, expand_masks(opening.seed, shapes))
    ctx.send(2, np.zeros(3, dtype=DTYPE), offline=True)
    seed = ctx.prg(2).random_bytes(SEED_BYTES)
    mask_id = ctx.prg(ctx.other).random_bytes(8).hex()
    masks = expand_masks(seed, shapes)
    weights = model.load_shares(list(shapes))
    mine_f = [weights[k] - masks[k] for k in shapes]
    theirs_f = ctx.exchange(ctx.other, *mine_f)
    opened = {k: a + b for k, a, b in zip(shapes, mine_f, theirs_f)}
    model.save_opening(mask_id, seed, opened)
    return _operands(ctx, opened, masks)


@protocol("weights.matmul")
def fixed_matmul(x: SharedTensor, w: FixedOperand) -> SharedTensor:
    """``x @ W`` for a fresh shared ``x`` and a stored W opened once: only x is opened.

    1 round; p0->p1 and p1->p0 each 8|x| bytes (``E = x - A``, A fresh from the PRGs the
    helper shares with P0 and P1, :func:`.dealer.masks`); p2->p1 8|z| bytes offline (shares of
    ``C = A @ B``). Truncated locally. Security: E is uniform (A fresh); see the module
    docstring for the reuse of F.
    """
    ctx = x.ctx
    shape = _matmul_shape(x.shape, w.shape)
    if ctx.is_helper:
        (pair,) = cast(list[list[np.ndarray]], dealer.masks(ctx, x.shape))
        a, b = pair[0] + pair[1], w.full_mask()
        dealer.product_share(ctx, shape, lambda: matmul(a, b))
        return SharedTensor(ctx, None, shape)
    (a,) = cast(list[np.ndarray], dealer.masks(ctx, x.shape))
    mine = x.mine - a
    (theirs,) = ctx.exchange(ctx.other, mine)
    e = mine + theirs
    c = held(dealer.product_share(ctx, shape))
    z = matmul(e, held(w.left)) + matmul(a, held(w.opened)) + c
    return SharedTensor(ctx, z).truncate(ctx.fxp.frac_bits)
