"""The prediction service: a client's query rows through a model kept on the servers.

``predict`` (job field ``model``: a model stored by ``spp train --save-as``): input ``x``, the
query rows the client secret-shares itself (nothing is stored); output ``scores``, shares
that only the querying client receives and reconstructs. Params: ``output`` = ``"logits"``
(default: the last layer's values; softmax probabilities carry the same information, up to
one constant per row, and the client computes them locally for free) or ``"model"`` (the
model's own output function computed on shares: softmax, or the ReLU replacement).

Who may query is decided before anything runs, by P0 and P1 each from its own stores
(``StorageService.authorize_model``: the model owner's ``predict`` grant and every training
data owner's current ``infer`` grant; the owner queries its own model freely), and the rows
are charged against the client's budget on the model (``Program.takes_model``).

The weights are opened once per model and the opening is reused (:mod:`.masked_weights`):
per query only the input of each dense layer is opened. Network A (784-128-128-10, ReLU),
one row: 3 products (1 round each, 8 bytes per input element each way), two ReLUs (the
default sign-bit protocol, 7 rounds each) and the opening agreement (1 round).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..engine.context import PartyContext
from ..errors import SppError
from ..jobs import (
    Inputs,
    JobServices,
    Outputs,
    Params,
    Program,
    Shapes,
    StoredModel,
    programs_table,
)
from ..jobs.limits import elements
from ..tensor import SharedTensor
from .layers import Dense
from .masked_weights import FixedOperand, fixed_matmul, open_weights
from .model import Model, model_from_dict
from .ops import SecureOps

OUTPUTS = ("logits", "model")


def _output(params: Params) -> str:
    out = params.get("output", "logits")
    if out not in OUTPUTS:
        raise ValueError(f"predict: output must be one of {', '.join(OUTPUTS)}, got {str(out)[:40]!r}")
    return str(out)


def _check(params: Params, shapes: Shapes) -> None:
    unknown = sorted(set(params) - {"output"})
    if unknown:
        raise ValueError(f"predict takes the parameter output only, got {unknown}")
    _output(params)
    x = tuple(shapes.get("x", ()))
    if len(x) != 2 or x[0] < 1:
        raise ValueError(f"predict needs x: rows x features (at least one row), got shape {list(x)}")


def _check_model(params: Params, shapes: Shapes, record: Mapping[str, Any]) -> int:
    """The job against the stored model's public record; returns the rows asked for."""
    model = model_from_dict(dict(record["config"]), "stored model")
    x = tuple(shapes["x"])
    if x[1] != model.inputs:
        raise ValueError(f"model {record.get('name')!r} takes rows of {model.inputs} features; the query rows "
                         f"have {x[1]}")
    want = model.param_shapes()
    have = {k: tuple(v) for k, v in record["tensors"].items()}
    if want != have:
        raise ValueError(f"stored model {record.get('name')!r} does not match its config")
    return int(x[0])


def _size(params: Params, shapes: Shapes) -> int:
    """Without the model's record: the query rows."""
    return elements(shapes["x"])


def _size_model(params: Params, shapes: Shapes, record: Mapping[str, Any]) -> int:
    """Elements of the largest tensor a query computes: a weight matrix (opened once), or the
    query rows at the model's widest layer (all rows go through at once)."""
    model = model_from_dict(dict(record["config"]), "stored model")
    rows = shapes["x"][0]
    return max([rows * max(model.widths()), *(elements(s) for s in model.param_shapes().values())])


def dense_weights(model: Model) -> list[str]:
    return [f"{i}.W" for i, layer in enumerate(model.layers) if isinstance(layer, Dense)]


def forward(ctx: PartyContext, model: Model, weights: Mapping[str, FixedOperand],
            biases: Mapping[str, SharedTensor], x: SharedTensor) -> SharedTensor:
    """The logits of ``x`` with weights opened once and shared biases."""
    ops = SecureOps(ctx)
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Dense):
            x = fixed_matmul(x, weights[f"{i}.W"]) + biases[f"{i}.b"]
        else:  # activations and pooling: no parameters
            x, _ = layer.forward(ops, {}, x)
    return x


def load_model(ctx: PartyContext, stored: StoredModel) -> tuple[Model, dict[str, FixedOperand], dict[str, SharedTensor]]:
    """The stored model's config, its weights opened once (:func:`open_weights`) and this
    party's shares of the biases. SPMD."""
    model = model_from_dict(dict(stored.config), f"stored model {stored.name!r}")
    names = dense_weights(model)
    weights = open_weights(ctx, stored, names)
    bias_names = [n[:-1] + "b" for n in names]
    shares = {} if ctx.is_helper else stored.load_shares(bias_names)
    biases = {k: SharedTensor.like(ctx, shares.get(k), stored.shapes[k]) for k in bias_names}
    return model, weights, biases


def _predict(ctx: PartyContext, t: Inputs, params: Params, svc: JobServices) -> Outputs:
    stored = svc.stored_model
    if stored is None:
        raise SppError("predict runs a stored model: submit it with model=NAME (spp predict --model NAME)")
    model, weights, biases = load_model(ctx, stored)
    scores = forward(ctx, model, weights, biases, t["x"])
    if _output(params) == "model":
        scores = model.predict(SecureOps(ctx), scores)
    return {"scores": scores}


PROGRAMS: Mapping[str, Program] = programs_table(
    Program("predict", _predict, ("x",), _check,
            "scores of the client's query rows x under a model kept on the servers (job field model)",
            takes_model=_check_model, size=_size, model_size=_size_model),
)
