"""Sequential models from TOML configs; initial weights from a seed; saved models as .npz.

A model config (see ``configs/models/``)::

    name = "mnist_a"
    inputs = 784
    layers = [
      { type = "dense", units = 128 }, { type = "relu" },
      { type = "dense", units = 128 }, { type = "relu" },
      { type = "dense", units = 10 },
    ]
    output = "softmax"        # softmax | relu_output | relu_grad

    [train]                   # defaults for `spp train`; the command line overrides them
    lr = 0.05
    momentum = 0.9
    batch_size = 128
    epochs = 10
    seed = 1

``output``: ``softmax`` trains with softmax + cross-entropy (gradient p - y); ``relu_output``
uses the ReLU replacement relu(z_i) / sum_j relu(z_j) (SecureML) as the output activation in
training and prediction; ``relu_grad`` uses the replacement only for the gradient and
softmax for prediction (Keller and Sun's variants).

Convolutional models give the image shape, NCHW without the batch: ``inputs = [1, 28, 28]``
(rows of data stay flat, C*H*W features in NCHW order), and use::

    { type = "conv2d", filters = 20, kernel = 5, stride = 1, padding = "valid", bias = true },
    { type = "maxpool", window = 2 }, { type = "avgpool", window = 2 }, { type = "flatten" },

(``kernel``/``stride`` an int or [h, w]; ``padding`` "valid", "same" or [top, bottom, left,
right]; pooling windows are non-overlapping and take the channels and size from the layer
before). ReLU and max pooling commute (max(relu(x)) = relu(max(x))), so a ``relu`` directly
before a ``maxpool`` is moved after it: the comparisons of the ReLU then run on a quarter of
the elements; :meth:`Model.summary` says so.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from ..protocols.conv import ConvGeometry
from .conv_layers import AvgPool, Conv2d, Flatten
from .layers import ACTIVATIONS, Dense, Layer, MaxPool, ReLU, Shaped, Trainable
from .ops import Ops
from .recurrent import CELLS, RECURRENT_TYPES, make_recurrent

OUTPUTS = ("softmax", "relu_output", "relu_grad")
MAX_WIDTH = 1 << 32  # features of any layer (the job's element limit is usually far lower)
MAX_LAYERS = 256
MAX_EPOCHS = 1_000_000
MAX_LR = 1e6


class ModelConfigError(ValueError):
    """A model config that cannot describe a network."""


def _count(value: object, what: str, lo: int = 1, hi: int = MAX_WIDTH) -> int:
    """An integer in [lo, hi] (not a bool, float, string or infinity)."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ModelConfigError(f"{what} must be an integer in [{lo}, {hi}], got {str(value)[:40]}")
    return value


