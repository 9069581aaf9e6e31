"""Submit jobs to the three servers and reconstruct their results locally.

The client secret-shares its inputs on its own machine (OS CSPRNG), sends P0 and P1 one
share each and P2 only the shapes, and waits for each server's result. Output shares come
back from P0 and P1 and are added here; nobody else sees the result. Every connection is
CURVE-encrypted and authenticated with the client's key, which the servers must know.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import msgpack
import numpy as np
import zmq

from .. import PARTY_NAMES
from ..config import ClusterConfig
from ..engine.stats import CallRecord, ProtocolStats, merge_records
from ..errors import PeerTimeout, SppError
from ..ring import DTYPE
from ..sharing import share
from ..transport.zmq_transport import CONTROL


class JobFailed(SppError):
    """A server reported that the job failed; the message names the server and the cause."""


@dataclass
class JobResult:
    outputs: dict[str, np.ndarray]  # reconstructed, decoded to float64 (raw ring if asked)
    stats: list[ProtocolStats]
    seconds: float
    records: list[list[CallRecord]] = field(default_factory=list)

    def top(self, name: str | None = None) -> list[ProtocolStats]:
        return [s for s in self.stats if s.depth == 0 and (name is None or s.name == name)]


class Client:
    def __init__(self, config: ClusterConfig, name: str = "analyst", *, timeout: float | None = None) -> None:
        self.config = config
        self.name = name
        self.timeout = config.timeout_s * 4 if timeout is None else timeout
        keys = config.load_keypair(name)
        publics = config.party_publics()
        self._zctx = zmq.Context()
        self._socks = []
        identity = f"{name}-{os.urandom(4).hex()}".encode()
        for party, ep in enumerate(config.endpoints):
            s = self._zctx.socket(zmq.DEALER)
            s.setsockopt(zmq.IDENTITY, identity)
            s.curve_secretkey = keys.secret
            s.curve_publickey = keys.public
            s.curve_serverkey = publics[party]
            s.setsockopt(zmq.LINGER, 2000)
            s.setsockopt(zmq.SNDHWM, 0)
            s.setsockopt(zmq.RCVHWM, 0)
            s.connect(ep.connect_url)
            self._socks.append(s)

    def close(self) -> None:
        for s in self._socks:
            s.close()
        self._zctx.term()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs ----------------------------------------------------------------------------------
    def submit(
        self,
        program: str,
        inputs: Mapping[str, np.ndarray] | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        encoded: bool = False,
        raw_outputs: bool = False,
        on_progress: Callable[[dict], None] | None = None,
    ) -> JobResult:
        """Run ``program`` on the servers with plaintext ``inputs`` (encoded to fixed point and
        shared here unless ``encoded``: then they are ring elements already)."""
        fxp = self.config.fxp
        job_id = os.urandom(8)
        specs, share0, share1 = [], [], []
        for name, value in (inputs or {}).items():
            ring = np.asarray(value, dtype=DTYPE) if encoded else fxp.encode(value, name=f"input {name!r}")
            s0, s1 = share(ring)
            specs.append({"name": name, "shape": list(ring.shape)})
            share0.append(s0)
            share1.append(s1)
        body = {"type": "job", "job": job_id, "program": program, "params": dict(params or {}), "inputs": specs}
        packed = msgpack.packb(body, use_bin_type=True)
        t0 = time.perf_counter()
        for party, arrays in enumerate((share0, share1, [])):
            self._socks[party].send_multipart([CONTROL, packed, *arrays], copy=False)
        results = self._collect(job_id, on_progress)
        seconds = time.perf_counter() - t0
        failures = [r[0] for r in results.values() if not r[0].get("ok")]
        missing = [p for p in PARTY_NAMES if p not in results]
        if failures or missing:
            if not failures:
                raise PeerTimeout(f"no result for the job within {self.timeout:g} s", ", ".join(missing))
            # the root cause, not the aborts it triggered in the other servers
            first = min(failures, key=lambda f: ("aborted the job" in f.get("error", ""), f.get("party", "")))
            extra = f"; no answer from {', '.join(missing)}" if missing else ""
            raise JobFailed(f"{first.get('party')}: {first.get('error')}{extra}")
        outputs = {}
        for i, spec in enumerate(results["p0"][0]["outputs"]):
            shape = tuple(spec["shape"])
            parts = [np.frombuffer(results[p][1][i].bytes, dtype=DTYPE).reshape(shape) for p in ("p0", "p1")]
            ring = parts[0] + parts[1]
            outputs[spec["name"]] = ring if raw_outputs else fxp.decode(ring)
        records = [[CallRecord.from_dict(d) for d in results[p][0]["records"]] for p in PARTY_NAMES]
        return JobResult(outputs, merge_records(records), seconds, records)

    def _collect(self, job_id: bytes, on_progress) -> dict[str, tuple[dict, list]]:
        poller = zmq.Poller()
        for s in self._socks:
            poller.register(s, zmq.POLLIN)
        results: dict[str, tuple[dict, list]] = {}
        deadline = time.monotonic() + self.timeout
        while len(results) < 3:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for sock, _ in poller.poll(int(min(left, 1.0) * 1000)):
                frames = sock.recv_multipart(copy=False)
                if len(frames) < 2 or frames[0].bytes != CONTROL:
                    continue
                body = msgpack.unpackb(frames[1].bytes, raw=False)
                party = PARTY_NAMES[self._socks.index(sock)]
                if body.get("job") != job_id:
                    continue
                if body.get("type") == "progress":
                    if on_progress is not None:
                        on_progress(body)
                    continue
                if body.get("type") == "result":
                    results[party] = (body, frames[2:])
                    if not body.get("ok"):  # one failure is enough: the others will abort too
                        deadline = min(deadline, time.monotonic() + 5)
        return results

    def status(self, timeout: float = 3.0) -> dict[str, dict | None]:
        """Ask each server for its status (None where it does not answer)."""
        body = msgpack.packb({"type": "status"}, use_bin_type=True)
        for s in self._socks:
            s.send_multipart([CONTROL, body])
        out: dict[str, dict | None] = {p: None for p in PARTY_NAMES}
        poller = zmq.Poller()
        for s in self._socks:
            poller.register(s, zmq.POLLIN)
        deadline = time.monotonic() + timeout
        while any(v is None for v in out.values()) and time.monotonic() < deadline:
            for sock, _ in poller.poll(200):
                frames = sock.recv_multipart()
                if len(frames) >= 2 and frames[0] == CONTROL:
                    msg = msgpack.unpackb(frames[1], raw=False)
                    if msg.get("type") == "status":
                        out[PARTY_NAMES[self._socks.index(sock)]] = msg
        return out
