"""Issue #12's absolute 1M goals, chroma-grpc alone: recall@10 ≥ 0.95 and resident bytes per
vector ≤ 1.5× float32 on 1,000,000 × 384-d vectors, ingested, indexed and answered on this
machine.

``make bench ARGS=--million`` measures chromadb 1.5.x at 1M as well, in turns, which takes well
over an hour here (its ingest alone most of one). These two goals need no peer, so this runs
only our engine, through the same ``benchmarks/engine.py`` session and the same cached
Gaussian mixture, and prints one JSON object (the numbers BENCHMARKS.md quotes):

    python -m benchmarks.million [--size 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time

import numpy as np

from benchmarks.__main__ import OURS, ROUND_QUERIES, Engine, gaussian_mixture, latency_summary

FLOAT32_BYTES = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000)
    args = parser.parse_args()
    started = time.time()
    data, probes, truth = gaussian_mixture(args.size)
    files = ["--data", str(data), "--probes", str(probes), "--truth", str(truth)]
    engine = Engine("chroma-grpc", OURS, *files, "--size", str(args.size))
    path = None
    try:
        row = engine.call("setup")  # ingest, first query, background graph complete, RSS
        answered = engine.call("single", start=0, count=ROUND_QUERIES, recall=True)
        row["recall_at_10"] = answered.pop("recall_at_10")
        row["idle"] = latency_summary([answered])
        closed = engine.close()
        path = closed.pop("path")
        row.update(closed)
    finally:
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
    dim = int(np.load(probes, mmap_mode="r").shape[1])
    row["rss_vs_float32"] = row["rss_per_vector"] / (dim * FLOAT32_BYTES)
    row["load_after"] = os.getloadavg()
    row["runtime_s"] = time.time() - started
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
