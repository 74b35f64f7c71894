"""``chroma-grpc gateway``, ``chroma-grpc worker`` and ``chroma-grpc cluster up``.

The commands are added to the ``chroma-grpc`` parser by ``chroma_grpc.server.__main__``; this
module imports nothing of NATS until a command runs, so single-node users need no extra.
docs/operations.md lists every flag.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from chroma_grpc.store.types import StoreLimits, TextEmbedder

logger = logging.getLogger("chroma_grpc.cluster")
TRUTHY = ("1", "true", "yes", "on")
FlagAdder = Callable[[argparse.ArgumentParser], None]


def _urls(text: str) -> list[str]:
    urls = [u.strip() for u in text.split(",") if u.strip()]
    if not urls:
        raise argparse.ArgumentTypeError("expected nats://HOST:PORT[,nats://HOST:PORT...]")
    return urls


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _milliseconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected milliseconds (0 or more), got {text}")
    return value


def _topology_flags(parser: argparse.ArgumentParser) -> None:
    from_env = os.environ.get("CHROMA_GRPC_NATS")
    parser.add_argument(
        "--nats",
        type=_urls,
        required=from_env is None,
        default=_urls(from_env) if from_env else None,
        help="NATS servers, comma-separated (nats://127.0.0.1:4222,...); also env CHROMA_GRPC_NATS",
    )
    parser.add_argument(
        "--partitions",
        type=_positive_int,
        default=4,
        help="log streams a new cluster spreads collections over (default 4; fixed by the "
        "first process of a cluster)",
    )
    parser.add_argument(
        "--log-replicas",
        type=_positive_int,
        default=3,
        help="copies JetStream keeps of the log and buckets (default 3: one server may be lost)",
    )


def add_cluster_commands(commands: Any, shared_flags: list[FlagAdder]) -> None:
    """Add gateway / worker / cluster to the ``chroma-grpc`` sub-command parsers;
    ``shared_flags`` add the single-node server's limit and security flags to the gateway."""
    gateway = commands.add_parser(
        "gateway", help="serve the public API over a cluster (stateless; run several)"
    )
    _topology_flags(gateway)
    gateway.add_argument("--host", default="127.0.0.1", help="address to bind")
    gateway.add_argument("--port", type=int, default=50051, help="port; 0 picks a free one")
    gateway.add_argument(
        "--default-shards",
        type=_positive_int,
        default=1,
        help="shards of a new collection without cluster:shards metadata (default 1)",
    )
    gateway.add_argument(
        "--hedge-after",
        type=float,
        default=0.05,
        help="seconds before a read also asks a second replica of a shard (default 0.05)",
    )
    for add in shared_flags:
        add(gateway)
    gateway.add_argument("--workers", type=_positive_int, default=None, help="RPC threads")
    gateway.add_argument("--log-format", choices=("text", "json"), default="text")
    gateway.add_argument(
        "--allow-reset",
        action="store_true",
        default=os.environ.get("ALLOW_RESET", "").lower() in TRUTHY,
        help="allow the Reset RPC (also env ALLOW_RESET=TRUE)",
    )
    gateway.add_argument(
        "--no-server-embedding",
        dest="server_embedding",
        action="store_false",
        default=os.environ.get("CHROMA_GRPC_SERVER_EMBEDDING", "true").lower() in TRUTHY,
        help="do not embed documents / query texts sent without vectors",
    )
    gateway.add_argument("--grace", type=float, default=5.0)
    gateway.set_defaults(metrics_port=None, metrics_host="127.0.0.1", path=None)

    worker = commands.add_parser("worker", help="host shard replicas of a cluster")
    _topology_flags(worker)
    worker.add_argument("--data", required=True, help="folder for this worker's replicas")
    worker.add_argument("--host", default="127.0.0.1", help="address of the shard service")
    worker.add_argument("--port", type=int, default=0, help="shard service port (0: free)")
    worker.add_argument(
        "--replication",
        type=_positive_int,
        default=2,
        help="replicas of each shard across workers (default 2)",
    )
    worker.add_argument(
        "--checkpoints",
        default=os.environ.get("CHROMA_GRPC_CHECKPOINTS"),
        help="s3://BUCKET[/PREFIX] for checkpoints (default: NATS Object Store)",
    )
    worker.add_argument("--s3-endpoint", default=os.environ.get("CHROMA_GRPC_S3_ENDPOINT"))
    worker.add_argument(
        "--checkpoint-every-ops",
        type=_positive_int,
        default=1000,
        help="checkpoint a shard after this many applied operations (default 1000)",
    )
    worker.add_argument(
        "--checkpoint-interval",
        type=float,
        default=60.0,
        help="or after this many seconds with any (default 60)",
    )
    worker.add_argument("--log-format", choices=("text", "json"), default="text")
    worker.add_argument(
        "--simulated-read-ms",
        type=_milliseconds,
        default=0.0,
        help="benchmarks only: each shard read also takes this long on one simulated core "
        "(the cost-model run, docs/cluster.md)",
    )
    worker.add_argument(
        "--simulated-record-ms",
        type=_milliseconds,
        default=0.0,
        help="benchmarks only: each applied record also takes this long on that core",
    )

    cluster = commands.add_parser("cluster", help="a whole cluster on this machine")
    actions = cluster.add_subparsers(dest="cluster_command", required=True)
    up = actions.add_parser(
        "up", help="start 3 NATS servers, 2 workers and 2 gateways on loopback until Ctrl-C"
    )
    up.add_argument("--data", default="./chroma_data-cluster", help="folder for everything")
    up.add_argument("--port", type=int, default=50051, help="first gateway's port")
    up.add_argument("--workers", type=_positive_int, default=2, dest="worker_count")
    up.add_argument("--gateways", type=_positive_int, default=2)
    up.add_argument("--default-shards", type=_positive_int, default=2)
    up.add_argument("--replication", type=_positive_int, default=2)
    up.add_argument("--s3", action="store_true", help="checkpoints to an S3 endpoint (moto)")
    up.add_argument("--allow-reset", action="store_true")
    up.add_argument("--log-format", choices=("text", "json"), default="text")