def _real(value: object, what: str, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite number in the interval (bounds open where asked)."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ModelConfigError(f"{what} must be a finite number in {interval}, got {str(value)[:40]}")
    return float(value)  # type: ignore[arg-type]


def check_train_settings(lr: object, momentum: object, batch_size: object, epochs: object, seed: object,
                         clip: object = 0.0) -> None:
    """Refuse training settings out of range (NaN, infinities, zero or negative sizes, fractions
    where an integer is needed), naming the setting."""
    _real(lr, "lr", 0.0, MAX_LR, lo_open=True)
    _real(momentum, "momentum", 0.0, 1.0, hi_open=True)
    _count(batch_size, "batch_size")
    _count(epochs, "epochs", 1, MAX_EPOCHS)
    _count(seed, "seed", 0, (1 << 63) - 1)
    _real(clip, "clip", 0.0, MAX_LR)


@dataclass(frozen=True)
class TrainDefaults:
    lr: float = 0.05
    momentum: float = 0.9
    batch_size: int = 128
    epochs: int = 10
    seed: int = 1
    clip: float = 0.0  # clip each mean-gradient entry to [-clip, clip] (0: off)

    def __post_init__(self) -> None:
        check_train_settings(self.lr, self.momentum, self.batch_size, self.epochs, self.seed, self.clip)


@dataclass(frozen=True)
class Model:
    """A sequential network: layers, the output rule and default training settings."""

    name: str
    inputs: int
    layers: tuple[Layer, ...]
    output: str = "softmax"
    train: TrainDefaults = field(default_factory=TrainDefaults)
    input_shape: tuple[int, ...] = ()  # (steps, features) for sequence models, (C, H, W) for convolutional, else ()

    @property
    def outputs(self) -> int:
        return _width(self.layers, self.inputs)

    def to_dict(self) -> dict[str, Any]:
        """The config this model is built from (``model_from_dict(m.to_dict()) == m``)."""
        layers: list[dict[str, Any]] = []
        for layer in self.layers:
            if isinstance(layer, Dense):
                layers.append({"type": "dense", "units": layer.n_out})
            elif isinstance(layer, MaxPool):
                layers.append({"type": "maxpool", "channels": layer.channels, "height": layer.height,
                               "width": layer.width, "window": layer.window})
            elif isinstance(layer, RECURRENT_TYPES):
                layers.append(layer.spec())
            elif isinstance(layer, Conv2d):
                g = layer.geom
                layers.append({"type": "conv2d", "filters": g.out_channels, "kernel": list(g.kernel),
                               "stride": list(g.stride), "bias": layer.bias,
                               "padding": g.padding if isinstance(g.padding, str) else list(g.padding)})
            elif isinstance(layer, AvgPool):
                layers.append({"type": "avgpool", "channels": layer.channels, "height": layer.height,
                               "width": layer.width, "window": layer.window})
            else:
                layers.append({"type": type(layer).__name__.lower()})
        inputs: Any = list(self.input_shape) if self.input_shape else self.inputs
        return {"name": self.name, "inputs": inputs, "layers": layers, "output": self.output,
                "train": dataclasses.asdict(self.train)}

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of every weight, as :meth:`init_params` makes them (nothing allocated)."""
        shapes: dict[str, tuple[int, ...]] = {}
        for i, layer in enumerate(self.layers):
            if _trainable(layer):
                shapes.update({f"{i}.{k}": v for k, v in layer.param_shapes().items()})
        return shapes

    def widths(self) -> list[int]:
        """Features per row at the input and after each layer (a recurrent layer adds the
        widest per-row tensor it computes inside: its steps' stacked inputs and gates; a
        convolution its im2col view of the input, one patch per output position)."""
        out = [self.inputs]
        for layer in self.layers:
            if isinstance(layer, (*RECURRENT_TYPES, Conv2d)):
                out.append(layer.inner_width())
            out.append(layer.n_out if isinstance(layer, Shaped) else out[-1])
        return out

    def param_names(self) -> list[str]:
        return [f"{i}.{k}" for i, layer in enumerate(self.layers) if _trainable(layer) for k in layer.param_shapes()]

    def summary(self) -> list[str]:
        """One line per layer with its output size, and notes on reordered or fused work."""
        lines = [f"model {self.name}: inputs {list(self.input_shape) if self.input_shape else self.inputs}"]
        shape: tuple[int, ...] = self.input_shape or (self.inputs,)
        for i, layer in enumerate(self.layers):
            shape = _out_shape(layer, shape)
            note = ""
            before = self.layers[i - 1] if i > 0 else None
            if isinstance(layer, ReLU) and isinstance(before, MaxPool):
                w = before.window
                note = (f"  (after maxpool: relu and maxpool commute, so maxpool runs first and relu "
                        f"compares 1/{w * w} of the elements)")
            lines.append(f"  {i}: {_describe(layer)} -> {list(shape)}{note}")
        lines.append(f"  output: {self.output}")
        return lines

    def init_params(self, seed: int) -> dict[str, np.ndarray]:
        """float64 initial weights from ``seed`` (He for layers before ReLU, else Glorot)."""
        rng = np.random.default_rng(seed)
        params: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            if _trainable(layer):
                nxt = next((l for l in self.layers[i + 1 :] if not isinstance(l, (MaxPool, AvgPool, Flatten))), None)
                act = type(nxt).__name__.lower() if nxt is not None else "linear"
                for k, v in layer.init(rng, act).items():
                    params[f"{i}.{k}"] = v
        return params

    def forward(self, ops: Ops, params: dict[str, Any], x: Any, keep: bool = True) -> tuple[Any, list[Any]]:
        """Scores (logits) for a batch, and each layer's cache when ``keep``."""
        caches = []
        for i, layer in enumerate(self.layers):
            x, cache = layer.forward(ops, _own(params, i), x)
            if keep:
                caches.append(cache)
        return x, caches

    def backward(self, ops: Ops, params: dict[str, Any], caches: list[Any], dz: Any, step: float = 1.0) -> dict[str, Any]:
        """Parameter gradients summed over the batch and multiplied by ``step``, from the
        gradient at the scores."""
        grads: dict[str, Any] = {}
        first = min((i for i, l in enumerate(self.layers) if _trainable(l)), default=0)
        for i in range(len(self.layers) - 1, first - 1, -1):
            dz, g = self.layers[i].backward(ops, _own(params, i), caches[i], dz, need_dx=i > first, step=step)
            grads.update({f"{i}.{k}": v for k, v in g.items()})
        return grads

    def predict(self, ops: Ops, scores: Any) -> Any:
        """Class scores for prediction: the replacement for ``relu_output``, else softmax."""
        return ops.softmax_relu(scores) if self.output == "relu_output" else ops.softmax(scores)

    def output_for_gradient(self, ops: Ops, scores: Any) -> Any:
        """p in the gradient p - y: softmax, or the replacement for both relu variants."""
        return ops.softmax(scores) if self.output == "softmax" else ops.softmax_relu(scores)


def _own(params: dict[str, Any], i: int) -> dict[str, Any]:
    prefix = f"{i}."
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


def _trainable(layer: Layer) -> TypeGuard[Trainable]:
    """Layers with parameters (dense, recurrent): a width and seeded initial weights."""
    return isinstance(layer, Trainable)


def _width(layers: tuple[Layer, ...], n: int) -> int:
    for layer in layers:
        if isinstance(layer, Shaped):
            n = layer.n_out
    return n


def _out_shape(layer: Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(layer, Dense):
        return (layer.n_out,)
    if isinstance(layer, Conv2d):
        return layer.out_shape
    if isinstance(layer, (MaxPool, AvgPool)):
        return (layer.channels, layer.height // layer.window, layer.width // layer.window)
    if isinstance(layer, Flatten):
        return (int(np.prod(shape)),)
    if isinstance(layer, Shaped):
        return (layer.n_out,)
    return shape


def _describe(layer: Layer) -> str:
    if isinstance(layer, Dense):
        return f"dense {layer.n_in}->{layer.n_out}"
    if isinstance(layer, Conv2d):
        g = layer.geom
        return (f"conv2d {g.kernel[0]}x{g.kernel[1]} {g.in_channels}->{g.out_channels} channels, stride "
                f"{g.stride[0]}x{g.stride[1]}, padding {g.padding}{'' if layer.bias else ', no bias'}")
    if isinstance(layer, (MaxPool, AvgPool)):
        return f"{type(layer).__name__.lower()} {layer.window}x{layer.window}"
    return type(layer).__name__.lower()


def _pair(v: Any, what: str) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise ValueError(f"{what} must be an int or [h, w]")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _conv_layer(spec: dict[str, Any], shape: tuple[int, ...] | None, where: str) -> Conv2d:
    if shape is None or len(shape) != 3:
        raise ModelConfigError(f"{where} (conv2d) needs an image input: inputs = [C, H, W] and no dense layer before")
    try:
        pad = spec.get("padding", "valid")
        padding = pad if isinstance(pad, str) else tuple(int(p) for p in pad)
        g = ConvGeometry(shape[0], int(spec["filters"]), shape[1], shape[2], _pair(spec.get("kernel", 3), "kernel"),
                         _pair(spec.get("stride", 1), "stride"), padding)  # type: ignore[arg-type]
    except KeyError as exc:
        raise ModelConfigError(f"{where} (conv2d) needs {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise ModelConfigError(f"{where} (conv2d): {exc}") from None
    return Conv2d(g, bool(spec.get("bias", True)))


def model_from_dict(cfg: dict[str, Any], source: str = "model config") -> Model:
    """Build and check a model from a parsed config; errors name the offending entry."""
    if not isinstance(cfg, dict):
        raise ModelConfigError(f"{source}: a model config is a map (name, inputs, layers, output, train)")
    try:
        name = cfg.get("name", "model")
        raw_inputs = cfg["inputs"]
        raw_layers = cfg["layers"]
    except KeyError as exc:
        raise ModelConfigError(f"{source}: missing key {exc.args[0]!r}") from None
    input_shape: tuple[int, ...] = ()
    if isinstance(raw_inputs, list):
        if len(raw_inputs) not in (2, 3) or any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_WIDTH
                                                for v in raw_inputs):
            raise ModelConfigError(f"{source}: inputs as a list must be [steps, features] (sequences) or an image "
                                   f"shape [C, H, W], each in [1, {MAX_WIDTH}], got {str(raw_inputs)[:40]}")
        input_shape = tuple(raw_inputs)
        n = _count(math.prod(input_shape), f"{source}: inputs (the product of its shape)")
    else:
        n = _count(raw_inputs, f"{source}: inputs")
    seq: tuple[int, int] | None = (input_shape[0], input_shape[1]) if len(input_shape) == 2 else None  # (steps, features) of the rows
    shape: tuple[int, ...] | None = input_shape if len(input_shape) == 3 else None  # (C, H, W) while the layout is an image
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise ModelConfigError(f"{source}: name must be a string of 1-64 characters")
    if not isinstance(raw_layers, list) or not 0 < len(raw_layers) <= MAX_LAYERS:
        raise ModelConfigError(f"{source}: needs a list of 1-{MAX_LAYERS} layers")
    layers: list[Layer] = []
    width = n
    for j, spec in enumerate(raw_layers):
        kind = spec.get("type") if isinstance(spec, dict) else None
        if not isinstance(kind, str):
            kind = None
        if kind == "dense":
            units = _count(spec.get("units", 0), f"{source}: layer {j} (dense) units")
            layers.append(Dense(width, units))
            width = units
            seq = shape = None
        elif kind in ACTIVATIONS:
            layers.append(ACTIVATIONS[kind]())
        elif kind in ("maxpool", "avgpool"):
            default = shape if shape is not None else (1, 0, 0)
            c, h, w, k = (_count(spec.get(key, d), f"{source}: layer {j} ({kind}) {key}") for key, d in
                          (("channels", default[0]), ("height", default[1]), ("width", default[2]), ("window", 2)))
            if c * h * w != width or h % k or w % k:
                raise ModelConfigError(
                    f"{source}: layer {j} ({kind}) needs channels*height*width = {width} and a window dividing both"
                )
            pool = MaxPool(c, h, w, k) if kind == "maxpool" else AvgPool(c, h, w, k)
            if kind == "maxpool" and layers and isinstance(layers[-1], ReLU):
                layers.insert(len(layers) - 1, pool)  # relu and maxpool commute: pool first
            else:
                layers.append(pool)
            width = pool.n_out
            seq, shape = None, (c, h // k, w // k)
        elif kind == "conv2d":
            conv = _conv_layer(spec, shape, f"{source}: layer {j}")
            _count(conv.n_out, f"{source}: layer {j} (conv2d) output width")
            layers.append(conv)
            width, shape = conv.n_out, conv.out_shape
        elif kind == "flatten":
            layers.append(Flatten())
            seq = shape = None
        elif kind in CELLS:
            units = _count(spec.get("units", 0), f"{source}: layer {j} ({kind}) units")
            ret = spec.get("return", "last")
            if seq is None or ret not in ("last", "all"):
                raise ModelConfigError(
                    f"{source}: layer {j} ({kind}) needs units >= 1, return = \"last\" or \"all\", and a "
                    "sequence input (inputs = [steps, features], or a recurrent layer with return = \"all\" before it)"
                )
            options = {k: v for k, v in spec.items() if k in ("fused", "activation")}
            try:
                rec = make_recurrent(kind, seq[1], units, seq[0], ret == "all", **options)
            except ValueError as exc:
                raise ModelConfigError(f"{source}: layer {j}: {exc}") from None
            _count(rec.n_out, f"{source}: layer {j} ({kind}) output width")
            layers.append(rec)
            width = rec.n_out
            seq = (seq[0], units) if ret == "all" else None
            shape = None
        else:
            raise ModelConfigError(
                f"{source}: layer {j} has unknown type {kind!r}; known: dense, conv2d, maxpool, avgpool, flatten, "
                f"{', '.join(CELLS)}, {', '.join(ACTIVATIONS)}"
            )
    if not isinstance(layers[-1], Dense):
        raise ModelConfigError(f"{source}: the last layer must be dense (it produces the class scores)")
    output = cfg.get("output", "softmax")
    if output not in OUTPUTS:
        raise ModelConfigError(f"{source}: output {output!r} is not one of {', '.join(OUTPUTS)}")
    train_cfg = cfg.get("train", {})
    try:
        if not isinstance(train_cfg, dict):
            raise TypeError("must be a table")
        train = TrainDefaults(**train_cfg)
    except (TypeError, ModelConfigError) as exc:
        raise ModelConfigError(f"{source}: [train] {exc}") from None
    return Model(name, n, tuple(layers), output, train, input_shape)


def load_model_config(path: str | Path) -> Model:
    p = Path(path)
    try:
        cfg = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ModelConfigError(f"model config {p} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ModelConfigError(f"model config {p} is not valid TOML: {exc}") from None
    return model_from_dict(cfg, str(p))


def save_params(path: str | Path, model: Model, params: dict[str, np.ndarray], **meta: Any) -> None:
    """Write a trained model: its parameters plus the config and metadata as JSON."""
    import json

    arrays: dict[str, Any] = {**params, "__model__": np.array(json.dumps(model.to_dict())),
                              "__meta__": np.array(json.dumps(meta))}
    savez: Any = np.savez  # numpy's stub reads ** entries as its allow_pickle flag
    savez(path, **arrays)


def load_params(path: str | Path) -> tuple[Model, dict[str, np.ndarray], dict[str, Any]]:
    """(model, parameters, metadata) from a .npz written by :func:`save_params`."""
    import json

    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            cfg = json.loads(str(z["__model__"]))
            meta = json.loads(str(z["__meta__"]))
            params = {k: z[k] for k in z.files if not k.startswith("__")}
    except (OSError, KeyError, ValueError) as exc:
        raise ModelConfigError(f"{p} is not a model written by spp train: {exc}") from None
    model = model_from_dict(cfg, str(p))
    missing = set(model.param_names()) - set(params)
    if missing:
        raise ModelConfigError(f"{p} lacks parameters {sorted(missing)}")
    return model, params, meta
