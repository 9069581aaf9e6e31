"""Sign, comparison, ReLU and selection: our default protocols and SecureNN's, by name.

Variants: ``"default"`` (ours, below) and ``"securenn"`` (Wagh, Gupta, Chandran 2018,
in :mod:`spp_runtime.protocols.baselines.securenn`). Comparison results are arithmetic shares of the
plain integers 0/1 (not fixed-point encoded) unless a function says it returns a BitTensor.

Default MSB (:mod:`.wide_compare`). The primaries open ``M = x + R`` for a uniform ring
mask R the helper knows; then ``x = M + S`` with ``S = -R``, a number both primaries know
plus a number only the helper knows, so ``msb(x) = m63 ^ s63 ^ carry`` where carry is the
carry out of the low 63 bits of M + S. The helper deals XOR shares of the monomials of each
4-bit group of S (a 3-bit group at the top); with M public, each group's generate and
propagate bits are XOR-sums of those monomials with public coefficients (local), and two
rounds of many-input ANDs (:func:`~.wide_compare.band_many`: every input opened once under
a helper bit, the helper deals the products of the masks) combine the 16 groups: nodes of
4, 3, 3, 3, 3 groups, then one node of five. ReLU and maximum multiply the sign bit by the
very value that was opened (:func:`~.wide_compare.mul_opened`), so their select opens one
bit and no ring value.

Costs per element (bits are packed: exact in bytes when the element count is a multiple of
8). "Each way" is P0->P1 and P1->P0 each; offline is P2->P1 (input-independent dealing).

=================  ======  ======================  =====================  ==================
protocol           rounds  each way                offline                total; SecureNN
=================  ======  ======================  =====================  ==================
msb_bits,          3       8 B + 34 bits           317 bits               64.125 B
less_than_bits
drelu, msb,        4       8 B + 35 bits           317 bits + 8 B         72.375 B;
less_than, ...                                                            drelu: 8, 664 B
relu, maximum      4       8 B + 35 bits           317 bits + 16 B        80.375 B;
                                                                          relu: 10 (9), 704 B
equal_bits         6       126 bits                63 bits                39.375 B
equal              7       127 bits                63 bits + 8 B          47.625 B
select (bits)      1       1 bit + 8 B             16 B                   32.25 B
select (ring bit)  1       16 B                    8 B                    40 B
=================  ======  ======================  =====================  ==================

So the default DReLU uses 10.9 % and the default ReLU 11.4 % of SecureNN's bytes, in 4
rounds against 8 and 10. Exact for every ring element (no range assumption: the true MSB
of the ring element is computed), so comparisons x < y are exact while |x - y| < 2^63 ring
units. Several public thresholds against the same x share the opening and the dealt
monomials (:func:`~.wide_compare.msb_wide`: 45.125 + 19 B per threshold with the opening;
the 6-round :func:`~.opened_compare.less_than_public` costs 34.5 + 18.125 B per threshold
and stays the default where many thresholds share one x, as in the reciprocal).

Earlier defaults: the 5-level tree of two-input ANDs over 21 groups of 3 bits
(:func:`~.opened_compare.msb_opened`): msb_bits 52.625 B in 6 rounds, DReLU 60.875 B in 7,
ReLU 84.875 B in 7 (its select opened x - a again); before that, the carry of the two
*shares*: 71.875 B, 80.125 B and 104.125 B in the same rounds.

Security (semi-honest, one corrupted party, PRG secure). Simulate each party's view by
uniform strings:

* P2 receives nothing in msb_bits, drelu, relu, select or less_than; it only sends, and
  what it sends is computed from its PRG streams alone (no input reaches it).
* P0 receives from P1 (i) P1's half of x + R, masked by R1 from the P1-P2 PRG, so M is
  uniform and independent of x; (ii) in each tree level P1's halves of x ^ a and y ^ b for
  fresh triple bits a, b whose P1 halves come from the P1-P2 PRG
  (:func:`~.wide_compare.band_many`); (iii) P1's half of b ^ r for a fresh helper bit r
  (:func:`~.wide_compare.mul_opened`, :func:`~.boolean.inject_bits`) and, in the equality
  test and plain selects, of w - a for a fresh ring mask a. Each is masked by a fresh PRG
  value P0 does not hold and that is used for nothing else P0 sees.
* P1 sees the same from P0 with the roles swapped, plus P2's offline messages: its halves of
  the dealt monomials, triple products, r and r * a, each minus a fresh value from the P0-P2
  PRG, hence uniform.

Given the output shares (uniform themselves), a simulator that draws every received message
uniformly produces a view indistinguishable from the real one; the tests check the
statistics of the real views for all-positive against all-negative inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..engine.context import protocol
from ..ring import DTYPE
from ..tensor import SharedTensor, mul
from .baselines import securenn
from .boolean import BitTensor, Index, InjectedBits, b2a, band, select_bits
from .opened_compare import open_masked
from .variants import DEFAULT, SECURENN, check_variant
from .wide_compare import msb_wide, mul_opened


def _bits_of(share: np.ndarray, n: int) -> np.ndarray:
    """The low n bits of each element, LSB first, as uint8 of shape (..., n)."""
    shifts = np.arange(n, dtype=DTYPE)
    return ((share[..., None] >> shifts) & np.uint64(1)).astype(np.uint8)


@protocol("msb_bits")
def msb_bits(x: SharedTensor) -> BitTensor:
    """XOR shares of the most significant (sign) bit of x: a masked opening and the two-round
    carry of :mod:`.wide_compare`. 3 rounds, 64.125 B per element."""
    return msb_wide(open_masked(x), [0])[0]


def sign_and_product(
    x: SharedTensor, negate: bool, ands: Sequence[tuple[Index, BitTensor]] = ()
) -> tuple[BitTensor, InjectedBits, SharedTensor, list[BitTensor]]:
    """XOR shares of b = msb(x) (or its NOT when ``negate``), b in the ring, b * x from the
    comparison's own opening, and ANDs ``b[idx] & y`` (:func:`~.wide_compare.mul_opened`):
    4 rounds, 80.375 B per element plus 3 bits per AND output bit."""
    opened = open_masked(x)
    bit = msb_wide(opened, [0])[0]
    if negate:
        bit = ~bit
    injected, prod, anded = mul_opened(bit, opened, ands)
    return bit, injected, prod, anded


@protocol("msb")
def msb(x: SharedTensor, variant: str = DEFAULT) -> SharedTensor:
    """Arithmetic shares of MSB(x) in {0, 1}: default 4 rounds, 72.375 B per element, any x;
    ``"securenn"`` (ShareConvert + ComputeMSB of 2x) 8 rounds, 664 B, for |x| < 2^62 units."""
    check_variant("msb", variant)
    if variant == SECURENN:
        return securenn.msb(x)
    return b2a(msb_bits(x))


@protocol("drelu")
def drelu(x: SharedTensor, variant: str = DEFAULT) -> SharedTensor:
    """Arithmetic shares of [x >= 0] in {0, 1}: default 4 rounds, 72.375 B per element, any
    x; ``"securenn"`` 8 rounds, 664 B, for |x| < 2^62 ring units."""
    check_variant("drelu", variant)
    if variant == SECURENN:
        return securenn.drelu(x)
    return b2a(~msb_bits(x))


@protocol("relu")
def relu(x: SharedTensor, variant: str = DEFAULT) -> SharedTensor:
    """max(x, 0): default 4 rounds, 80.375 B per element, any x; ``"securenn"`` 704 B and 9
    measured rounds (the paper's 10 is DReLU 8 + SelectShare 2), for |x| < 2^62 ring units."""
    check_variant("relu", variant)
    if variant == SECURENN:
        return securenn.relu(x)
    return sign_and_product(x, negate=True)[2]


def select(bit: SharedTensor | BitTensor, x: SharedTensor, y: SharedTensor | None = None) -> SharedTensor:
    """``bit ? x : y`` (y defaults to 0; numpy broadcasting) for a bit given as a BitTensor
    (:func:`~.boolean.select_bits`: 1 round, 32.25 B per element) or as ring 0/1 shares
    (one Beaver product without truncation: 1 round, 40 B per element)."""
    if isinstance(bit, BitTensor):
        return select_bits(bit, x, y)
    w = x if y is None else x - y
    out = mul(bit, w, truncate=False)
    return out if y is None else out + y


@protocol("less_than_bits")
def less_than_bits(x: SharedTensor, y: SharedTensor | float | np.ndarray) -> BitTensor:
    """XOR shares of [x < y] for a shared or public y: msb_bits(x - y), 3 rounds, 64.125 B.

    Exact while |x - y| < 2^63 ring units (|x - y| < 2^47 for 16 fractional bits); a
    public y costs the same as a shared one (the subtraction is local either way).
    """
    return msb_bits(x - y)


@protocol("less_than")
def less_than(x: SharedTensor, y: SharedTensor | float | np.ndarray) -> SharedTensor:
    """Arithmetic shares of the integer [x < y] in {0, 1}: 4 rounds, 72.375 B per element."""
    return b2a(less_than_bits(x, y))


@protocol("greater_than_bits")
def greater_than_bits(x: SharedTensor, y: SharedTensor | float | np.ndarray) -> BitTensor:
    """XOR shares of [x > y] = [y < x] (same cost and range as :func:`less_than_bits`)."""
    if isinstance(y, SharedTensor):
        return msb_bits(y - x)
    return msb_bits(-(x - y))


@protocol("greater_than")
def greater_than(x: SharedTensor, y: SharedTensor | float | np.ndarray) -> SharedTensor:
    """Arithmetic shares of the integer [x > y] in {0, 1}: 4 rounds, 72.375 B per element."""
    return b2a(greater_than_bits(x, y))


@protocol("equal_bits")
def equal_bits(x: SharedTensor, y: SharedTensor | float | np.ndarray) -> BitTensor:
    """XOR shares of [x == y], exact for any ring elements: 6 rounds, 39.375 B per element.

    d = x - y = d0 + d1 is zero iff d0 == -d1, an equality of two privately held words: the
    bits of d0 ^ (-d1) are XOR-shared for free (P0 holds d0's, P1 those of -d1); their NOTs
    are ANDed by a tree of :func:`~.boolean.band` (63 ANDs in 6 rounds: each way 126 bits,
    offline 63 bits per element). Security: that of band (uniform openings only).
    """
    d = x - y
    ctx = d.ctx
    if ctx.is_helper:
        bits = BitTensor(ctx, None, d.shape + (64,))
    else:
        own = d.mine if ctx.party == 0 else -d.mine
        bits = ~BitTensor(ctx, _bits_of(own, 64))  # 1 where the two words agree
    while bits.shape[-1] > 1:
        bits = band(bits[..., 0::2], bits[..., 1::2])
    return bits[..., 0]


@protocol("equal")
def equal(x: SharedTensor, y: SharedTensor | float | np.ndarray) -> SharedTensor:
    """Arithmetic shares of the integer [x == y] in {0, 1}: 7 rounds, 47.625 B per element."""
    return b2a(equal_bits(x, y))


@protocol("maximum")
def maximum(x: SharedTensor, y: SharedTensor) -> SharedTensor:
    """Elementwise max(x, y) = x - [x < y] (x - y): the comparison's opening of x - y serves
    the product too (4 rounds, 80.375 B)."""
    _, _, prod, _ = sign_and_product(x - y, negate=False)
    return x - prod
