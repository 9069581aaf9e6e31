"""Finding model configs: a path, or the name of one packaged under ``spp_runtime/configs/models``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from ..nn import Model, ModelConfigError, load_model_config
from ..nn.onnx_io import load_onnx


def packaged_models() -> list[str]:
    root = resources.files("spp_runtime.configs") / "models"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def resolve_model(spec: str) -> Model:
    """``spec`` is a TOML path, an ONNX file or a packaged model name such as ``mnist_a``."""
    return resolve_model_and_weights(spec)[0]


def resolve_model_and_weights(spec: str) -> tuple[Model, dict[str, np.ndarray] | None]:
    """(model, initial weights): an ONNX file brings its initializers (an unsupported node is
    refused here, before anything starts); a TOML config or packaged name brings none (the
    weights come from the seed)."""
    if spec.endswith(".onnx"):
        return load_onnx(spec)
    return _resolve_toml(spec), None


def _resolve_toml(spec: str) -> Model:
    if Path(spec).exists() or spec.endswith(".toml"):
        return load_model_config(spec)
    if spec in packaged_models():
        with resources.as_file(resources.files("spp_runtime.configs") / "models" / f"{spec}.toml") as p:
            return load_model_config(p)
    raise ModelConfigError(f"no model config {spec!r}: not a file, and not one of {', '.join(packaged_models())}")
