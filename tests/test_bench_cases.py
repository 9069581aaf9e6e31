"""Every registered benchmark case runs in-process and meets its declared accuracy bar."""

import numpy as np
import pytest

from spp_runtime.bench.registry import ALL_CASES, get_case
from spp_runtime.tensor import share_input


@pytest.mark.parametrize("name", sorted(ALL_CASES))
def test_case_runs_and_matches_reference(run3, name):
    case = ALL_CASES[name]
    for variant in case.variants:
        plain = case.make_inputs((8, 4), np.random.default_rng(5), variant)

        def prog(ctx):
            shared = {
                k: share_input(ctx, v if ctx.party == 0 else None, 0, v.shape) for k, v in plain.items()
            }
            return case.program(ctx, shared, variant).reveal()

        got = run3(prog).outputs[0]
        want = case.reference(**plain)
        assert got.shape == want.shape
        tol = case.tolerance_for(variant)
        if variant == "spp":
            # The paper's construction fails a local truncation now and then (about one
            # element in 10^4 at large |x|, off by far more than its bar; docs/SPP.md):
            # tolerate one such element here, never two.
            per = np.array([case.error(g, w) for g, w in zip(got.ravel(), want.ravel())])
            assert np.sum(per > tol) <= 1, (name, variant, np.sort(per)[-2:])
        else:
            err = case.error(got, want)
            assert err <= tol, (name, variant, err)


def test_unknown_case_names_known_ones():
    with pytest.raises(KeyError, match="known: .*matmul"):
        get_case("nope")
