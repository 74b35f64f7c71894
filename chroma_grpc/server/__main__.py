"""``chroma-grpc run``: open the store, serve until SIGINT/SIGTERM, shut down gracefully.

Prints ``chroma-grpc listening on HOST:PORT`` once serving (with the real port when
``--port 0``); scripts and tests wait for that line. With ``--metrics-port`` it first prints
``chroma-grpc metrics on http://HOST:PORT/metrics``. Most flags can also come from an
environment variable ``CHROMA_GRPC_<FLAG>`` (e.g. ``CHROMA_GRPC_AUTH_TOKEN``, which keeps the
token out of the process list); a flag on the command line wins. Settings that cannot work (an
empty token, TLS files that do not fit, limits that contradict each other) stop it before it
serves, with a message naming the problem.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import cast

from chroma_grpc.server._signals import StopSignals
from chroma_grpc.server._write_streams import (
    DEFAULT_MAX_STREAM_BYTES,
    DEFAULT_MAX_TOTAL_STREAM_BYTES,
    DEFAULT_STREAM_IDLE_TIMEOUT_S,
    StreamLimits,
)
from chroma_grpc.server.app import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_WORKERS,
    ServerTLS,
    TLSConfigError,
    bracket_host,
    create_server,
)
from chroma_grpc.server.interceptors import checked_token, log_rpc
from chroma_grpc.server.logs import LOG_FORMATS, configure_logging
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.store.errors import ChromaError
from chroma_grpc.store.types import StoreLimits, TextEmbedder

logger = logging.getLogger("chroma_grpc.server")
TRUTHY = ("1", "true", "yes", "on")
ENV_PREFIX = "CHROMA_GRPC_"
DEFAULT_MAX_CONCURRENT_RPCS = 1024
# Running store calls get this long after --grace to finish before the process exits anyway.
STOP_TIMEOUT_S = 30.0
_DEFAULT_LIMITS = StoreLimits()
# Opens the store a server serves, from its arguments, limits and embedder.
StoreOpener = Callable[[argparse.Namespace, StoreLimits, "TextEmbedder | None"], StoreAPI]


def _env(name: str, default: str | float | None = None) -> str | float | None:
    """``CHROMA_GRPC_<name>`` if set and non-empty, else ``default`` (argparse applies
    the flag's ``type`` to a string default, so a bad value fails like a bad flag)."""
    return os.environ.get(ENV_PREFIX + name) or default


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or a positive integer, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chroma-grpc", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve a data folder over gRPC")
    run.add_argument("--path", default="./chroma_data", help="data folder (default ./chroma_data)")
    run.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=50051, help="port; 0 picks a free one")
    _add_limit_flags(run)
    _add_security_flags(run)
    run.add_argument(
        "--metrics-port",
        type=_non_negative_int,
        default=_env("METRICS_PORT"),
        help="serve Prometheus metrics on this port (0: a free one; absent: no metrics)",
    )
    run.add_argument(
        "--metrics-host",
        default=_env("METRICS_HOST", "127.0.0.1"),
        help="address /metrics binds (default 127.0.0.1: this machine only; it has no auth)",
    )
    run.add_argument(
        "--workers",
        type=_positive_int,
        default=_env("WORKERS", DEFAULT_WORKERS),
        help=f"threads running store calls (default {DEFAULT_WORKERS}: cores + 4, at most 32)",
    )
    run.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=_env("LOG_FORMAT", "text"),
        help="text, or json: one JSON object per line (default text)",
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
    # gateway / worker / cluster (docs/cluster.md); NATS loads only when one of them runs.
    from chroma_grpc.cluster.cli import add_cluster_commands

    add_cluster_commands(commands, [_add_limit_flags, _add_security_flags])
    return parser


