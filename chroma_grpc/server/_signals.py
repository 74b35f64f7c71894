"""Waiting for SIGINT / SIGTERM in a process full of threads.

CPython runs a Python signal handler only when the main thread next runs Python code. The
kernel may deliver a process's SIGTERM to any thread that does not block it (grpc's, the store
workers'), and that does not wake a main thread blocked on a lock without a timeout: a plain
``Event.wait()`` could sleep through the signal for ever. The wait here is timed, so a pending
handler runs within ``POLL_S``.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

logger = logging.getLogger(__name__)
POLL_S = 0.2


class StopSignals:
    """SIGINT and SIGTERM ask the process to stop; :meth:`wait` returns once one has."""

    def __init__(self) -> None:
        self._received = threading.Event()
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        logger.info("Received %s, shutting down", signal.Signals(signum).name)
        self._received.set()

    def wait(self) -> None:
        """Block (main thread) until SIGINT or SIGTERM has arrived."""
        while not self._received.wait(POLL_S):
            pass
