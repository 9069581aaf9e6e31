"""The programs a server offers: every application's programs table, composed.

``basic`` (``matmul``, ``mul``, ``demo``), ``stored`` (``dense_scores``, ``column_sums``: programs
over stored datasets that use the job services), and the tables the applications export
themselves: ``bench.programs`` (``bench``), ``nn.programs`` (``train``, ``infer``) and
``nn.predict`` (``predict``: a stored model on the client's query rows).
``spp server`` hands :data:`PROGRAMS` to the server; the server itself imports no application.
Adding a program is one entry in its application's table.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..bench import programs as bench_programs
from ..jobs import Program, compose
from ..nn import predict as nn_predict
from ..nn import programs as nn_programs
from . import basic, stored

PROGRAMS: Mapping[str, Program] = compose(
    basic.PROGRAMS, bench_programs.PROGRAMS, stored.PROGRAMS, nn_programs.PROGRAMS, nn_predict.PROGRAMS
)

__all__ = ["PROGRAMS"]
