"""Who may use a stored dataset: the rights a grant names and how a program asks for them.

A dataset belongs to the client whose key uploaded it (its *owner*). Anyone else may use it
in a job only with a grant from the owner naming the rights the job needs:

* ``train``: train a model the grantee submits (``train`` on the dataset's ``x``, ``y``);
* ``infer``: run a model over its rows and receive the scores (``infer``; also the test set
  of ``train --report-accuracy``, whose correct count is opened);
* ``release-model``: a model trained on it may leave the servers in plaintext
  (``train --out model.npz``).

A model stored on the servers (``train --save-as``) belongs to its trainer, who may grant
``predict`` on it (``MODEL_RIGHTS``).

Programs that return values computed directly from their inputs (``mul``, ``matmul``,
``dense_scores``, ``column_sums``, ``demo``, ``bench``) declare no rights: they run only on the
client's own datasets. The vocabulary travels in grant requests (``grants.set``) and is
checked by every primary against its own stored grants before a job starts.
"""

from __future__ import annotations

from collections.abc import Iterable

TRAIN = "train"
INFER = "infer"
RELEASE_MODEL = "release-model"
PREDICT = "predict"
DATASET_RIGHTS: tuple[str, ...] = (TRAIN, INFER, RELEASE_MODEL)
MODEL_RIGHTS: tuple[str, ...] = (PREDICT,)
RIGHTS: tuple[str, ...] = DATASET_RIGHTS + MODEL_RIGHTS

Rights = frozenset[str]


def parse_rights(value: object, allowed: tuple[str, ...] = DATASET_RIGHTS) -> Rights:
    """The rights of a grant request: a non-empty list of names from ``allowed`` (or the text
    ``"train,infer"``); ValueError naming the unknown ones."""
    if isinstance(value, str):
        items: Iterable[object] = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, (list, tuple, frozenset, set)):
        items = value
    else:
        raise ValueError(f"rights must be a list of {', '.join(allowed)}")  # noqa: TRY004 - one error type for callers
    out = set()
    for item in items:
        if not isinstance(item, str) or item not in allowed:
            raise ValueError(f"unknown right {str(item)[:40]!r}; rights are {', '.join(allowed)}")
        out.add(item)
    if not out:
        raise ValueError(f"a grant needs at least one right of {', '.join(allowed)}")
    return frozenset(out)


def describe(rights: Iterable[str]) -> str:
    """``train,infer`` in the canonical order of :data:`RIGHTS`."""
    have = set(rights)
    return ",".join(r for r in RIGHTS if r in have)
