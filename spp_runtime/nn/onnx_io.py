"""Networks written elsewhere: import an ONNX graph as a model (its initializers as initial
weights), and export a trained model as ONNX.

Import (:func:`load_onnx`) accepts a *sequential* graph, one data path from the input to the
output, as PyTorch and Keras export feed-forward networks:

==========================  =====================================================================
ONNX operator               becomes
==========================  =====================================================================
Gemm (transA=0, alpha=beta=1; transB 0 or 1)    ``dense`` (bias from C, else zero)
MatMul [+ Add of an initializer]                ``dense``
Conv (group=1, dilations 1; pads explicit or    ``conv2d`` (NCHW; weights (O, C, kh, kw))
auto_pad VALID/SAME_UPPER/NOTSET)
Relu, Sigmoid, Tanh                             the activation
MaxPool, AveragePool (square, stride = kernel,  ``maxpool`` / ``avgpool``
no padding, ceil_mode=0)
Flatten (axis=1), Reshape to (batch, -1)        ``flatten``
Softmax (last node, last axis)                  the softmax output
Identity, Dropout (inference)                   nothing
==========================  =====================================================================

Anything else, and any attribute value outside the table, raises :class:`OnnxImportError`
naming the node (index and name) and the operator, before anything runs. The model's input
is ``inputs = [C, H, W]`` for a 4-D graph input and ``inputs = F`` for a 2-D one.

Export (:func:`export_onnx`) writes the model as Conv/Gemm/Relu/Sigmoid/Tanh/MaxPool/
AveragePool/Flatten nodes (opset 13) with a final Softmax, taking ``(N, C, H, W)`` images for
convolutional models and ``(N, F)`` rows otherwise; the file passes ``onnx.checker`` and the
ONNX reference evaluator reproduces :meth:`Model.predict` in float64.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, numpy_helper

from .conv_layers import AvgPool, Conv2d, Flatten
from .layers import Dense, MaxPool, ReLU, Sigmoid, Tanh
from .model import Model, ModelConfigError, model_from_dict

OPSET = 13


class OnnxImportError(ModelConfigError):
    """An ONNX graph the runtime cannot train: names the node and the operator."""


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _refuse(i: int, node: onnx.NodeProto, why: str, source: str) -> OnnxImportError:
    return OnnxImportError(f"{source}: node {i} {node.name or '(unnamed)'!r} ({node.op_type}): {why}")


def _shape_of(vi: onnx.ValueInfoProto) -> list[int | None]:
    dims = vi.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else None for d in dims]


def load_onnx(path: str | Path, name: str | None = None) -> tuple[Model, dict[str, np.ndarray]]:
    """(model, initial float64 weights) from an ONNX file; refuses what it cannot run."""
    p = Path(path)
    try:
        proto = onnx.load(str(p))
    except FileNotFoundError:
        raise ModelConfigError(f"ONNX model {p} does not exist") from None
    except (DecodeError, OSError, ValueError) as exc:
        raise ModelConfigError(f"{p} is not an ONNX model: {exc}") from None
    return model_from_onnx(proto, name or p.stem, str(p))


def model_from_onnx(proto: onnx.ModelProto, name: str = "onnx", source: str = "ONNX model") -> tuple[Model, dict[str, np.ndarray]]:
    g = proto.graph
    inits = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in g.initializer}
    data_inputs = [vi for vi in g.input if vi.name not in inits]
    if len(data_inputs) != 1:
        raise OnnxImportError(f"{source}: needs exactly one data input, found {[vi.name for vi in data_inputs]}")
    in_shape = _shape_of(data_inputs[0])[1:]
    if len(in_shape) not in (1, 3) or any(d is None or d < 1 for d in in_shape):
        raise OnnxImportError(f"{source}: input {data_inputs[0].name!r} must be (N, F) or (N, C, H, W) with fixed "
                              f"sizes after the batch axis, got {_shape_of(data_inputs[0])}")
    current = data_inputs[0].name
    specs: list[dict[str, Any]] = []
    weights: list[dict[str, np.ndarray]] = []  # one entry per parameter layer, in order
    output = "softmax"
    nodes = list(g.node)
    skip: set[int] = set()
    for i, node in enumerate(nodes):
        if i in skip:
            continue
        op, at = node.op_type, _attrs(node)
        data = [x for x in node.input if x and x not in inits]
        if data != [current]:
            raise _refuse(i, node, f"the graph must be one chain: this node reads {data}, expected [{current!r}]", source)
        if op == "Gemm":
            if at.get("transA", 0) != 0 or at.get("alpha", 1.0) != 1.0 or at.get("beta", 1.0) != 1.0:
                raise _refuse(i, node, f"only transA=0, alpha=1, beta=1 are supported, got {at}", source)
            w = inits.get(node.input[1])
            if w is None:
                raise _refuse(i, node, "the weight B must be an initializer", source)
            w = w.T if at.get("transB", 0) else w
            b = inits.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            specs.append({"type": "dense", "units": int(w.shape[1])})
            weights.append({"W": w, "b": np.zeros(w.shape[1]) if b is None else np.broadcast_to(b, (w.shape[1],)).copy()})
        elif op == "MatMul":
            w = inits.get(node.input[1])
            if w is None or w.ndim != 2:
                raise _refuse(i, node, "the second operand must be a 2-D initializer", source)
            b = np.zeros(w.shape[1])
            nxt = nodes[i + 1] if i + 1 < len(nodes) else None
            if nxt is not None and nxt.op_type == "Add" and node.output[0] in nxt.input:
                other = [x for x in nxt.input if x != node.output[0]]
                if len(other) != 1 or other[0] not in inits:
                    raise _refuse(i + 1, nxt, "only the addition of a bias initializer follows a MatMul", source)
                b = np.broadcast_to(inits[other[0]], (w.shape[1],)).copy()
                skip.add(i + 1)
                node = nxt
            specs.append({"type": "dense", "units": int(w.shape[1])})
            weights.append({"W": w, "b": b})
        elif op == "Conv":
            specs.append(_conv_spec(i, node, at, inits, source))
            w = inits[node.input[1]]
            p = {"W": w}
            if len(node.input) > 2 and node.input[2]:
                p["b"] = inits[node.input[2]]
            specs[-1]["bias"] = "b" in p
            weights.append(p)
        elif op in ("Relu", "Sigmoid", "Tanh"):
            specs.append({"type": op.lower()})
        elif op in ("MaxPool", "AveragePool"):
            specs.append(_pool_spec(i, node, at, source))
        elif op == "Flatten":
            if at.get("axis", 1) != 1:
                raise _refuse(i, node, f"only axis=1 is supported, got axis={at.get('axis')}", source)
            specs.append({"type": "flatten"})
        elif op == "Reshape":
            shape = inits.get(node.input[1])
            if shape is None or shape.ndim != 1 or len(shape) != 2 or shape[0] not in (-1, 0) and shape[1] != -1:
                raise _refuse(i, node, "only a reshape to (batch, features) is supported", source)
            specs.append({"type": "flatten"})
        elif op == "Softmax":
            if i != len(nodes) - 1 or at.get("axis", -1) not in (-1, 1):
                raise _refuse(i, node, "softmax is supported only as the last node, over the last axis", source)
        elif op in ("Identity", "Dropout"):
            pass
        else:
            raise _refuse(i, node, "operator not supported (supported: Gemm, MatMul+Add, Conv, Relu, Sigmoid, Tanh, "
                                   "MaxPool, AveragePool, Flatten, Reshape, Softmax)", source)
        current = node.output[0]
    cfg = {"name": name, "inputs": list(in_shape) if len(in_shape) == 3 else in_shape[0], "layers": specs, "output": output}
    try:
        model = model_from_dict(cfg, source)
    except OnnxImportError:
        raise
    except ModelConfigError as exc:
        raise OnnxImportError(str(exc)) from None
    params: dict[str, np.ndarray] = {}
    param_layers = [i for i, layer in enumerate(model.layers) if isinstance(layer, (Dense, Conv2d))]
    want = model.init_params(0)
    for i, p in zip(param_layers, weights):
        for k, v in p.items():
            key = f"{i}.{k}"
            if want[key].shape != v.shape:
                raise OnnxImportError(f"{source}: parameter {key} has shape {v.shape}, the layer needs {want[key].shape}")
            params[key] = np.asarray(v, dtype=np.float64)
    return model, params


def _conv_spec(i: int, node: onnx.NodeProto, at: dict[str, Any], inits: dict[str, np.ndarray], source: str) -> dict[str, Any]:
    if at.get("group", 1) != 1:
        raise _refuse(i, node, f"attribute group={at['group']} is not supported (only 1)", source)
    if any(d != 1 for d in at.get("dilations", [1, 1])):
        raise _refuse(i, node, f"attribute dilations={at['dilations']} is not supported (only 1)", source)
    w = inits.get(node.input[1])
    if w is None or w.ndim != 4:
        raise _refuse(i, node, "the weight must be a 4-D initializer (O, C, kh, kw)", source)
    kernel = [int(k) for k in at.get("kernel_shape", w.shape[2:])]
    if kernel != list(w.shape[2:]):
        raise _refuse(i, node, f"kernel_shape {kernel} does not match the weight {list(w.shape)}", source)
    auto = at.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto == "VALID":
        padding: Any = "valid"
    elif auto == "SAME_UPPER":
        padding = "same"
    elif auto == "NOTSET":
        pads = [int(v) for v in at.get("pads", [0, 0, 0, 0])]
        padding = "valid" if not any(pads) else [pads[0], pads[2], pads[1], pads[3]]  # ONNX: begins, then ends
    else:
        raise _refuse(i, node, f"attribute auto_pad={auto} is not supported (VALID, SAME_UPPER, NOTSET)", source)
    return {"type": "conv2d", "filters": int(w.shape[0]), "kernel": kernel,
            "stride": [int(s) for s in at.get("strides", [1, 1])], "padding": padding}


def _pool_spec(i: int, node: onnx.NodeProto, at: dict[str, Any], source: str) -> dict[str, Any]:
    k = [int(v) for v in at.get("kernel_shape", [])]
    strides = [int(v) for v in at.get("strides", k)]
    if len(k) != 2 or k[0] != k[1] or strides != k:
        raise _refuse(i, node, f"only square windows with stride = window are supported, got kernel_shape={k} "
                               f"strides={strides}", source)
    if any(at.get("pads", [0, 0, 0, 0])) or at.get("ceil_mode", 0) or any(d != 1 for d in at.get("dilations", [1, 1])):
        raise _refuse(i, node, "pads, ceil_mode and dilations are not supported", source)
    auto = at.get("auto_pad", b"NOTSET")
    if (auto.decode() if isinstance(auto, bytes) else str(auto)) not in ("NOTSET", "VALID"):
        raise _refuse(i, node, f"attribute auto_pad={auto!r} is not supported", source)
    return {"type": "maxpool" if node.op_type == "MaxPool" else "avgpool", "window": k[0]}


def export_onnx(model: Model, params: dict[str, np.ndarray], path: str | Path) -> onnx.ModelProto:
    """Write ``model`` with ``params`` as an ONNX file (opset 13) that passes the checker."""
    if model.output == "relu_output":
        raise ModelConfigError("a relu_output model predicts with the ReLU replacement, which has no ONNX node here")
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    in_dims: list[int | str] = ["N", *model.input_shape] if model.input_shape else ["N", model.inputs]
    current, rank = "input", len(in_dims)
    for i, layer in enumerate(model.layers):
        out = f"t{i}"
        if isinstance(layer, Dense):
            if rank != 2:
                nodes.append(helper.make_node("Flatten", [current], [f"{out}_flat"], axis=1, name=f"flatten_{i}"))
                current, rank = f"{out}_flat", 2
            inits += [numpy_helper.from_array(params[f"{i}.W"].astype(np.float64), f"W{i}"),
                      numpy_helper.from_array(params[f"{i}.b"].astype(np.float64), f"b{i}")]
            nodes.append(helper.make_node("Gemm", [current, f"W{i}", f"b{i}"], [out], name=f"dense_{i}"))
        elif isinstance(layer, Conv2d):
            g = layer.geom
            t, b, l, r = g.pads
            ins = [current, f"W{i}"]
            inits.append(numpy_helper.from_array(params[f"{i}.W"].astype(np.float64), f"W{i}"))
            if layer.bias:
                inits.append(numpy_helper.from_array(params[f"{i}.b"].astype(np.float64), f"b{i}"))
                ins.append(f"b{i}")
            pad: dict[str, Any] = {"auto_pad": "SAME_UPPER"} if g.padding == "same" else {"pads": [t, l, b, r]}
            nodes.append(helper.make_node("Conv", ins, [out], kernel_shape=list(g.kernel), strides=list(g.stride),
                                          name=f"conv_{i}", **pad))
        elif isinstance(layer, (MaxPool, AvgPool)):
            op = "MaxPool" if isinstance(layer, MaxPool) else "AveragePool"
            k = layer.window
            nodes.append(helper.make_node(op, [current], [out], kernel_shape=[k, k], strides=[k, k], name=f"pool_{i}"))
        elif isinstance(layer, (ReLU, Sigmoid, Tanh)):
            nodes.append(helper.make_node({ReLU: "Relu", Sigmoid: "Sigmoid", Tanh: "Tanh"}[type(layer)], [current], [out],
                                          name=f"{type(layer).__name__.lower()}_{i}"))
        elif isinstance(layer, Flatten):
            nodes.append(helper.make_node("Flatten", [current], [out], axis=1, name=f"flatten_{i}"))
            rank = 2
        else:  # pragma: no cover - every layer type is handled above
            raise ModelConfigError(f"layer {i} ({type(layer).__name__}) has no ONNX export")
        current = out
    nodes.append(helper.make_node("Softmax", [current], ["scores"], axis=-1, name="softmax"))
    graph = helper.make_graph(
        nodes, model.name,
        [helper.make_tensor_value_info("input", onnx.TensorProto.DOUBLE, in_dims)],
        [helper.make_tensor_value_info("scores", onnx.TensorProto.DOUBLE, ["N", model.outputs])],
        inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="spp_runtime")
    proto.ir_version = min(proto.ir_version, 8)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
    return proto
