"""The protocol engine: the party context protocols run against, its counters, and runners."""

from .context import PartyContext, protocol
from .stats import CallRecord, ProtocolStats, merge_records

__all__ = ["CallRecord", "PartyContext", "ProtocolStats", "merge_records", "protocol"]
