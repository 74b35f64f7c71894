"""Default-embedding throughput: texts/second for short and long texts, against peers.

Usage: ``python -m benchmarks.embeddings`` from the project venv. Peers are measured in the
same run, on the same texts, each in its own interpreter:

* chromadb 0.4.24's own ``DefaultEmbeddingFunction`` from ``.venv-peer`` (made by
  ``make bench``). It cannot download its model here, so a temporary HOME is given chromadb's
  cache layout holding our built graph plus the weights package's tokenizer files (the same
  file contract); its fixed 256-token padding is then the only difference.
* sentence-transformers on torch, only if ``--st-python`` (or ``CHROMA_GRPC_BENCH_ST_PYTHON``)
  names an interpreter that has it, e.g. the throwaway venv of the fixture script.

Throughput on a shared 2-core machine is noisy: read the ratios within one run. The last
line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"
ST_PYTHON_ENV = "CHROMA_GRPC_BENCH_ST_PYTHON"
PEER_KEYS = ("chromadb_0.4.24", "sentence_transformers")
CHROMA_FILES = (
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
    "tokenizer.json",
    "vocab.txt",
)

WORDS = tuple(
    " ".join(
        (
            "vector database embedding query index shard replica durable write crash recover",
            "cosine distance nearest neighbour recall latency throughput batch stream client",
            "server metadata filter document collection tenant schema snapshot compaction graph",
            "segment layer model token sentence language the a of and to in is that for on with",
            "as by at from river mountain city library music garden coffee morning evening",
            "quickly slowly bright quiet",
        )
    ).split(" ")
)


def make_texts(count: int, min_words: int, max_words: int, seed: int) -> list[str]:
    """Deterministic pseudo-sentences, so every implementation embeds the same inputs."""
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(min_words, max_words))) + "."
        for _ in range(count)
    ]


def texts_per_second(
    embed: Callable[[list[str]], Any], texts: list[str], repeats: int
) -> dict[str, float]:
    """Best of ``repeats`` passes after a warm-up: texts per wall second and per CPU second.

    CPU seconds (all threads of this process) hold up better than wall time when other jobs
    share the machine; wall time is what a caller waits for.
    """
    embed(texts[:4])
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        embed(texts)
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return {"wall": len(texts) / wall, "cpu": len(texts) / max(cpu, 1e-9)}


def run_worker(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Peer side: runs inside the peer's interpreter and imports nothing of ours."""
    if kind == "chromadb":
        from chromadb.utils import embedding_functions

        function = embedding_functions.DefaultEmbeddingFunction()
        assert function is not None

        def embed(texts: list[str]) -> Any:
            return function(texts)

    else:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(payload["model_dir"], device="cpu")
        model.max_seq_length = 256

        def embed(texts: list[str]) -> Any:
            return model.encode(texts, batch_size=32, normalize_embeddings=True).tolist()

    repeats = payload["repeats"]
    return {
        "short": texts_per_second(embed, payload["short"], repeats),
        "long": texts_per_second(embed, payload["long"], repeats),
        "sample": embed(payload["short"][:8]),
    }