def open_gateway_store(
    args: argparse.Namespace, limits: StoreLimits, embedder: TextEmbedder | None
) -> Any:
    from chroma_grpc.cluster.gateway import ClusterStore

    return ClusterStore(
        args.nats,
        limits=limits,
        allow_reset=args.allow_reset,
        embedder=embedder,
        default_shards=args.default_shards,
        partitions=args.partitions,
        replicas=args.log_replicas,
        hedge_after_s=args.hedge_after,
    )


def run_worker(args: argparse.Namespace) -> int:
    from chroma_grpc.cluster.checkpoints import S3Blobs
    from chroma_grpc.cluster.simulated import ServiceTimes
    from chroma_grpc.cluster.worker import Worker

    blobs = S3Blobs(args.checkpoints, args.s3_endpoint) if args.checkpoints else None
    worker = Worker(
        args.nats,
        args.data,
        host=args.host,
        port=args.port,
        replication=args.replication,
        partitions=args.partitions,
        log_replicas=args.log_replicas,
        blobs=blobs,
        checkpoint_ops=args.checkpoint_every_ops,
        checkpoint_interval_s=args.checkpoint_interval,
        service_times=ServiceTimes(args.simulated_read_ms / 1e3, args.simulated_record_ms / 1e3),
    )

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        if blobs is not None:
            await blobs.ensure_bucket()
        await worker.start()
        print(f"chroma-grpc worker {worker.id} listening on {worker.address}", flush=True)
        await stopping.wait()
        logger.info("worker %s stopping", worker.id)
        await worker.stop()

    asyncio.run(main())
    return 0


def run_cluster_up(args: argparse.Namespace) -> int:
    from chroma_grpc.cluster.local import LocalCluster

    cluster = LocalCluster(
        args.data,
        workers=args.worker_count,
        gateways=args.gateways,
        replication=args.replication,
        default_shards=args.default_shards,
        s3=args.s3,
        allow_reset=args.allow_reset,
        gateway_ports=[args.port + i for i in range(args.gateways)] if args.port else (),
    )
    from chroma_grpc.server._signals import StopSignals

    stop_signals = StopSignals()
    try:
        cluster.start()
        hosts = ",".join(cluster.gateway_addresses)
        print(cluster.describe(), flush=True)
        print(
            "\nConnect with:\n"
            "  import chroma_grpc\n"
            f'  client = chroma_grpc.HttpClient(host="{hosts}")\n'
            "Ctrl-C stops everything.",
            flush=True,
        )
        stop_signals.wait()
    except RuntimeError as error:
        print(f"chroma-grpc cluster up: {error}", file=sys.stderr)
        return 1
    finally:
        cluster.stop()
    return 0
