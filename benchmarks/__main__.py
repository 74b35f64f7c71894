"""``make bench``: chroma-grpc against chromadb 1.5.x (and 0.4.24) in one run, written to
BENCHMARKS.md with the machine, the command, the date and the ratios.

Every engine runs in its own interpreter (``benchmarks/engine.py``), on the same cached data:
a Gaussian mixture (384-d) for scale, stored with metadata and documents in a persistent
client; recall of real sentence embeddings comes from :mod:`benchmarks.recall`. Absolute
numbers on a shared 2-core machine are noisy: read the ratios, which are measured back to back,
and the load average the report records.

    python -m benchmarks                 # 10k and 100k, embedded and client/server
    python -m benchmarks --million       # also 1M vectors (chroma-grpc and chromadb 1.5.x)
    python -m benchmarks --quick         # 10k only, no sentence recall (a smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "benchmarks" / "engine.py"
CACHE = ROOT / ".bench_cache"
OURS = sys.executable
PEERS = {
    "chromadb": ROOT / ".venv-peer1" / "bin" / "python",  # 1.5.x, what users install today
    "chromadb-0.4.24": ROOT / ".venv-peer" / "bin" / "python",
}
DIM = 384
PROBES = 300


def gaussian_mixture(size: int, seed: int = 7) -> tuple[Path, Path, Path]:
    """Data, probes and exact top-10 ground truth for ``size`` vectors, cached as .npy."""
    import faiss

    CACHE.mkdir(exist_ok=True)
    stem = CACHE / f"gmm_{size}_{DIM}_{seed}"
    paths = tuple(Path(f"{stem}_{part}.npy") for part in ("data", "probes", "truth"))
    if all(p.exists() for p in paths):
        return paths  # type: ignore[return-value]
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((100, DIM)).astype(np.float32) * 2.0
    labels = rng.integers(0, len(centres), size + PROBES)
    vectors = centres[labels] + rng.standard_normal((size + PROBES, DIM)).astype(np.float32)
    data, probes = vectors[:size], vectors[size:]
    flat = faiss.IndexFlatL2(DIM)
    flat.add(data)
    _, truth = flat.search(probes, 100)
    for path, array in zip(paths, (data, probes, truth), strict=True):
        np.save(path, array)
    return paths  # type: ignore[return-value]


def run_engine(python: Path | str, mode: str, engine: str, *args: str) -> dict[str, Any]:
    command = [str(python), str(ENGINE), mode, "--engine", engine, *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANONYMIZED_TELEMETRY": "False"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{engine} {mode} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def embedded(name: str, python: Path | str, size: int) -> dict[str, Any]:
    engine = "chroma-grpc" if name == "chroma-grpc" else "chromadb"
    data, probes, truth = gaussian_mixture(size)
    files = ["--data", str(data), "--probes", str(probes), "--truth", str(truth)]
    print(f"  {name} embedded {size:,} ...", flush=True)
    result = run_engine(python, "embedded", engine, *files, "--size", str(size))
    try:
        reopened = run_engine(python, "reopen", engine, "--path", result["path"], *files)
        result["reopen_s"] = reopened["reopen_s"]
    finally:
        shutil.rmtree(result.pop("path"), ignore_errors=True)
    result["engine"] = name
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(name: str, data_dir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    if name == "chroma-grpc":
        command = [OURS, "-m", "chroma_grpc", "run", "--port", str(port), "--path", data_dir]
    else:
        chroma = Path(PEERS["chromadb"]).parent / "chroma"
        command = [str(chroma), "run", "--path", data_dir, "--port", str(port)]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    log = Path(data_dir) / "server.log"
    with open(log, "wb") as sink:  # a pipe nobody reads would stall a chatty server
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=sink)
    target = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"{name} server exited: {log.read_text()[-2000:]}")
        if _answers(name, port):
            return server, target
        time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"{name} server did not start")


def _answers(name: str, port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
        if name == "chroma-grpc":
            return True
        url = f"http://127.0.0.1:{port}/api/v2/heartbeat"
        with urllib.request.urlopen(url, timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def client_server(name: str, size: int) -> dict[str, Any]:
    engine = "chroma-grpc" if name == "chroma-grpc" else "chromadb"
    python = OURS if name == "chroma-grpc" else PEERS["chromadb"]
    data, probes, truth = gaussian_mixture(size)
    print(f"  {name} server {size:,} ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-server-") as data_dir:
        server, target = start_server(name, data_dir)
        try:
            files = ["--data", str(data), "--probes", str(probes), "--truth", str(truth)]
            result = run_engine(
                python,
                "server",
                engine,
                *files,
                "--size",
                str(size),
                "--target",
                target,
                "--server-pid",
                str(server.pid),
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    result["engine"] = name
    return result


def sentence_recall(peer: Path) -> dict[str, Any]:
    """Recall@10 on 100k real sentence embeddings (cosine) and on 20k random Gaussian vectors
    (just past the exact-search threshold), chroma-grpc and chromadb 1.5.x."""
    print("  recall on sentence embeddings ...", flush=True)
    command = [
        OURS,
        "-m",
        "benchmarks.recall",
        "--spaces",
        "cosine",
        "--gaussian-size",
        "20000",
        "--peer",
        str(peer),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"recall failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def machine() -> dict[str, Any]:
    model = ""
    try:
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        model = found.group(1) if found else ""
    except OSError:
        pass
    versions = {}
    for name, python in PEERS.items():
        if Path(python).exists():
            done = subprocess.run(
                [str(python), "-c", "import chromadb; print(chromadb.__version__)"],
                capture_output=True,
                text=True,
                check=False,
            )
            versions[name] = done.stdout.strip()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "python": platform.python_version(),
        "peers": versions,
        "load_before": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--million", action="store_true", help="also 1M vectors")
    parser.add_argument("--quick", action="store_true", help="10k only, no sentence recall")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    started = time.time()
    info = machine()
    sizes = [10_000] if args.quick else [10_000, 100_000]
    results: dict[str, Any] = {"machine": info, "embedded": {}, "server": {}, "recall": None}
    engines = [("chroma-grpc", OURS)] + [
        (name, python) for name, python in PEERS.items() if Path(python).exists()
    ]
    for size in [*sizes, *([1_000_000] if args.million else [])]:
        rows = []
        for name, python in engines:
            if size >= 1_000_000 and name == "chromadb-0.4.24":
                continue  # its 1M ingest alone takes most of an hour here
            rows.append(embedded(name, python, size))
        results["embedded"][size] = rows
    if Path(PEERS["chromadb"]).exists():
        results["server"][10_000] = [client_server(n, 10_000) for n in ("chroma-grpc", "chromadb")]
        if not args.quick:
            results["recall"] = sentence_recall(Path(PEERS["chromadb"]))
    info["load_after"] = os.getloadavg()
    info["date"] = report._now()
    info["runtime_s"] = time.time() - started
    info["command"] = "make bench" + (
        "" if not sys.argv[1:] else f" ARGS='{' '.join(sys.argv[1:])}'"
    )
    CACHE.mkdir(exist_ok=True)
    (CACHE / "bench_results.json").write_text(json.dumps(results, indent=1, default=str))
    text = report.render(results)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
