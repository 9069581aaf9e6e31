"""A process that uploads into two share stores until it is killed (used by test_store_crash).

Usage: ``python crash_child.py ROOT MODE``. Uploads datasets ``k0, k1, ...`` (contents from
:func:`dataset_for`) to ``ROOT/p0`` and ``ROOT/p1``, printing one line per step. MODE:

* ``loop``: upload forever; the parent kills it at some moment;
* ``midwrite``: writing chunk 1 to P0, write half its bytes, print ``HALF``, then hang;
* ``midcommit``: when P1 commits ``k1``, stop after writing its manifest, print ``RENAME``,
  then hang (killed between the manifest and the rename).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from spp_runtime.client.upload_driver import push_upload
from spp_runtime.client.upload_prep import SharedUpload
from spp_runtime.data.readers import Dataset
from spp_runtime.storage import store as store_mod
from spp_runtime.storage.store import ShareStore

ROWS, COLS, CHUNK_ROWS = 64, 1024, 8  # 64 KiB of shares per chunk per server


def dataset_for(i: int) -> Dataset:
    x = ((np.arange(ROWS * COLS, dtype=np.float64) % 997) - 498 + i).reshape(ROWS, COLS) / 8
    return Dataset(x, np.arange(ROWS, dtype=np.float64) % 10, f"k{i}")


def _hang(tag: str) -> None:
    print(tag, flush=True)
    while True:
        time.sleep(60)


class _HalfWriter:
    def __init__(self, fh):
        self.fh = fh

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.fh.__exit__(*exc)

    def seek(self, offset):
        return self.fh.seek(offset)

    def write(self, blob):
        self.fh.write(blob[: len(blob) // 2])
        self.fh.flush()
        _hang("HALF")

    def truncate(self):
        return self.fh.truncate()


def main(root: Path, mode: str) -> None:
    stores = [ShareStore(root / "p0", 0), ShareStore(root / "p1", 1)]
    writes = 0
    if mode == "midwrite":

        def counting_open(path, flags="r", *args, **kw):
            nonlocal writes
            fh = open(path, flags, *args, **kw)  # noqa: SIM115 - returned to the store's with
            if flags == "r+b":
                writes += 1
                if writes == 5:  # chunk 1, part x, on p0
                    return _HalfWriter(fh)
            return fh

        store_mod.open = counting_open  # type: ignore[attr-defined]
    if mode == "midcommit":
        real_rename = store_mod.durable_rename

        def rename(src, dst):
            if dst.name == "k1" and dst.parent.parent.name == "p1":
                _hang("RENAME")
            real_rename(src, dst)

        store_mod.durable_rename = rename  # type: ignore[assignment]
    i = 0
    while True:
        up = SharedUpload(dataset_for(i), name=f"k{i}", owner="crash", chunk_rows=CHUNK_ROWS)
        print(f"BEGIN {i}", flush=True)
        push_upload(up, stores, on_chunk=lambda p, i=i: print(f"CHUNK {i} {p.index}", flush=True))
        print(f"COMMITTED {i}", flush=True)
        i += 1


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
