"""ONNX import (graphs as PyTorch exports them) and export (checker + reference evaluator)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from spp_runtime.cli.models import resolve_model_and_weights
from spp_runtime.nn import FloatOps, load_model_config
from spp_runtime.nn.conv_layers import Conv2d, Flatten
from spp_runtime.nn.layers import Dense, MaxPool, ReLU
from spp_runtime.nn.model import load_params, save_params
from spp_runtime.nn.onnx_io import OnnxImportError, export_onnx, load_onnx, model_from_onnx
from spp_runtime.nn.runner import Hyper, train_plain

CONFIGS = "spp_runtime/configs/models"


def _torch_like_lenet(rng, extra: list | None = None, conv_attrs: dict | None = None) -> onnx.ModelProto:
    """A small LeNet as torch.onnx.export writes it: Conv with explicit pads, Relu then
    MaxPool, Flatten, Gemm with transB=1 (weights out x in), float32 initializers."""
    f32 = np.float32
    inits = {
        "conv.weight": rng.normal(0, 0.3, (4, 1, 3, 3)).astype(f32), "conv.bias": rng.normal(0, 0.1, 4).astype(f32),
        "fc1.weight": rng.normal(0, 0.1, (16, 4 * 4 * 4)).astype(f32), "fc1.bias": rng.normal(0, 0.1, 16).astype(f32),
        "fc2.weight": rng.normal(0, 0.3, (3, 16)).astype(f32), "fc2.bias": rng.normal(0, 0.1, 3).astype(f32),
    }
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], name="/conv/Conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], **(conv_attrs or {})),
        helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="/Flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc1.weight", "fc1.bias"], ["h"], name="/fc1/Gemm", transB=1),
        helper.make_node("Relu", ["h"], ["hr"], name="/relu_1/Relu"),
        helper.make_node("Gemm", ["hr", "fc2.weight", "fc2.bias"], ["z"], name="/fc2/Gemm", transB=1),
        *(extra or []),
    ]
    graph = helper.make_graph(
        nodes, "torch_jit",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info(nodes[-1].output[0], onnx.TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    return m


def test_import_a_torch_style_graph_gives_its_scores(rng, tmp_path):
    proto = _torch_like_lenet(rng, extra=[helper.make_node("Softmax", ["z"], ["prob"], name="/Softmax", axis=1)])
    onnx.save(proto, tmp_path / "lenet.onnx")
    model, params = load_onnx(tmp_path / "lenet.onnx")
    assert model.input_shape == (1, 8, 8) and model.output == "softmax"
    # relu before maxpool was moved after it (they commute)
    assert [type(l) for l in model.layers] == [Conv2d, MaxPool, ReLU, Flatten, Dense, ReLU, Dense]
    assert params["0.W"].shape == (4, 1, 3, 3) and params["4.W"].shape == (64, 16)
    x = rng.uniform(0, 1, (5, 1, 8, 8))
    (want,) = ReferenceEvaluator(proto).run(None, {"input": x.astype(np.float32)})
    ops = FloatOps()
    scores, _ = model.forward(ops, params, x.reshape(5, -1))
    assert np.max(np.abs(model.predict(ops, scores) - want)) <= 1e-5
    m2, p2 = resolve_model_and_weights(str(tmp_path / "lenet.onnx"))
    assert m2 == model and all(np.array_equal(p2[k], params[k]) for k in params)


def test_import_matmul_add_and_reshape(rng):
    w, b = rng.normal(size=(12, 4)), rng.normal(size=4)
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["flat"], name="reshape"),
        helper.make_node("MatMul", ["flat", "w"], ["mm"], name="dense/MatMul"),
        helper.make_node("Add", ["mm", "b"], ["z"], name="dense/Add"),
        helper.make_node("Tanh", ["z"], ["t"], name="tanh"),
        helper.make_node("Gemm", ["t", "w2"], ["y"], name="out"),
    ]
    w2 = rng.normal(size=(4, 2))
    graph = helper.make_graph(
        nodes, "keras_like", [helper.make_tensor_value_info("x", onnx.TensorProto.DOUBLE, [None, 3, 2, 2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.DOUBLE, [None, 2])],
        [numpy_helper.from_array(np.array([-1, 12], np.int64), "shape"), numpy_helper.from_array(w, "w"),
         numpy_helper.from_array(b, "b"), numpy_helper.from_array(w2, "w2")],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model, params = model_from_onnx(proto)
    x = rng.normal(size=(3, 3, 2, 2))
    (want,) = ReferenceEvaluator(proto).run(None, {"x": x})
    scores, _ = model.forward(FloatOps(), params, x.reshape(3, -1))
    assert np.allclose(scores, want) and np.array_equal(params[f"{len(model.layers) - 1}.b"], np.zeros(2))


@pytest.mark.parametrize("extra, conv_attrs, message", [
    ([helper.make_node("LeakyRelu", ["z"], ["q"], name="/act/LeakyRelu")], None, "node 7 '/act/LeakyRelu' \\(LeakyRelu\\): operator not supported"),
    (None, {"group": 2}, "node 0 '/conv/Conv' \\(Conv\\): attribute group=2 is not supported"),
    (None, {"dilations": [2, 2]}, "node 0 '/conv/Conv' \\(Conv\\): attribute dilations"),
    ([helper.make_node("Softmax", ["z"], ["s"], name="sm", axis=0)], None, "node 7 'sm' \\(Softmax\\)"),
])
def test_unsupported_nodes_are_refused_naming_node_and_operator(rng, extra, conv_attrs, message):
    proto = _torch_like_lenet(rng, extra=extra, conv_attrs=conv_attrs)
    with pytest.raises(OnnxImportError, match=message):
        model_from_onnx(proto)


def test_refused_before_anything_runs_from_the_cli_resolver(rng, tmp_path):
    bad = _torch_like_lenet(rng, extra=[helper.make_node("Elu", ["z"], ["q"], name="elu")])
    onnx.save(bad, tmp_path / "bad.onnx")
    with pytest.raises(OnnxImportError, match="'elu' \\(Elu\\)"):
        resolve_model_and_weights(str(tmp_path / "bad.onnx"))


@pytest.mark.parametrize("name", ["mnist_a", "mnist_b", "mnist_c", "mnist_d"])
def test_export_passes_the_checker_and_gives_the_float64_scores(rng, tmp_path, name):
    model = load_model_config(f"{CONFIGS}/{name}.toml")
    x = rng.uniform(0, 1, (32, model.inputs))
    y = np.eye(10)[rng.integers(0, 10, 32)]
    trained = train_plain(model, x, y, model.init_params(1), Hyper.of(model, epochs=1, batch_size=16))
    save_params(tmp_path / "m.npz", model, trained.params, epochs=1)
    m, params, _ = load_params(tmp_path / "m.npz")
    export_onnx(m, params, tmp_path / "m.onnx")
    proto = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    feed = x.reshape(32, *m.input_shape) if m.input_shape else x
    (got,) = ReferenceEvaluator(proto).run(None, {"input": feed})
    ops = FloatOps()
    want = m.predict(ops, m.forward(ops, params, x)[0])
    assert np.max(np.abs(got - want)) <= 1e-12
    # and back: the exported graph imports as the same model with the same weights
    m2, p2 = model_from_onnx(proto, m.name)
    assert m2.layers == m.layers and all(np.array_equal(p2[k], params[k]) for k in params)


def test_spp_export_command_writes_a_checked_graph(rng, tmp_path):
    from click.testing import CliRunner

    from spp_runtime.cli.main import cli

    model = load_model_config(f"{CONFIGS}/mnist_d.toml")
    params = model.init_params(4)
    save_params(tmp_path / "d.npz", model, params)
    res = CliRunner().invoke(cli, ["export", "--model", str(tmp_path / "d.npz"), "--onnx", str(tmp_path / "d.onnx")])
    assert res.exit_code == 0, res.output
    proto = onnx.load(str(tmp_path / "d.onnx"))
    onnx.checker.check_model(proto)
    x = rng.uniform(0, 1, (4, 784))
    (got,) = ReferenceEvaluator(proto).run(None, {"input": x.reshape(4, 1, 28, 28)})
    assert np.allclose(got, model.predict(FloatOps(), model.forward(FloatOps(), params, x)[0]), atol=1e-12)
    bad = CliRunner().invoke(cli, ["export", "--model", str(tmp_path / "d.onnx"), "--onnx", str(tmp_path / "e.onnx")])
    assert bad.exit_code != 0 and "not a model written by spp train" in bad.output
