"""Start chroma-grpc servers for tests: in-process over a given store, or as a subprocess.

with serve_in_process(Store()) as address:          # "127.0.0.1:PORT"
    store = StoreProxy(address)

with serve_in_memory() as address:                  # over a new in-memory Store, reset allowed
    ...

server = start_server_process(tmp_path, "--allow-reset")
... server.address ...
server.stop()                                       # SIGTERM, returns the exit code
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chroma_grpc.server.app import create_server
from chroma_grpc.store import Store
from chroma_grpc.store.api import StoreAPI

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"chroma-grpc listening on (\S+):(\d+)")
METRICS = re.compile(r"chroma-grpc metrics on (\S+)")
STARTUP_TIMEOUT = 60.0


@contextmanager
def serve_in_process(store: StoreAPI, **options: Any) -> Iterator[str]:
    """Serve ``store`` on 127.0.0.1 (a free port) for the block; yields "127.0.0.1:PORT".

    ``options`` go to ``create_server``. The store is not closed: the caller owns it.
    """
    server, port = create_server(store, host="127.0.0.1", port=0, **options)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None).wait()


@contextmanager
def serve_in_memory(**options: Any) -> Iterator[str]:
    """Serve a new in-memory store that allows reset for the block (closed after it); yields
    "127.0.0.1:PORT". ``options`` go to ``create_server``."""
    store = Store(None, allow_reset=True)
    try:
        with serve_in_process(store, **options) as address:
            yield address
    finally:
        store.close()


@dataclass
class ServerProcess:
    """A ``python -m chroma_grpc run`` subprocess; ``output`` collects its stdout/stderr."""

    process: subprocess.Popen[str]
    host: str
    port: int
    output: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def metrics_url(self) -> str:
        """The ``/metrics`` URL printed when the server runs with ``--metrics-port``."""
        for line in self.output:
            match = METRICS.search(line)
            if match:
                return match.group(1)
        raise LookupError("the server printed no metrics URL (run it with --metrics-port)")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` (SIGTERM by default) and wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_server_process(
    path: str | os.PathLike[str], *extra_args: str, env: dict[str, str] | None = None
) -> ServerProcess:
    """Run ``python -m chroma_grpc run --path PATH --port 0 EXTRA...`` and wait until it serves.

    ``env`` adds to (and overrides) this process's environment.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "chroma_grpc", "run", "--path", str(path), "--port", "0"]
    process = subprocess.Popen(
        [*command, *extra_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert process.stdout is not None
    output: list[str] = []
    found: list[re.Match[str]] = []
    ready = threading.Event()

    def pump() -> None:  # keep draining so the child never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            match = LISTENING.search(line)
            if match and not found:
                found.append(match)
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(STARTUP_TIMEOUT) or not found:
        process.kill()
        process.wait()
        raise RuntimeError("chroma-grpc did not start:\n" + "".join(output))
    host, port = found[0].group(1), int(found[0].group(2))
    return ServerProcess(process, host, port, output)
