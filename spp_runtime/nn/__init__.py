"""Neural networks on any back end: layers, model configs, SGD, the training loop.

``ops`` (secure / float64 / fixed-point emulation), ``layers``, ``model`` (TOML configs, init,
.npz), ``optim`` (momentum SGD), ``train`` (the loop), ``runner`` (secure training on three
parties from plaintext inputs, for tests and studies).
"""

from .model import (
    Model,
    ModelConfigError,
    load_model_config,
    load_params,
    model_from_dict,
    save_params,
)
from .ops import FixedOps, FloatOps, SecureOps
from .train import EpochResult, fit

__all__ = [
    "EpochResult", "FixedOps", "FloatOps", "Model", "ModelConfigError", "SecureOps", "fit",
    "load_model_config", "load_params", "model_from_dict", "save_params",
]
