"""Prometheus metrics on their own registry and HTTP port (``chroma-grpc run --metrics-port``).

RPC counters and latency histograms are fed by :class:`ObservingInterceptor` records, labelled
like go-grpc-prometheus (``grpc_service``, ``grpc_method``, ``grpc_code``). The collection and
record gauges are computed at scrape time from the store, so they can never drift from it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chroma_grpc.server.interceptors import RpcRecord

logger = logging.getLogger("chroma_grpc.server")

# 1 ms .. 60 s: unary calls are milliseconds, large streamed writes can take tens of seconds.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
_RPC_LABELS = ("grpc_service", "grpc_method", "grpc_code")


class CountingStore(Protocol):
    """What the gauges need from the store."""

    def count_collections(self) -> int: ...

    def count_records_total(self) -> int: ...


class _StoreCollector(Collector):
    """``chroma_grpc_collections`` and ``chroma_grpc_records``, read at each scrape."""

    def __init__(self, store: CountingStore) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        try:
            collections = self._store.count_collections()
            records = self._store.count_records_total()
        except Exception:  # e.g. the store closed during shutdown: skip the gauges
            logger.warning("Could not read store counts for metrics", exc_info=True)
            return
        yield GaugeMetricFamily("chroma_grpc_collections", "Collections in the store", collections)
        yield GaugeMetricFamily("chroma_grpc_records", "Records in all collections", records)


class ServerMetrics:
    """The server's metrics; pass ``observe`` to the interceptor and ``serve`` a port."""

    def __init__(self, store: CountingStore) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._handled = Counter(
            "chroma_grpc_server_handled",
            "RPCs completed, by method and status code",
            _RPC_LABELS,
            registry=self.registry,
        )
        self._latency = Histogram(
            "chroma_grpc_server_handling_seconds",
            "RPC duration from handler start to final status, by method and status code",
            _RPC_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._received = Counter(
            "chroma_grpc_server_received_bytes",
            "Serialized request bytes received, by method",
            _RPC_LABELS[:2],
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(store))
        self._http: WSGIServer | None = None

    def observe(self, record: RpcRecord) -> None:
        labels = (record.service, record.method_name, record.code.name)
        self._handled.labels(*labels).inc()
        self._latency.labels(*labels).observe(record.seconds)
        self._received.labels(*labels[:2]).inc(record.request_bytes)

    def serve(self, host: str, port: int) -> int:
        """Serve ``/metrics`` on ``host:port`` (0: a free port) in a daemon thread; the port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._http = server
        return int(server.server_port)

    def close(self) -> None:
        """Stop the HTTP endpoint, if serving."""
        server, self._http = self._http, None
        if server is not None:
            server.shutdown()
            server.server_close()
