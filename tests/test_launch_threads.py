"""BLAS threads of party processes: one by default, SPP_BLAS_THREADS checked at its edges."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spp_runtime.errors import SppError
from spp_runtime.launch.threads import blas_threads_from_env


@pytest.mark.parametrize("raw, expected", [(None, 1), ("1", 1), ("3", 3)])
def test_blas_threads_from_env(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("SPP_BLAS_THREADS", raising=False)
    else:
        monkeypatch.setenv("SPP_BLAS_THREADS", raw)
    assert blas_threads_from_env() == expected


@pytest.mark.parametrize("raw", ["0", "-1", "two", ""])
def test_a_bad_thread_count_is_a_clear_error(monkeypatch, raw):
    monkeypatch.setenv("SPP_BLAS_THREADS", raw)
    with pytest.raises(SppError, match="SPP_BLAS_THREADS must be a positive integer"):
        blas_threads_from_env()


def test_the_limit_takes_effect_in_a_fresh_process():
    code = ("import numpy, threadpoolctl\n"
            "from spp_runtime.launch.threads import limit_blas_threads\n"
            "limit_blas_threads(1)\n"
            "print(max(p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "1"
