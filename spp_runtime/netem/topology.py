"""Hosts in network namespaces joined by a bridge, with tc ``tbf`` rate limits.

Each host gets namespace ``spp<tag>-<host>`` with one veth into a switch namespace holding a
bridge, and an address ``10.<a>.<b>.<i>/24`` chosen per topology so that concurrent topologies
do not collide. Upload rate is shaped on the host end of its veth, download rate on the switch
end. Latency is added by :mod:`spp_runtime.netem.relay` processes, not here. Needs root and
the ``ip``/``tc`` commands: :func:`require_netns` says so clearly when they are missing.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Self

from ..errors import SppError


class NetnsUnavailable(SppError):
    """Network namespaces cannot be set up here (not root, or ip/tc missing)."""


@dataclass(frozen=True)
class LinkShape:
    """What every host's link looks like: rates in Mbit/s (None: unlimited) and one-way delay."""

    up_mbit: float | None = None
    down_mbit: float | None = None
    one_way_delay_ms: float = 0.0

    @property
    def rtt_ms(self) -> float:
        return 2 * self.one_way_delay_ms


PRESETS: dict[str, LinkShape] = {
    # The S++ paper's measured LAN: ~12 ms ping, 9.2 Mbit/s up, 40 Mbit/s down per host.
    "paper-lan": LinkShape(up_mbit=9.2, down_mbit=40.0, one_way_delay_ms=6.0),
    # A fast LAN: 1 Gbit/s, 0.2 ms round trip.
    "lan-1g": LinkShape(up_mbit=1000.0, down_mbit=1000.0, one_way_delay_ms=0.1),
}


def require_netns() -> None:
    """Raise NetnsUnavailable with the reason if namespaces cannot be created."""
    if os.geteuid() != 0:
        raise NetnsUnavailable(
            "network emulation needs root (it creates network namespaces, veth links and tc "
            "qdiscs); run as root or use --net loopback"
        )
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            raise NetnsUnavailable(f"network emulation needs the '{tool}' command (iproute2)")


def _run(*argv: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise NetnsUnavailable(f"'{' '.join(argv)}' failed: {proc.stderr.strip()}")


def tbf_burst_bytes(mbit: float) -> int:
    """The token bucket depth we give tbf at ``mbit``: 4 ms of data, at least 96 KiB (it must
    hold a 64 KiB GSO super-packet or tbf drops it). A transfer this small passes unshaped."""
    return max(int(mbit * 1e6 / 8 * 0.004), 96 * 1024)


def _tbf(ns: str, dev: str, mbit: float) -> None:
    rate_bps = mbit * 1e6
    # queue up to 2 s of data.
    burst = tbf_burst_bytes(mbit)
    limit = max(int(rate_bps / 8 * 2.0), 4 * burst)
    _run("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf",
         "rate", f"{int(rate_bps)}bit", "burst", str(burst), "limit", str(limit))


@dataclass
class Lan:
    """A star LAN of named hosts; use as a context manager (``with Lan(...) as lan``)."""

    hosts: Sequence[str]
    shape: LinkShape = field(default_factory=LinkShape)
    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    _up: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if len(set(self.hosts)) != len(self.hosts) or not self.hosts:
            raise ValueError("hosts must be distinct and non-empty")
        seed = int(self.tag, 16)
        self._subnet = f"10.{100 + seed % 100}.{seed // 100 % 250}"

    # -- names ----------------------------------------------------------------------------
    def netns(self, host: str) -> str:
        return f"spp{self.tag}-{host}"

    @property
    def switch(self) -> str:
        return f"spp{self.tag}-sw"

    def address(self, host: str) -> str:
        return f"{self._subnet}.{10 + list(self.hosts).index(host)}"

    def _veth(self, host: str, side: str) -> str:
        return f"v{self.tag}{list(self.hosts).index(host)}{side}"  # <= 15 chars

    # -- lifecycle ------------------------------------------------------------------------
    def up(self) -> Self:
        require_netns()
        try:
            _run("ip", "netns", "add", self.switch)
            _run("ip", "netns", "exec", self.switch, "ip", "link", "add", "br0", "type", "bridge")
            _run("ip", "netns", "exec", self.switch, "ip", "link", "set", "br0", "up")
            for host in self.hosts:
                ns, h, s = self.netns(host), self._veth(host, "h"), self._veth(host, "s")
                _run("ip", "netns", "add", ns)
                _run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
                _run("ip", "link", "add", h, "netns", ns, "type", "veth", "peer", "name", s,
                     "netns", self.switch)
                _run("ip", "netns", "exec", self.switch, "ip", "link", "set", s, "master", "br0")
                _run("ip", "netns", "exec", self.switch, "ip", "link", "set", s, "up")
                _run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{self.address(host)}/24",
                     "dev", h)
                _run("ip", "netns", "exec", ns, "ip", "link", "set", h, "up")
                if self.shape.up_mbit:
                    _tbf(ns, h, self.shape.up_mbit)
                if self.shape.down_mbit:
                    _tbf(self.switch, s, self.shape.down_mbit)
            self._up = True
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        """Delete every namespace of this topology (veths go with them); idempotent."""
        for ns in [*(self.netns(h) for h in self.hosts), self.switch]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        self._up = False

    def __enter__(self) -> Self:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- running things inside hosts ------------------------------------------------------
    def argv(self, host: str, argv: Sequence[str]) -> list[str]:
        """The command line that runs ``argv`` inside ``host``'s namespace."""
        return ["ip", "netns", "exec", self.netns(host), *argv]

    def popen(self, host: str, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.argv(host, argv), **kwargs)

    def run(self, host: str, argv: Sequence[str], *, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(host, argv), check=check, **kwargs)
