"""Jobs side by side: at most ``slots`` running at once on worker threads, the rest waiting in
the order they were given, each told its place in the queue.

Every party starts jobs in P0's order (P0 submits them in the order it announces them, P1 and
P2 in the order of those announcements), so the jobs running on the three servers are always
a window over the same sequence and cannot wait for each other in a cycle: the earliest job
not finished everywhere runs (or has finished) on every party. Each job runs in its own
session (its own seeds and counters) on its own thread; the serving loop stays free for
status, storage and new requests meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..api.messages import JobRequest

log = logging.getLogger(__name__)


@dataclass
class Queued:
    """A job ready to run: the request, where its answers go, its stored inputs, its client
    and the public record of the stored model it runs (None without one)."""

    job: JobRequest
    route: bytes
    stored: dict
    client: str
    model: dict | None = None


class JobScheduler:
    """Runs :class:`Queued` jobs on threads, ``slots`` at a time, first come first started.

    ``run(item)`` runs one job (on its thread); ``release()`` is called on that thread when it
    ends; ``on_wait(item, position)`` (serving thread) tells a waiting job its place (1: next).
    """

    def __init__(self, slots: int, run: Callable[[Queued], None], *, release: Callable[[], None],
                 on_wait: Callable[[Queued, int], None] | None = None) -> None:
        if slots < 1:
            raise ValueError("a server needs at least one job slot")
        self.slots = slots
        self._run = run
        self._release = release
        self._on_wait = on_wait
        self._lock = threading.Lock()
        self._running: dict[str, tuple[threading.Thread, Queued]] = {}
        self._queue: deque[Queued] = deque()

    def submit(self, item: Queued) -> None:
        """Queue a job (serving thread); it starts in :meth:`start_ready` when a slot is free."""
        self._queue.append(item)
        self.start_ready()
        if self._queue and self._queue[-1] is item and self._on_wait is not None:
            self._on_wait(item, len(self._queue))

    def start_ready(self) -> None:
        """Start waiting jobs while slots are free; tell the others their new places."""
        started = False
        while self._queue and self.free_slots() > 0:
            item = self._queue.popleft()
            thread = threading.Thread(target=self._thread, args=(item,), name=f"job-{item.job.job}", daemon=True)
            with self._lock:
                self._running[item.job.job] = (thread, item)
            thread.start()
            started = True
        if started and self._on_wait is not None:
            for position, item in enumerate(self._queue, 1):
                self._on_wait(item, position)

    def free_slots(self) -> int:
        with self._lock:
            return self.slots - len(self._running)

    def running(self) -> list[Queued]:
        with self._lock:
            return [item for _, item in self._running.values()]

    def waiting(self) -> list[Queued]:
        return list(self._queue)

    def held_by(self, client: str) -> int:
        """Jobs of ``client`` running or waiting here."""
        return sum(1 for item in [*self.running(), *self._queue] if item.client == client)

    def uses_checkpoint(self, checkpoint: str, client: str | None = None) -> str | None:
        """The job (running or waiting) that uses checkpoint id ``checkpoint``, if any (of
        ``client`` only when given: checkpoint ids are per client)."""
        for item in [*self.running(), *self._queue]:
            if item.job.checkpoint == checkpoint and (client is None or item.client == client):
                return item.job.job
        return None

    def saves_model(self, name: str) -> str | None:
        """The job (running or waiting) that keeps its model on the servers as ``name``, if any."""
        for item in [*self.running(), *self._queue]:
            if item.job.save_as == name:
                return item.job.job
        return None

    def busy(self) -> bool:
        with self._lock:
            return bool(self._running) or bool(self._queue)

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the running jobs; False if some still run."""
        with self._lock:
            threads = [t for t, _ in self._running.values()]
        for t in threads:
            t.join(timeout)
        return not any(t.is_alive() for t in threads)

    def _thread(self, item: Queued) -> None:
        try:
            self._run(item)
        except Exception:  # run() answers its client itself; this is a bug, never a reason to stop
            log.exception("job %s: unexpected error on its thread", item.job.job)
        finally:
            with self._lock:
                self._running.pop(item.job.job, None)
            self._release()
