"""``chroma-grpc run``: open the store, serve until SIGINT/SIGTERM, shut down gracefully.

Prints ``chroma-grpc listening on HOST:PORT`` once serving (with the real port when
``--port 0``); scripts and tests wait for that line.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from chroma_grpc.server.app import DEFAULT_MAX_MESSAGE_BYTES, create_server

logger = logging.getLogger("chroma_grpc.server")
TRUTHY = ("1", "true", "yes", "on")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chroma-grpc", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve a data folder over gRPC")
    run.add_argument("--path", default="./chroma_data", help="data folder (default ./chroma_data)")
    run.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=50051, help="port; 0 picks a free one")
    run.add_argument(
        "--max-message-bytes",
        type=int,
        default=DEFAULT_MAX_MESSAGE_BYTES,
        help=f"largest message sent or received (default {DEFAULT_MAX_MESSAGE_BYTES})",
    )
    run.add_argument(
        "--allow-reset",
        action="store_true",
        default=os.environ.get("ALLOW_RESET", "").lower() in TRUTHY,
        help="allow the Reset RPC (also env ALLOW_RESET=TRUE)",
    )
    run.add_argument(
        "--no-server-embedding",
        dest="server_embedding",
        action="store_false",
        default=os.environ.get("CHROMA_GRPC_SERVER_EMBEDDING", "true").lower() in TRUTHY,
        help="do not embed documents / query texts sent without vectors: answer "
        "FAILED_PRECONDITION instead (also env CHROMA_GRPC_SERVER_EMBEDDING=false)",
    )
    run.add_argument(
        "--grace", type=float, default=5.0, help="seconds in-flight RPCs get at shutdown"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Serve until a signal arrives; returns the process exit code."""
    from chroma_grpc.store import Store  # deferred: `--help` need not load FAISS

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        logger.info("Received %s, shutting down", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    embedder = None
    if args.server_embedding:
        from chroma_grpc.embeddings import default_embedder

        embedder = default_embedder().embed
    store = Store(args.path, allow_reset=args.allow_reset, embedder=embedder)
    try:
        try:
            server, port = create_server(
                store,
                host=args.host,
                port=args.port,
                max_message_bytes=args.max_message_bytes,
                allow_reset=args.allow_reset,
            )
        except RuntimeError as error:  # grpc's "Failed to bind to address"
            print(
                f"chroma-grpc: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr
            )
            return 1
        server.start()
        print(f"chroma-grpc listening on {args.host}:{port}", flush=True)
        while not stopping.wait(0.5):
            pass
        server.stop(args.grace).wait()
    finally:
        store.close()
    logger.info("Stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point (``chroma-grpc``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = _parser().parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
