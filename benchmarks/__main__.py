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
import contextlib
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
from collections.abc import Callable
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


# Phases run in rounds, every engine in turn (the order alternating), so that each side is
# measured in the same minutes under the same competing load; percentiles come from every
# round's samples pooled, rates from the median call.
ROUNDS = 8  # single-query rounds per phase, each a pass over the probes
ROUND_QUERIES = PROBES
WARMUP_QUERIES = 30
BATCH_ROUNDS = 6
BATCH_CALLS = 3  # 100-query calls per engine per round
REOPENS = 3
CONCURRENT_ROUNDS = 3
CONCURRENT_SECONDS = 4.0
CLIENTS = 8
BUSY_LOOP = "while True: pass"
# The 1-minute load average at the start of every round measured in turns: what else (other
# processes on this shared machine, plus our own busy core when one runs) competed meanwhile.
LOAD_DURING: list[float] = []


class BusyCore:
    """One busy-looping process: the competing load, the same for every engine."""

    def __enter__(self) -> BusyCore:
        self.process = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
        time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait()


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "ANONYMIZED_TELEMETRY": "False"}


class Engine:
    """An engine's ``serve`` process (benchmarks/engine.py): one collection, kept open, that
    runs the phases it is sent, one at a time."""

    def __init__(self, name: str, python: Path | str, *args: str) -> None:
        self.name = name
        engine = "chroma-grpc" if name == "chroma-grpc" else "chromadb"
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._process = subprocess.Popen(
            [str(python), str(ENGINE), "serve", "--engine", engine, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=_env(),
        )

    def call(self, op: str, **arguments: Any) -> dict[str, Any]:
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            self._log.seek(0)
            errors = self._log.read().decode(errors="replace")[-4000:]
            raise RuntimeError(f"{self.name} {op} failed:\n{errors}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> dict[str, Any]:
        try:
            return self.call("close")
        finally:
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._log.close()


def in_turns(
    engines: list[Engine], rounds: int, phase: Callable[[Engine, int], dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """``phase(engine, round)`` for every engine, round after round, alternating the order."""
    results: dict[str, list[dict[str, Any]]] = {e.name: [] for e in engines}
    for n in range(rounds):
        LOAD_DURING.append(os.getloadavg()[0])
        for engine in engines if n % 2 == 0 else engines[::-1]:
            results[engine.name].append(phase(engine, n))
    return results


def latency_summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Percentiles of every round's latencies pooled, mean, CPU per query, sample count."""
    ms = np.asarray([x for r in rounds for x in r["latencies"]]) * 1e3
    out: dict[str, Any] = {f"p{p}_ms": float(np.percentile(ms, p)) for p in (50, 95, 99)}
    out["mean_ms"] = float(ms.mean())
    out["cpu_ms"] = sum(r["cpu_s"] for r in rounds) / len(ms) * 1e3
    out["samples"] = len(ms)
    return out


def single_query_phases(engines: list[Engine]) -> dict[str, dict[str, Any]]:
    for engine in engines:  # caches and code paths warm on every side
        engine.call("single", start=0, count=WARMUP_QUERIES)
    rounds = in_turns(engines, ROUNDS, lambda e, _: e.call("single", start=0, count=ROUND_QUERIES))
    return {name: latency_summary(measured) for name, measured in rounds.items()}


def recall_and_idle_latency(engines: list[Engine], rows: dict[str, dict[str, Any]]) -> None:
    """Recall@10 of the probes, then the idle single-query phase, into each engine's row."""
    for e in engines:
        reply = e.call("single", start=0, count=ROUND_QUERIES, recall=True)
        rows[e.name]["recall_at_10"] = reply["recall_at_10"]
    for name, summary in single_query_phases(engines).items():
        rows[name]["idle"] = summary


def embedded(engines: list[tuple[str, Path | str]], size: int) -> list[dict[str, Any]]:
    data, probes, truth = gaussian_mixture(size)
    files = ["--data", str(data), "--probes", str(probes), "--truth", str(truth)]
    rows: dict[str, dict[str, Any]] = {}
    running: list[Engine] = []
    paths: dict[str, str] = {}
    try:
        for name, python in engines:  # ingests one at a time: nothing else runs meanwhile
            print(f"  {name} embedded {size:,}: ingest ...", flush=True)
            engine = Engine(name, python, *files, "--size", str(size))
            running.append(engine)
            rows[name] = {**engine.call("setup"), "engine": name}
        print(f"  {size:,}: single queries, batches, in turns ...", flush=True)
        recall_and_idle_latency(running, rows)
        with BusyCore():
            for name, summary in single_query_phases(running).items():
                rows[name]["loaded"] = summary
        batches = in_turns(
            running, BATCH_ROUNDS, lambda e, n: e.call("batch", calls=BATCH_CALLS, first=n)
        )
        for name, rounds in batches.items():
            seconds = [x for r in rounds for x in r["seconds"]]
            rows[name]["batch_qps"] = 100 / float(np.median(seconds))
        for engine in running:
            closed = engine.close()
            paths[engine.name] = closed.pop("path")
            rows[engine.name].update(closed)
        running = []
        print(f"  {size:,}: reopen, in turns ...", flush=True)
        reopened: dict[str, list[float]] = {name: [] for name, _ in engines}
        for n in range(REOPENS):
            for name, python in engines if n % 2 == 0 else engines[::-1]:
                engine = "chroma-grpc" if name == "chroma-grpc" else "chromadb"
                result = run_engine(python, "reopen", engine, "--path", paths[name], *files)
                reopened[name].append(result["reopen_s"])
        for name, seconds in reopened.items():
            rows[name]["reopen_s"] = float(np.median(seconds))
    finally:
        for engine in running:
            with contextlib.suppress(Exception):
                engine.close()
        for path in paths.values():
            shutil.rmtree(path, ignore_errors=True)
    return [rows[name] for name, _ in engines]


def run_engine(python: Path | str, mode: str, engine: str, *args: str) -> dict[str, Any]:
    command = [str(python), str(ENGINE), mode, "--engine", engine, *args]
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{engine} {mode} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
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


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def client_server(size: int) -> list[dict[str, Any]]:
    """Our gRPC server against chromadb's ``chroma run``, both up at once, measured in turns."""
    data, probes, truth = gaussian_mixture(size)
    files = ["--data", str(data), "--probes", str(probes), "--truth", str(truth)]
    names = ["chroma-grpc", "chromadb"]
    rows: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        running: list[Engine] = []
        for name in names:
            print(f"  {name} server {size:,}: ingest ...", flush=True)
            data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-server-"))
            server, target = start_server(name, data_dir)
            stack.callback(stop_server, server)
            python = OURS if name == "chroma-grpc" else PEERS["chromadb"]
            at = ["--target", target, "--server-pid", str(server.pid)]
            engine = Engine(name, python, *files, "--size", str(size), *at)
            stack.callback(engine.close)
            running.append(engine)
            rows[name] = {**engine.call("setup"), "engine": name}
        print(f"  server {size:,}: single queries, {CLIENTS} clients, in turns ...", flush=True)
        recall_and_idle_latency(running, rows)
        for row in rows.values():
            row["qps_1"] = 1e3 / row["idle"]["mean_ms"]
        crowds = in_turns(
            running,
            CONCURRENT_ROUNDS,
            lambda e, n: e.call("concurrent", clients=CLIENTS, seconds=CONCURRENT_SECONDS),
        )
        for name, rounds in crowds.items():
            rows[name][f"qps_{CLIENTS}"] = float(np.median([r["qps"] for r in rounds]))
            cores = float(np.mean([r["server_cores"] for r in rounds]))
            rows[name][f"server_cores_{CLIENTS}"] = cores
    return [rows[name] for name in names]


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
    results["method"] = {
        "batch_calls": BATCH_ROUNDS * BATCH_CALLS,
        "reopens": REOPENS,
        "concurrent_rounds": CONCURRENT_ROUNDS,
        "concurrent_s": CONCURRENT_SECONDS,
    }
    engines = [("chroma-grpc", OURS)] + [
        (name, python) for name, python in PEERS.items() if Path(python).exists()
    ]
    for size in [*sizes, *([1_000_000] if args.million else [])]:
        # chromadb 0.4.24's 1M ingest alone takes most of an hour here
        measured = [e for e in engines if size < 1_000_000 or e[0] != "chromadb-0.4.24"]
        results["embedded"][size] = embedded(measured, size)
    if Path(PEERS["chromadb"]).exists():
        results["server"][10_000] = client_server(10_000)
        if not args.quick:
            results["recall"] = sentence_recall(Path(PEERS["chromadb"]))
    info["load_after"] = os.getloadavg()
    if LOAD_DURING:
        info["load_during"] = [float(np.percentile(LOAD_DURING, p)) for p in (0, 50, 100)]
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
