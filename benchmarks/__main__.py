"""Run every benchmark workload in one go and report ratios against the peers of the same run.

Usage: ``make bench`` (or ``python -m benchmarks`` with the project venv active and the peer
venv ``.venv-peer`` holding chromadb 0.4.24). Absolute numbers on shared 2-core machines are
noisy; the ratios between implementations measured back to back are what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD = ROOT / "benchmarks" / "workload.py"
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"
METRICS = (
    "ingest_records_per_s",
    "first_query_s",
    "single_query_per_s",
    "batch_query_per_s",
    "filtered_query_per_s",
    "get_2000_with_embeddings_s",
    "recall_at_10",
)


def run_workload(python: str, client: str, extra: list[str], target: str | None = None) -> Any:
    command = [python, str(WORKLOAD), "--client", client, *extra]
    if target:
        command += ["--target", target]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANONYMIZED_TELEMETRY": "False"}
    completed = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run_server_workload(extra: list[str]) -> Any:
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen(
            [sys.executable, "-m", "chroma_grpc", "run", "--port", "0", "--path", data],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            match = re.search(r"listening on (\S+)", line)
            if not match:
                raise RuntimeError(f"server did not start: {line!r}")
            return run_workload(sys.executable, "chroma-grpc-server", extra, match.group(1))
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", default="20000")
    parser.add_argument("--dim", default="384")
    parser.add_argument("--queries", default="200")
    args = parser.parse_args()
    extra = ["--count", args.count, "--dim", args.dim, "--queries", args.queries]

    results = [
        run_workload(sys.executable, "chroma-grpc-embedded", extra),
        run_server_workload(extra),
    ]
    if PEER_PYTHON.exists():
        results.append(run_workload(str(PEER_PYTHON), "chromadb", extra))
    else:
        print(f"(peer skipped: {PEER_PYTHON} missing; `make bench` creates it)")

    width = max(len(m) for m in METRICS)
    print(f"{'metric':<{width}}  " + "  ".join(f"{r['client']:>22}" for r in results))
    for metric in METRICS:
        print(f"{metric:<{width}}  " + "  ".join(f"{r[metric]:>22.3f}" for r in results))
    peer = next((r for r in results if r["client"] == "chromadb"), None)
    if peer:
        print("\nratios against chromadb 0.4.24 embedded, same run (>1 = chroma-grpc better):")
        for result in results[:-1]:
            for metric in ("ingest_records_per_s", *METRICS[2:5]):
                print(
                    f"  {result['client']:<22} {metric:<22} {result[metric] / peer[metric]:6.2f}x"
                )
            get_ratio = peer["get_2000_with_embeddings_s"] / result["get_2000_with_embeddings_s"]
            print(f"  {result['client']:<22} {'get_2000 (speed)':<22} {get_ratio:6.2f}x")


if __name__ == "__main__":
    main()
