"""MNIST from its four original IDX files (never downloaded at run time)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .idx import IdxFormatError, read_idx

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class MnistSplit:
    """Images as float64 in [0, 1], shape (n, 784); labels as int64 in 0..9."""

    images: np.ndarray
    labels: np.ndarray


def _find(directory: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (directory / name).exists():
            return directory / name
    raise IdxFormatError(f"{directory}: MNIST file {stem}[.gz] not found")


def load_mnist(directory: str | Path, split: str = "train", limit: int | None = None) -> MnistSplit:
    """Load one split; checks that images are n x 28 x 28 uint8 and labels n uint8 in 0..9."""
    if split not in FILES:
        raise ValueError(f"split must be one of {sorted(FILES)}, got {split!r}")
    d = Path(directory)
    img_path, lbl_path = (_find(d, s) for s in FILES[split])
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise IdxFormatError(f"{img_path}: expected n x 28 x 28 uint8 images, got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IdxFormatError(f"{lbl_path}: expected a vector of uint8 labels, got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise IdxFormatError(f"{d}: {len(images)} images but {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise IdxFormatError(f"{lbl_path}: label {int(labels.max())} outside 0..9")
    n = len(labels) if limit is None else min(limit, len(labels))
    return MnistSplit(images[:n].reshape(n, 784).astype(np.float64) / 255.0, labels[:n].astype(np.int64))


def default_mnist_dir() -> Path:
    """Where MNIST lives: ``$SPP_MNIST_DIR``, else ``shared/data/mnist`` beside an ancestor of
    the package (the workplace layout), else ``/work/shared/data/mnist``."""
    env = os.environ.get("SPP_MNIST_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for ancestor in here.parents:
        candidate = ancestor / "shared" / "data" / "mnist"
        if candidate.is_dir():
            return candidate
    return Path("/work/shared/data/mnist")