def run_peer(python: str, kind: str, payload: dict[str, Any], env: dict[str, str]) -> Any:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(payload, handle)
    try:
        completed = subprocess.run(
            [python, str(Path(__file__).resolve()), "--worker", kind, "--payload", handle.name],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            check=False,
        )
    finally:
        os.unlink(handle.name)
    if completed.returncode != 0:
        print(f"[{kind}] peer failed:\n{completed.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(completed.stdout.strip().splitlines()[-1])


def stage_chromadb_home(home: Path, onnx_model: Path, weights_dir: Path) -> None:
    """Lay out chromadb 0.4.24's model cache so it finds its files and never downloads."""
    target = home / ".cache" / "chroma" / "onnx_models" / "all-MiniLM-L6-v2" / "onnx"
    target.mkdir(parents=True)
    (target / "model.onnx").symlink_to(onnx_model)
    for name in CHROMA_FILES:
        (target / name).symlink_to(weights_dir / name)


def max_abs_diff(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> float:
    pairs = zip(a, b, strict=True)
    return max(abs(x - y) for row_a, row_b in pairs for x, y in zip(row_a, row_b, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", type=int, default=128, help="number of short texts")
    parser.add_argument("--long", type=int, default=32, help="number of long texts")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (ours)")
    parser.add_argument("--st-python", default=os.environ.get(ST_PYTHON_ENV))
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--worker", choices=("chromadb", "sentence-transformers"))
    parser.add_argument("--payload")
    args = parser.parse_args(argv)

    if args.worker:
        payload = json.loads(Path(args.payload).read_text(encoding="utf-8"))
        print(json.dumps(run_worker(args.worker, payload)))
        return 0

    from chroma_grpc.embeddings import ONNXMiniLM_L6_V2
    from chroma_grpc.embeddings.model_cache import ensure_onnx_model
    from chroma_grpc.embeddings.model_files import locate_model_files

    short = make_texts(args.short, 5, 20, seed=1)
    long = make_texts(args.long, 300, 360, seed=2)  # > 256 tokens each: truncated
    function = ONNXMiniLM_L6_V2(intra_op_num_threads=args.threads)
    runtime = function._loaded()
    ours = {
        "short": texts_per_second(function.embed, short, args.repeats),
        "long": texts_per_second(function.embed, long, args.repeats),
        "short_pad256": texts_per_second(
            lambda t: runtime.embed(t, padding="max_length"), short, args.repeats
        ),
    }
    results: dict[str, Any] = {
        "threads": function.intra_op_num_threads,
        "load_average": os.getloadavg()[0],
        "texts": {"short": len(short), "long": len(long)},
        "ours": ours,
        "pad_longest_vs_pad256_short": ours["short"]["wall"] / ours["short_pad256"]["wall"],
    }
    sample = function(short[:8])

    payload = {"short": short, "long": long, "repeats": args.repeats}
    files = locate_model_files()
    if not args.no_peers and PEER_PYTHON.exists():
        onnx_model = ensure_onnx_model(files)
        if isinstance(onnx_model, Path):
            with tempfile.TemporaryDirectory() as home:
                stage_chromadb_home(Path(home), onnx_model, files.directory)
                env = {"HOME": home, "ANONYMIZED_TELEMETRY": "False"}
                peer = run_peer(str(PEER_PYTHON), "chromadb", payload, env)
            if peer:
                results["chromadb_0.4.24"] = {k: peer[k] for k in ("short", "long")}
                results["chromadb_max_abs_diff"] = max_abs_diff(sample, peer["sample"])
    if not args.no_peers and args.st_python:
        st_payload = {**payload, "model_dir": str(files.directory)}
        st_env = {"HF_HUB_OFFLINE": "1"}
        peer = run_peer(args.st_python, "sentence-transformers", st_payload, st_env)
        if peer:
            results["sentence_transformers"] = {k: peer[k] for k in ("short", "long")}
            results["sentence_transformers_max_abs_diff"] = max_abs_diff(sample, peer["sample"])

    print(f"threads={results['threads']} load_average={results['load_average']:.2f}")
    print("texts per wall second (texts per CPU second)")
    print(f"{'implementation':<28}{'short':>20}{'long':>20}")
    rows: list[tuple[str, dict[str, dict[str, float]]]] = [
        ("chroma_grpc (pad longest)", {"short": ours["short"], "long": ours["long"]}),
        ("chroma_grpc (pad to 256)", {"short": ours["short_pad256"]}),
    ]
    rows += [(key, results[key]) for key in PEER_KEYS if key in results]
    for label, rates in rows:
        cells = [
            f"{rates[k]['wall']:.1f} ({rates[k]['cpu']:.1f})" if k in rates else ""
            for k in ("short", "long")
        ]
        print(f"{label:<28}{cells[0]:>20}{cells[1]:>20}")
        if label in PEER_KEYS:
            short_x = ours["short"]["wall"] / rates["short"]["wall"]
            long_x = ours["long"]["wall"] / rates["long"]["wall"]
            print(f"  ours / {label} (wall): short x{short_x:.2f}, long x{long_x:.2f}")
    ratio = results["pad_longest_vs_pad256_short"]
    print(f"pad-to-longest / pad-to-256 on short texts (wall): x{ratio:.1f}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
