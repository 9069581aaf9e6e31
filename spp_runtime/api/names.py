"""The one grammar of names and ids that travel between clients and servers.

Every check is a full match of the whole string (``re.fullmatch``), so a trailing newline or
any other extra character is refused:

* job ids: 1-64 of letters, digits and ``_.:-``;
* names (programs, job inputs, checkpoint tensors): 1-64 of letters, digits and ``_.-``,
  starting with a letter or ``_``;
* dataset names, model names, checkpoint ids and stored tensor names (``0.W``): 1-64 of
  letters, digits and ``._-``, starting with a letter or digit;
* part names (``x``, ``y``, ...): 1-16 of lowercase letters, digits and ``_``, starting with a
  letter; a stored input is referred to as ``dataset:part``;
* upload ids: 16-64 lowercase hex digits; sha256 digests: 64 lowercase hex digits.
"""

from __future__ import annotations

import re
from typing import TypeGuard

JOB_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
CHECKPOINT_ID = DATASET_NAME
TENSOR_NAME = DATASET_NAME
PART = re.compile(r"[a-z][a-z0-9_]{0,15}")
DATASET_REF = re.compile(f"(?:{DATASET_NAME.pattern}):(?:{PART.pattern})")
UPLOAD_ID = re.compile(r"[0-9a-f]{16,64}")
SHA256 = re.compile(r"[0-9a-f]{64}")


def matches(pattern: re.Pattern[str], value: object) -> TypeGuard[str]:
    """Whether ``value`` is a string that ``pattern`` matches as a whole."""
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def is_job_id(value: object) -> TypeGuard[str]:
    return matches(JOB_ID, value)


def is_name(value: object) -> TypeGuard[str]:
    return matches(NAME, value)


def is_dataset_name(value: object) -> TypeGuard[str]:
    return matches(DATASET_NAME, value)


def is_checkpoint_id(value: object) -> TypeGuard[str]:
    return matches(CHECKPOINT_ID, value)


def is_tensor_name(value: object) -> TypeGuard[str]:
    """A stored model's tensor (a file stem on the servers)."""
    return matches(TENSOR_NAME, value)


def is_part(value: object) -> TypeGuard[str]:
    return matches(PART, value)


def is_dataset_ref(value: object) -> TypeGuard[str]:
    """``dataset:part``."""
    return matches(DATASET_REF, value)


def is_upload_id(value: object) -> TypeGuard[str]:
    return matches(UPLOAD_ID, value)


def is_sha256(value: object) -> TypeGuard[str]:
    return matches(SHA256, value)
