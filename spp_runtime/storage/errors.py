"""Errors of the share store. Messages name the dataset, upload, part or file; never a share."""

from __future__ import annotations

from ..errors import SppError


class StorageError(SppError):
    """A share-store operation cannot be done (the store itself is unharmed)."""


class InvalidMetadata(StorageError, ValueError):
    """Upload metadata is malformed: bad name, shape, chunking or fixed-point bits."""


class DatasetExists(StorageError):
    """A dataset (or an upload in progress) already uses this name."""


class DatasetNotFound(StorageError, KeyError):
    """No committed dataset has this name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UploadNotFound(StorageError, KeyError):
    """No upload in progress has this id (never begun, aborted, or cleaned up)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ChunkRejected(StorageError):
    """A chunk is out of order, of the wrong shape, fails its checksum or conflicts."""


class UploadStateError(StorageError):
    """The operation does not fit the upload's state (e.g. commit before prepare)."""


class ChecksumMismatch(StorageError):
    """Data on disk or received does not match its recorded sha256."""


class CorruptDataset(ChecksumMismatch):
    """A committed dataset's files fail verification (checksum, size or manifest)."""


class AccessDenied(StorageError):
    """The client may not do this: the object belongs to another client and no grant allows it."""


class ModelNotFound(DatasetNotFound):
    """No stored model has this name."""


class ModelExists(DatasetExists):
    """A stored model already uses this name."""
