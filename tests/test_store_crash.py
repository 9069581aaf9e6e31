"""A real process uploading into the stores is SIGKILLed mid-write, mid-commit and at random
moments; after a restart every dataset is on both servers or on neither, intact."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from crash_child import dataset_for
from storage_helpers import fingerprint, make_upload, plaintext, staging_entries

from spp_runtime.client.upload_driver import push_upload
from spp_runtime.client.upload_prep import SharedUpload
from spp_runtime.storage.coordinator import resolve_in_doubt
from spp_runtime.storage.store import ShareStore

CHILD = Path(__file__).with_name("crash_child.py")
TIMEOUT = 60.0


def _run_until(root: Path, mode: str, stop) -> list[str]:
    """Start the child, read its lines until ``stop(lines)`` holds, then SIGKILL it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CHILD.parent), *sys.path])}
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(root), mode], stdout=subprocess.PIPE, text=True, env=env
    )
    lines: list[str] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while not stop(lines):
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"child exited early (code {proc.wait()}) after {lines[-3:]}")
            lines.append(line.strip())
            assert time.monotonic() < deadline, "child too slow"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return lines


def _seed(root: Path, rng):
    stores = [ShareStore(root / "p0", 0), ShareStore(root / "p1", 1)]
    base = make_upload(rng, name="base")
    push_upload(base, stores)
    return [fingerprint(s.root) for s in stores], base.dataset.features.copy()


def _restart_and_check(root: Path, before, base_x):
    r0, r1 = ShareStore(root / "p0", 0), ShareStore(root / "p1", 1)
    for uid in r1.recovery.in_doubt:
        resolve_in_doubt(uid, r1, r0, local_is_p0=False)
    for uid in list(r0.recovery.in_doubt):
        resolve_in_doubt(uid, r0, r0, local_is_p0=True)
    names0, names1 = ({m.name for m in s.list()} for s in (r0, r1))
    assert names0 == names1, (names0, names1)
    for s, fp in zip((r0, r1), before):
        now = fingerprint(s.root)
        assert {k: v for k, v in now.items() if k.startswith("base/")} == fp
        assert s.verify_all() == {} and staging_entries(s.root) == []
        assert list((s.root / "trash").iterdir()) == []
    assert np.abs(plaintext(r0, r1, "base") - base_x).max() <= 2.0**-17
    for name in names0 - {"base"}:
        want = dataset_for(int(name[1:])).features
        assert np.abs(plaintext(r0, r1, name) - want).max() <= 2.0**-17
    return r0, r1, names0


def test_killed_in_the_middle_of_writing_a_chunk(tmp_path, rng):
    before, base_x = _seed(tmp_path, rng)
    lines = _run_until(tmp_path, "midwrite", lambda ls: ls[-1:] == ["HALF"])
    assert lines[:3] == ["BEGIN 0", "CHUNK 0 0", "HALF"]  # chunk 1 half written to p0
    staged = next((tmp_path / "p0" / "staging").iterdir())
    assert (staged / "x.u64").stat().st_size == 8 * 1024 * 8 + 8 * 1024 * 4  # 1.5 chunks
    r0, r1, names = _restart_and_check(tmp_path, before, base_x)
    assert names == {"base"} and r0.recovery.discarded and r1.recovery.discarded
    push_upload(SharedUpload(dataset_for(0), name="k0", owner="retry", chunk_rows=8), [r0, r1])  # the retry succeeds
    assert np.abs(plaintext(r0, r1, "k0") - dataset_for(0).features).max() <= 2.0**-17


def test_killed_between_manifest_and_rename(tmp_path, rng):
    before, base_x = _seed(tmp_path, rng)
    _run_until(tmp_path, "midcommit", lambda ls: ls[-1:] == ["RENAME"])
    assert (tmp_path / "p0" / "datasets" / "k1").exists()  # P0 (the commit point) committed
    assert not (tmp_path / "p1" / "datasets" / "k1").exists()
    _, r1, names = _restart_and_check(tmp_path, before, base_x)
    assert r1.recovery.rolled_forward == ["k1"]
    assert names == {"base", "k0", "k1"}


@pytest.mark.parametrize("after_chunks", [3, 11, 18])
def test_killed_at_arbitrary_moments(tmp_path, rng, after_chunks):
    before, base_x = _seed(tmp_path, rng)
    lines = _run_until(tmp_path, "loop", lambda ls: sum(x.startswith("CHUNK") for x in ls) >= after_chunks)
    committed = {f"k{x.split()[1]}" for x in lines if x.startswith("COMMITTED")}
    _, _, names = _restart_and_check(tmp_path, before, base_x)
    assert committed <= names - {"base"}
    assert len(names - {"base"} - committed) <= 1  # at most the one in flight, complete on both