def _add_limit_flags(run: argparse.ArgumentParser) -> None:
    """Limits advertised by GetServerInfo; the Python client sizes its requests by them."""
    run.add_argument(
        "--max-message-bytes",
        type=_positive_int,
        default=_env("MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES),
        help=f"largest message sent or received (default {DEFAULT_MAX_MESSAGE_BYTES})",
    )
    for direction in ("receive", "send"):
        run.add_argument(
            f"--max-{direction}-message-bytes",
            type=_positive_int,
            default=_env(f"MAX_{direction.upper()}_MESSAGE_BYTES"),
            help=f"largest message {direction}d; overrides --max-message-bytes",
        )
    for flag, default, what in (
        ("batch-size", _DEFAULT_LIMITS.max_batch_size, "records in one add/upsert/update"),
        ("dimension", _DEFAULT_LIMITS.max_dimension, "embedding dimension"),
        ("n-results", _DEFAULT_LIMITS.max_n_results, "n_results of a query"),
    ):
        run.add_argument(
            f"--max-{flag}",
            type=_positive_int,
            default=_env(f"MAX_{flag.upper().replace('-', '_')}", default),
            help=f"largest {what} (default {default})",
        )
    run.add_argument(
        "--max-stream-bytes",
        type=_positive_int,
        default=_env("MAX_STREAM_BYTES", DEFAULT_MAX_STREAM_BYTES),
        help="bytes one write stream may carry, all its messages together "
        f"(default {DEFAULT_MAX_STREAM_BYTES})",
    )
    run.add_argument(
        "--max-total-stream-bytes",
        type=_positive_int,
        default=_env("MAX_TOTAL_STREAM_BYTES", DEFAULT_MAX_TOTAL_STREAM_BYTES),
        help="bytes all uncommitted write streams may hold at once "
        f"(default {DEFAULT_MAX_TOTAL_STREAM_BYTES})",
    )
    run.add_argument(
        "--stream-idle-timeout",
        type=_positive_float,
        default=_env("STREAM_IDLE_TIMEOUT", DEFAULT_STREAM_IDLE_TIMEOUT_S),
        help="seconds a write stream may send nothing before it is ended, nothing written "
        f"(default {DEFAULT_STREAM_IDLE_TIMEOUT_S:g})",
    )
    run.add_argument(
        "--max-concurrent-rpcs",
        type=_non_negative_int,
        default=_env("MAX_CONCURRENT_RPCS", DEFAULT_MAX_CONCURRENT_RPCS),
        help="RPCs in progress at once; more get RESOURCE_EXHAUSTED (0: no cap; "
        f"default {DEFAULT_MAX_CONCURRENT_RPCS})",
    )


def _add_security_flags(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--auth-token",
        # Set but empty counts: an unset variable expanded must not start an open server.
        default=os.environ.get(ENV_PREFIX + "AUTH_TOKEN"),
        help="require this token ('authorization: Bearer TOKEN' or 'x-chroma-token: TOKEN') "
        "on every RPC but health and reflection; prefer env CHROMA_GRPC_AUTH_TOKEN, which ps "
        "does not show",
    )
    run.add_argument(
        "--reflection-requires-auth",
        action="store_true",
        default=str(_env("REFLECTION_REQUIRES_AUTH", "")).lower() in TRUTHY,
        help="with --auth-token, require the token for server reflection too (by default "
        "reflection is open: the schema is public)",
    )
    run.add_argument("--tls-cert", default=_env("TLS_CERT"), help="serve TLS: PEM certificate")
    run.add_argument("--tls-key", default=_env("TLS_KEY"), help="PEM private key of --tls-cert")
    run.add_argument(
        "--tls-client-ca",
        default=_env("TLS_CLIENT_CA"),
        help="require client certificates signed by this PEM CA (mTLS; needs --tls-cert)",
    )


def _tls(args: argparse.Namespace) -> ServerTLS | None:
    """TLS settings from the flags; SystemExit(2) with a message when they do not fit."""
    if not (args.tls_cert or args.tls_key or args.tls_client_ca):
        return None
    if not (args.tls_cert and args.tls_key):
        _parser().error("--tls-cert and --tls-key go together (and --tls-client-ca needs both)")
    try:
        return ServerTLS.from_files(args.tls_cert, args.tls_key, args.tls_client_ca)
    except TLSConfigError as error:
        _parser().error(f"TLS: {error}")


def _token(args: argparse.Namespace) -> str | None:
    """The auth token to serve with; SystemExit(2) with a message for one that cannot work."""
    if args.auth_token is None:
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            token = checked_token(args.auth_token)
        except ValueError as error:
            _parser().error(f"--auth-token / {ENV_PREFIX}AUTH_TOKEN: {error}")
    for warning in caught:
        logger.warning("--auth-token: %s", warning.message)
    return token


def _stream_limits(args: argparse.Namespace) -> StreamLimits:
    try:
        return StreamLimits(
            max_stream_bytes=args.max_stream_bytes,
            max_total_stream_bytes=args.max_total_stream_bytes,
            idle_timeout_s=args.stream_idle_timeout,
        )
    except ValueError as error:
        _parser().error(str(error))


def run(args: argparse.Namespace, open_store: StoreOpener | None = None) -> int:
    """Serve until a signal arrives; returns the process exit code. ``open_store`` serves
    another StoreAPI than a data folder's Store (``chroma-grpc gateway``: a cluster's)."""
    from chroma_grpc.store import Store  # deferred: `--help` need not load FAISS

    stop_signals = StopSignals()

    embedder = None
    if args.server_embedding:
        from chroma_grpc.embeddings import default_embedder

        embedder = default_embedder().embed
    tls = _tls(args)
    token = _token(args)
    stream_limits = _stream_limits(args)
    limits = StoreLimits(
        max_batch_size=args.max_batch_size,
        max_dimension=args.max_dimension,
        max_n_results=args.max_n_results,
    )
    try:
        if open_store is not None:
            store: StoreAPI = open_store(args, limits, embedder)
        else:
            store = Store(args.path, limits=limits, allow_reset=args.allow_reset, embedder=embedder)
    except ChromaError as error:  # folder in use, damaged or missing database, disk full
        print(f"chroma-grpc: not serving {args.path or 'the cluster'}: {error}", file=sys.stderr)
        return 1
    metrics = None
    try:
        sinks = [log_rpc]
        if args.metrics_port is not None:
            from chroma_grpc.server.metrics import ServerMetrics

            metrics = ServerMetrics(cast(Store, store))  # only `run` has --metrics-port
            sinks.append(metrics.observe)
            metrics_port = metrics.serve(args.metrics_host, args.metrics_port)
            metrics_url = f"http://{bracket_host(args.metrics_host)}:{metrics_port}/metrics"
            print(f"chroma-grpc metrics on {metrics_url}", flush=True)
        try:
            server, port = create_server(
                store,
                host=args.host,
                port=args.port,
                max_message_bytes=args.max_message_bytes,
                max_receive_message_bytes=args.max_receive_message_bytes,
                max_send_message_bytes=args.max_send_message_bytes,
                max_workers=args.workers,
                maximum_concurrent_rpcs=args.max_concurrent_rpcs,
                allow_reset=args.allow_reset,
                auth_token=token,
                reflection_requires_auth=args.reflection_requires_auth,
                tls=tls,
                rpc_sinks=sinks,
                stream_limits=stream_limits,
            )
        except RuntimeError as error:  # grpc's "Failed to bind to address"
            print(
                f"chroma-grpc: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr
            )
            return 1
        server.start()
        if token is None:
            auth = "off"
        elif args.reflection_requires_auth:
            auth = "on (health open)"
        else:
            auth = "on (health and reflection open)"
        logger.info(
            "Serving with TLS %s, token auth %s",
            "off"
            if tls is None
            else ("on, client certificates required" if tls.client_ca else "on"),
            auth,
        )
        print(f"chroma-grpc listening on {args.host}:{port}", flush=True)
        stop_signals.wait()
        if not server.stop(args.grace).wait(args.grace + STOP_TIMEOUT_S):
            # Something will not finish; say what, then leave: every acknowledged write is
            # already committed, and SQLite rolls back whatever was half done.
            logger.error("Not stopped %.0f s after the grace period; exiting now", STOP_TIMEOUT_S)
            faulthandler.dump_traceback(file=sys.stderr)
            os._exit(1)
    finally:
        if metrics is not None:
            metrics.close()
        store.close()
    logger.info("Stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point (``chroma-grpc``)."""
    args = _parser().parse_args(argv)
    configure_logging(args.log_format)
    if args.command == "run":
        return run(args)
    from chroma_grpc.cluster import cli

    if args.command == "gateway":
        return run(args, cli.open_gateway_store)
    if args.command == "worker":
        return cli.run_worker(args)
    return cli.run_cluster_up(args)


if __name__ == "__main__":
    sys.exit(main())
