"""Server programs for networks: ``train`` and ``infer`` on stored datasets.

``train`` inputs: ``x`` (rows of features) and ``y`` (integer labels (N,) or one-hot (N, C))
from a stored dataset, optionally ``x_test``/``y_test``, and the initial weights
``param.<name>`` shared by the client. Params: ``model`` (the config as a dict), ``hyper``
(lr, momentum, batch_size, epochs, seed) and ``report_accuracy`` (open the count of correct
test predictions after each epoch). With a checkpoint id the job saves the weights and the
optimiser state after every epoch and, when resubmitted, resumes after the last saved one.
Outputs: ``param.<name>`` (shares for the receiver to reconstruct) and the public
``test_accuracy`` per epoch trained in this job (NaN where not asked). With ``save_as`` (job
field) the weights stay on the servers as a stored model instead (``services.save_model``)
and no ``param.<name>`` output is returned.

``infer`` inputs: ``x`` (stored), optionally ``y``, and ``param.<name>``; outputs the class
scores (``scores``: softmax, or the replacement for ``relu_output`` models) and, with labels,
the public count of correct predictions (``correct``), summed as shares over the batches and
opened once (a per-batch count with batch 1 would tell the servers which rows are right).

Access (``Program.access``, checked by P0 and P1 before the job runs): on a dataset the
client does not own, ``train`` needs the ``train`` grant on ``x``/``y``, plus ``release-model``
unless the model stays on the servers (``save_as``: otherwise the trained weights leave the
servers as the client's shares), and ``infer`` on the test set ``x_test``/``y_test``; ``infer``
needs ``infer`` on ``x``/``y``. Weights fed from a stored dataset (``param.*``) must be the
client's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..api.access import INFER, RELEASE_MODEL, TRAIN, Rights
from ..engine.context import PartyContext
from ..jobs import Inputs, JobServices, Outputs, Params, Program, Shapes, programs_table
from ..jobs.limits import elements
from ..tensor import SharedTensor
from .model import Model, model_from_dict
from .ops import SecureOps
from .runner import Hyper
from .train import EVAL_BATCH, fit, secure_onehot

PARAM, STATE = "param.", "state."


_HYPER = ("lr", "momentum", "batch_size", "epochs", "seed")
_HYPER_OPTIONAL = ("clip",)


def _model(params: Params) -> Model:
    cfg = params.get("model")
    if not isinstance(cfg, dict):
        raise TypeError("params.model must be a model config (a map: name, inputs, layers, output)")
    return model_from_dict(cfg, "job model")


def _hyper(params: Params) -> Hyper:
    h = params.get("hyper")
    if not isinstance(h, dict) or not set(_HYPER) <= set(h) <= set(_HYPER + _HYPER_OPTIONAL):
        raise ValueError(f"params.hyper must map exactly {', '.join(_HYPER)} (and optionally "
                         f"{', '.join(_HYPER_OPTIONAL)})")
    return Hyper(**h)


def _batch(params: Params) -> int:
    batch = params.get("batch", EVAL_BATCH)
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 1 << 32:
        raise ValueError(f"batch must be a positive integer, got {str(batch)[:40]}")
    return batch


def _weights(t: Inputs) -> dict[str, SharedTensor]:
    return {k[len(PARAM):]: v for k, v in t.items() if k.startswith(PARAM)}


def _check_weights(model: Model, shapes: Shapes) -> None:
    want = model.param_shapes()
    got = {k[len(PARAM):]: tuple(v) for k, v in shapes.items() if k.startswith(PARAM)}
    if got != want:
        raise ValueError(f"model {model.name} needs weights {want}, got {got}")


def _check_data(model: Model, shapes: Shapes, x: str, y: str | None) -> None:
    if len(shapes[x]) != 2 or shapes[x][1] != model.inputs:
        raise ValueError(f"{x} must be rows of {model.inputs} features, got shape {list(shapes[x])}")
    if y is not None and y in shapes:
        ys = tuple(shapes[y])
        if ys not in ((shapes[x][0],), (shapes[x][0], model.outputs)):
            raise ValueError(f"{y} must be {shapes[x][0]} labels or one-hot rows of {model.outputs}, got {list(ys)}")


def _size(model: Model, batch: int, shapes: Shapes, *pairs: tuple[str, str]) -> int:
    """Elements of the largest tensor a train or infer job computes: a batch of activations
    at the widest layer, a weight matrix (and its gradient), the one-hot labels of a whole
    input (N, classes) and the scores of all rows."""
    widest, classes = max(model.widths()), model.outputs
    sizes = [elements(s) for s in model.param_shapes().values()]
    for x, _ in pairs:
        if x in shapes:
            n = shapes[x][0]
            sizes += [min(batch, n) * widest, n * classes]
    return max(sizes)


def _size_train(params: Params, shapes: Shapes) -> int:
    model, hyper = _model(params), _hyper(params)
    return max(_size(model, hyper.batch_size, shapes, ("x", "y")),
               _size(model, EVAL_BATCH, shapes, ("x_test", "y_test")))


def _size_infer(params: Params, shapes: Shapes) -> int:
    return _size(_model(params), _batch(params), shapes, ("x", "y"))


def _check_train(params: Params, shapes: Shapes) -> None:
    model = _model(params)
    _hyper(params)
    for name in ("x", "y"):
        if name not in shapes:
            raise ValueError(f"train needs inputs x and y (a stored dataset), missing {name}")
    _check_data(model, shapes, "x", "y")
    if ("x_test" in shapes) != ("y_test" in shapes):
        raise ValueError("x_test and y_test go together")
    if "x_test" in shapes:
        _check_data(model, shapes, "x_test", "y_test")
    _check_weights(model, shapes)


def _train(ctx: PartyContext, t: Inputs, params: Params, svc: JobServices) -> Outputs:
    model, hyper = _model(params), _hyper(params)
    weights = _weights(t)
    x, y = t["x"], secure_onehot(t["y"], model.outputs)
    test = (t["x_test"], secure_onehot(t["y_test"], model.outputs)) if "x_test" in t and params.get("report_accuracy") else None
    shapes = {f"{PARAM}{k}": v.shape for k, v in weights.items()}
    if hyper.momentum:
        shapes.update({f"{STATE}{k}": v.shape for k, v in weights.items()})
    resumed = svc.load_checkpoint(shapes)
    start, state = 0, None
    if resumed is not None:
        start = resumed.step + 1
        weights = {k[len(PARAM):]: v for k, v in resumed.tensors.items() if k.startswith(PARAM)}
        state = {k[len(STATE):]: v for k, v in resumed.tensors.items() if k.startswith(STATE)} or None
    n_batches = -(-x.shape[0] // hyper.batch_size)
    total = max(hyper.epochs - start, 0) * n_batches
    accuracy: list[float] = []

    def on_batch(epoch: int, done: int, of: int) -> None:
        svc.progress((epoch - start) * of + done, total, {"epoch": epoch + 1, "epochs": hyper.epochs})

    def on_epoch(res: Any, p: dict[str, SharedTensor], s: dict[str, SharedTensor]) -> None:
        acc = res.test_accuracy
        accuracy.append(float("nan") if acc is None else acc)
        info: dict[str, Any] = {"epoch": res.epoch, "epochs": hyper.epochs, "seconds": round(res.seconds, 2)}
        if acc is not None:
            info["test_accuracy"] = acc
        if svc.checkpoint_id is not None:
            tensors = {f"{PARAM}{k}": v for k, v in p.items()} | {f"{STATE}{k}": v for k, v in s.items()}
            svc.save_checkpoint(tensors, step=res.epoch - 1, info=info)
        svc.progress(total if res.epoch == hyper.epochs else (res.epoch - start) * n_batches, total, info)

    weights, _, _ = fit(SecureOps(ctx), model, weights, x, y, state=state, start_epoch=start, test=test,
                        on_batch=on_batch, on_epoch=on_epoch, **hyper.kwargs())
    out: dict[str, Any] = {}
    if svc.save_as is not None:  # the model stays on the servers
        svc.save_model(weights, config=model.to_dict(), info={"hyper": hyper.kwargs(), "accuracy": accuracy})
    else:
        out.update({f"{PARAM}{k}": v for k, v in weights.items()})
    out["test_accuracy"] = np.array(accuracy, dtype=np.float64)
    out["start_epoch"] = np.array([start], dtype=np.float64)
    return out


def _check_infer(params: Params, shapes: Shapes) -> None:
    model = _model(params)
    if "x" not in shapes:
        raise ValueError("infer needs an input x (a stored dataset)")
    _check_data(model, shapes, "x", "y")
    _check_weights(model, shapes)
    _batch(params)


def _infer(ctx: PartyContext, t: Inputs, params: Params, svc: JobServices) -> Outputs:
    model = _model(params)
    ops = SecureOps(ctx)
    weights = _weights(t)
    x = t["x"]
    batch = _batch(params)
    y = secure_onehot(t["y"], model.outputs) if "y" in t else None
    parts: list[SharedTensor] = []
    wrong: SharedTensor | None = None  # summed as shares: only the total is opened
    for i in range(0, x.shape[0], batch):
        scores, _ = model.forward(ops, weights, x[i : i + batch], keep=False)
        parts.append(model.predict(ops, scores))
        if y is not None:
            w = ops.count_wrong(parts[-1], y[i : i + batch])
            wrong = w if wrong is None else wrong + w
        svc.progress(min(i + batch, x.shape[0]), x.shape[0], {})
    out: dict[str, Any] = {"scores": SharedTensor.concatenate(parts, axis=0)}
    if wrong is not None:
        n_wrong = ops.open_count(wrong)
        out["correct"] = np.array([np.nan if n_wrong is None else x.shape[0] - n_wrong], dtype=np.float64)
    return out


def _train_access(params: Params, keeps_model: bool) -> Mapping[str, Rights]:
    fit = frozenset({TRAIN}) if keeps_model else frozenset({TRAIN, RELEASE_MODEL})
    return {"x": fit, "y": fit, "x_test": frozenset({INFER}), "y_test": frozenset({INFER})}


def _infer_access(params: Params, keeps_model: bool) -> Mapping[str, Rights]:
    return {"x": frozenset({INFER}), "y": frozenset({INFER})}
def _label_classes(params: Params) -> dict[str, int]:
    classes = _model(params).outputs
    return {"y": classes, "y_test": classes}


PROGRAMS: Mapping[str, Program] = programs_table(
    Program("train", _train, None, _check_train,
            "train a model (params: model, hyper, report_accuracy) on stored x, y; checkpoints per epoch",
            access=_train_access, stores_model=True, size=_size_train, label_classes=_label_classes),
    Program("infer", _infer, None, _check_infer,
            "class scores of a model on stored x (and the correct count when y is given)",
            access=_infer_access, size=_size_infer, label_classes=_label_classes),
)
