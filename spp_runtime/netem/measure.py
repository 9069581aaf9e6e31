"""Probes that check an emulated link: ping-pong round-trip time and bulk throughput.

``python -m spp_runtime.netem.measure serve --port P`` answers probes (prints ``ready``);
``... ping --host H --port P`` and ``... bulk --host H --port P --mbytes M`` print JSON.
:func:`probe_link` runs both across a :class:`~spp_runtime.netem.topology.Lan` through a
delay relay, which is how the benchmark and the tests verify the network they asked for.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from .topology import Lan


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ConnectionError("probe peer closed the connection")
        buf += chunk
    return bytes(buf)


def _handle(conn: socket.socket) -> None:
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            mode = _recv_exact(conn, 1)
            if mode == b"p":
                (count,) = struct.unpack(">I", _recv_exact(conn, 4))
                for _ in range(count):
                    conn.sendall(_recv_exact(conn, 8))
            elif mode == b"b":
                (n,) = struct.unpack(">Q", _recv_exact(conn, 8))
                left = n
                while left:
                    left -= len(conn.recv(min(left, 1 << 20)) or b"") or _closed()
                conn.sendall(b"k")
        except ConnectionError:
            pass


def _closed() -> int:
    raise ConnectionError("closed")


def serve(port: int) -> None:
    srv = socket.create_server(("0.0.0.0", port), reuse_port=False)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=_handle, args=(conn,), daemon=True).start()


def ping(host: str, port: int, count: int = 20) -> float:
    """Median round-trip time in seconds of ``count`` 8-byte ping-pongs."""
    with socket.create_connection((host, port), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"p" + struct.pack(">I", count + 2))
        times = []
        for i in range(count + 2):
            t0 = time.perf_counter()
            s.sendall(struct.pack(">Q", i))
            _recv_exact(s, 8)
            times.append(time.perf_counter() - t0)
        return statistics.median(times[2:])  # the first exchanges include connection set-up


def bulk(host: str, port: int, nbytes: int) -> float:
    """Seconds from the first byte sent to the receiver's acknowledgement of the last."""
    payload = bytes(1 << 20)
    with socket.create_connection((host, port), timeout=60) as s:
        s.sendall(b"b" + struct.pack(">Q", nbytes))
        t0 = time.perf_counter()
        left = nbytes
        while left:
            n = min(left, len(payload))
            s.sendall(payload[:n])
            left -= n
        _recv_exact(s, 1)
        return time.perf_counter() - t0


@dataclass(frozen=True)
class LinkProbe:
    rtt_s: float
    throughput_mbit: float


def probe_link(lan: Lan, src: str, dst: str, *, mbytes: float = 4.0, port: int = 19099) -> LinkProbe:
    """Measure RTT and throughput from ``src`` to ``dst`` through a delay relay at ``dst``."""
    py = sys.executable
    server = lan.popen(dst, [py, "-m", "spp_runtime.netem.measure", "serve", "--port", str(port)],
                       stdout=subprocess.PIPE, text=True)
    relay = lan.popen(dst, [py, "-m", "spp_runtime.netem.relay",
                            "--delay-ms", str(lan.shape.one_way_delay_ms),
                            "--route", f"0.0.0.0:{port + 1}=127.0.0.1:{port}"],
                      stdout=subprocess.PIPE, text=True)
    try:
        for proc in (server, relay):
            assert proc.stdout is not None  # stdout=PIPE
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("probe server or relay failed to start")
        host = lan.address(dst)
        out = lan.run(src, [py, "-m", "spp_runtime.netem.measure", "both", "--host", host,
                            "--port", str(port + 1), "--mbytes", str(mbytes)],
                      capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"probe client failed: {out.stderr.strip()[-500:]}")
        res = json.loads(out.stdout)
        return LinkProbe(res["rtt_s"], res["throughput_mbit"])
    finally:
        for proc in (server, relay):
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="network probes")
    ap.add_argument("mode", choices=["serve", "ping", "bulk", "both"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mbytes", type=float, default=4.0)
    a = ap.parse_args(argv)
    if a.mode == "serve":
        serve(a.port)
        return
    res: dict[str, float] = {}
    if a.mode in ("ping", "both"):
        res["rtt_s"] = ping(a.host, a.port)
    if a.mode in ("bulk", "both"):
        nbytes = int(a.mbytes * 1e6)
        t = bulk(a.host, a.port, nbytes)
        rtt = res.get("rtt_s") or ping(a.host, a.port, 5)
        res["bulk_s"] = t
        res["throughput_mbit"] = nbytes * 8 / 1e6 / max(t - rtt, 1e-9)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
