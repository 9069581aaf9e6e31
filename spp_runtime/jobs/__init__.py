"""The job layer: what a server program is, below the applications that define programs.

``services`` (:class:`JobServices`, the typed protocol of what a running program may use
besides its inputs: progress reports and checkpoints; :class:`NullServices`, the inert
default), ``program`` (:class:`Program` and the types of its inputs, outputs, parameters and
shapes; :func:`programs_table` and :func:`compose` for programs tables).

Each application exports its own table (``apps.basic``, ``apps.stored``, ``bench.programs``,
``nn.programs``); ``apps`` composes them for ``spp server``, and the server runs whatever table
it is given. A program is ``run(ctx, inputs, params, services)``: the services are passed in,
the party context carries none.
"""

from .program import Inputs, Outputs, Params, Program, Shapes, compose, programs_table
from .services import JobServices, NullServices, Resumed, StoredModel

__all__ = [
    "Inputs", "JobServices", "NullServices", "Outputs", "Params", "Program", "Resumed", "Shapes",
    "StoredModel", "compose", "programs_table",
]
