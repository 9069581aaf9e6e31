"""MNIST from its four original IDX files (never downloaded at run time)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .idx import IdxFile, IdxFormatError, open_idx

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
    """Load one split; checks that images are n x 28 x 28 uint8 and labels n uint8 in 0..9.

    The headers are checked before any data is read, and with ``limit`` only the first
    ``limit`` rows are read.
    """
    if split not in FILES:
        raise ValueError(f"split must be one of {sorted(FILES)}, got {split!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    d = Path(directory)
    img_path, lbl_path = (_find(d, s) for s in FILES[split])
    images, labels = open_idx(img_path), open_idx(lbl_path)
    if images.dtype != np.uint8 or len(images.shape) != 3 or images.shape[1:] != (28, 28):
        raise IdxFormatError(f"{img_path}: expected n x 28 x 28 uint8 images, got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or len(labels.shape) != 1:
        raise IdxFormatError(f"{lbl_path}: expected a vector of uint8 labels, got {labels.dtype} {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise IdxFormatError(f"{d}: {images.shape[0]} images but {labels.shape[0]} labels")
    n = labels.shape[0] if limit is None else min(limit, labels.shape[0])
    lab = _first_rows(labels, n)
    if lab.size and lab.max() > 9:
        row = int(np.argmax(lab > 9))
        raise IdxFormatError(f"{lbl_path}: label {int(lab[row])} at row {row} outside 0..9")
    x = _first_rows(images, n).reshape(n, 784).astype(np.float64)
    x /= 255.0
    return MnistSplit(x, lab.astype(np.int64))


def _first_rows(f: IdxFile, n: int) -> np.ndarray:
    """The first ``n`` rows of an IDX file (read in blocks, never more than needed)."""
    out = np.empty((n, *f.shape[1:]), dtype=f.dtype)
    done = 0
    if n:
        for block in f.blocks(min(n, max(1, (8 << 20) // max(1, f.row_bytes)))):
            take = min(len(block), n - done)
            out[done : done + take] = block[:take]
            done += take
            if done == n:
                break
    return out


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
