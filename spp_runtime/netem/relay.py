"""A TCP relay that delays every byte by a fixed one-way latency, in both directions.

This kernel has no ``netem``, so latency is emulated in user space: a relay runs in the
receiving host's namespace, accepts connections on ``listen`` ports and forwards each to a
target, holding every chunk for ``delay`` seconds before writing it on (ordering is kept).
Bandwidth is left to tc ``tbf`` on the links. The relay terminates TCP, so the sender's
congestion window never sees the delay; for the request/response traffic of MPC protocols
what matters is the per-message latency, which is exact up to the relay's own forwarding time
(tens of microseconds; threads and ``time.sleep`` keep sub-millisecond delays precise, where
an event loop's millisecond timer would not).

Run: ``python -m spp_runtime.netem.relay --delay-ms 6 --route 0.0.0.0:17000=127.0.0.1:7000``
(one ``--route`` per forwarded port). It prints ``ready`` once every port listens.
"""

from __future__ import annotations

import argparse
import queue
import socket
import sys
import threading
import time

CHUNK = 1 << 18
_EOF = object()


def _pump(src: socket.socket, dst: socket.socket, delay: float) -> None:
    """Copy src to dst, each chunk released ``delay`` seconds after it was read."""
    pending: queue.Queue = queue.Queue()

    def reader() -> None:
        try:
            while chunk := src.recv(CHUNK):
                pending.put((time.monotonic() + delay, chunk))
        except OSError:
            pass
        pending.put(_EOF)

    threading.Thread(target=reader, daemon=True).start()
    try:
        while (item := pending.get()) is not _EOF:
            due, chunk = item
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (dst, src):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _connect_pair(client: socket.socket, target: tuple[str, int], delay: float) -> None:
    try:
        upstream = socket.create_connection(target, timeout=10)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    for s in (client, upstream):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=_pump, args=(client, upstream, delay), daemon=True).start()
    threading.Thread(target=_pump, args=(upstream, client, delay), daemon=True).start()


def _listen(listen: tuple[str, int], target: tuple[str, int], delay: float) -> socket.socket:
    srv = socket.create_server(listen)

    def accept_loop() -> None:
        while True:
            conn, _ = srv.accept()
            _connect_pair(conn, target, delay)

    threading.Thread(target=accept_loop, daemon=True).start()
    return srv


def _route(text: str) -> tuple[tuple[str, int], tuple[str, int]]:
    try:
        listen, target = text.split("=")
        lh, lp = listen.rsplit(":", 1)
        th, tp = target.rsplit(":", 1)
        return (lh, int(lp)), (th, int(tp))
    except ValueError:
        raise argparse.ArgumentTypeError(f"route must be LHOST:LPORT=THOST:TPORT, got {text!r}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="delaying TCP relay")
    ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--route", type=_route, action="append", required=True)
    args = ap.parse_args(argv)
    servers = [_listen(lst, tgt, args.delay_ms / 1000.0) for lst, tgt in args.route]
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        for s in servers:
            s.close()
        sys.exit(0)


if __name__ == "__main__":
    main()
