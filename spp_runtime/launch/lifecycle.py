"""The one cleanup policy of every launcher: what it started stops however the caller ends.

A launcher enters :class:`Cleanup` before it starts its first process and starts each process
inside :meth:`Cleanup.held`, so that the process is recorded before anything can interrupt.
Leaving the block calls the launcher's ``stop``: on an exception, on SIGTERM (a CI timeout,
``kill``), on SIGINT (Ctrl-C), and on a normal exit unless the processes are meant to outlive
the block (``on_success=False``: a detached cluster after ``spp cluster up``, party processes
that the kernel ends with their parent). Inside the block, in the main thread, SIGTERM raises
``SystemExit(143)`` and SIGINT ``KeyboardInterrupt``, so the stack unwinds to ``stop``; while
a process starts, and while ``stop`` runs, both are held back and delivered afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, TracebackType
from typing import Self

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOP_GRACE_S = 5.0  # how long a stopped process gets to exit before SIGKILL


class Cleanup:
    """Call ``stop`` when the block ends: always, or only on failure if not ``on_success``.

    Failure means an exception, SIGTERM or SIGINT. Signals are turned into exceptions only
    in the main thread (the only one Python delivers them to); elsewhere ``stop`` still runs
    on exceptions. A signal whose handler was SIG_IGN stays ignored. Blocks nest: the inner
    one restores the outer one's handlers when it ends.
    """

    def __init__(self, stop: Callable[[], None], *, on_success: bool = True) -> None:
        self._stop = stop
        self._on_success = on_success
        self._previous: dict[int, signal.Handlers | Callable[[int, FrameType | None], object] | int] = {}
        self._holding = False
        self._pending: int | None = None

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for sig in EXIT_SIGNALS:
                previous = signal.getsignal(sig)
                if previous is None or previous == signal.SIG_IGN:
                    continue  # installed outside Python (cannot be restored) or ignored on purpose
                self._previous[sig] = previous
                signal.signal(sig, self._on_signal)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._holding = True
        try:
            if exc_type is not None or self._on_success:
                self._stop()
        finally:
            for sig, previous in self._previous.items():
                signal.signal(sig, previous)
            self._previous.clear()
            self._holding = False
            pending, self._pending = self._pending, None
            if pending is not None:
                signal.raise_signal(pending)  # now for the handler the caller had

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold SIGTERM and SIGINT back inside the block (start a process and record it as one
        step); one that arrived is raised when the block ends."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        pending, self._pending = self._pending, None
        if pending is not None:
            raise _exception_for(pending)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._holding:
            if self._pending is None:
                self._pending = signum
            return
        raise _exception_for(signum)


def _exception_for(signum: int) -> BaseException:
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    return SystemExit(128 + signum)


def stop_processes(procs: Sequence[subprocess.Popen], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every process still running, give them ``grace_s`` together, SIGKILL the rest."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace_s
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def alive(pid: int) -> bool:
    """Is ``pid`` a running process (not a zombie)? Without procfs: does it exist?"""
    if not Path("/proc/self").exists():
        try:
            os.kill(pid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
