"""A dependency-free progress line for large streamed writes (opt-in).

Turned on by ``Settings(chroma_grpc_progress=True)`` (env ``CHROMA_GRPC_PROGRESS=1``) or
``StoreProxy(progress=True)``. It prints to stderr once per chunk handed to grpc, rewriting one
line on a terminal and one line per chunk otherwise (logs, CI), then a final line when the
server has committed the batch::

    chroma-grpc add: 4,096/10,000 records sent (41%)
    chroma-grpc add: 10,000 records committed
"""

from __future__ import annotations

import sys
from typing import TextIO


class WriteProgress:
    """Progress of one add/upsert/update of ``total`` records."""

    def __init__(self, verb: str, total: int, stream: TextIO | None = None) -> None:
        self._verb = verb
        self._total = total
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty()

    def sent(self, records: int) -> None:
        percent = 100 * records // self._total if self._total else 100
        self._write(
            f"chroma-grpc {self._verb}: {records:,}/{self._total:,} records sent ({percent}%)",
            final=False,
        )

    def done(self) -> None:
        self._write(f"chroma-grpc {self._verb}: {self._total:,} records committed", final=True)

    def failed(self) -> None:
        self._write(f"chroma-grpc {self._verb}: failed (see the raised error)", final=True)

    def _write(self, line: str, *, final: bool) -> None:
        if self._tty:
            self._stream.write("\r\x1b[K" + line + ("\n" if final else ""))
        else:
            self._stream.write(line + "\n")
        self._stream.flush()
