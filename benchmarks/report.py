"""BENCHMARKS.md from one ``make bench`` run: tables, ratios and the goals of issue #12."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

PEER = "chromadb"  # 1.5.x: the ratios are against it
FLOAT32_BYTES = 384 * 4

Row = dict[str, Any]
Metric = tuple[str, Callable[[Row], float | None], str]


def _get(*keys: str) -> Callable[[Row], float | None]:
    def pick(row: Row) -> float | None:
        value: Any = row
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return float(value)

    return pick


EMBEDDED: list[Metric] = [
    ("ingest (vectors/s, with metadata + documents)", _get("ingest_s"), "rate"),
    ("first query after the ingest (ms)", lambda r: r["first_query_s"] * 1e3, "lower"),
    ("queryable: ingest + first correct answer (s)", _get("queryable_s"), "lower"),
    ("graph complete, in the background (s)", _get("indexed_s"), "info"),
    ("single query p50, idle (ms)", _get("idle", "p50_ms"), "lower"),
    ("single query p95, idle (ms)", _get("idle", "p95_ms"), "lower"),
    ("single query p99, idle (ms)", _get("idle", "p99_ms"), "lower"),
    ("CPU per single query, idle (ms)", _get("idle", "cpu_ms"), "lower"),
    ("single query p50, one busy core (ms)", _get("loaded", "p50_ms"), "lower"),
    ("single query p95, one busy core (ms)", _get("loaded", "p95_ms"), "lower"),
    ("single query p99, one busy core (ms)", _get("loaded", "p99_ms"), "lower"),
    ("CPU per single query, one busy core (ms)", _get("loaded", "cpu_ms"), "lower"),
    ("batch of 100 queries (queries/s)", _get("batch_qps"), "higher"),
    ("recall@10 vs exact", _get("recall_at_10"), "higher"),
    ("resident bytes per vector (float32 = 1,536)", _get("rss_per_vector"), "lower"),
    ("disk bytes per vector", _get("disk_per_vector"), "lower"),
    ("reopen → first answer (s)", _get("reopen_s"), "lower"),
]
SERVER: list[Metric] = [
    ("single query p50 (ms)", _get("idle", "p50_ms"), "lower"),
    ("single query p95 (ms)", _get("idle", "p95_ms"), "lower"),
    ("single query p99 (ms)", _get("idle", "p99_ms"), "lower"),
    ("queries/s, 1 client", _get("qps_1"), "higher"),
    ("queries/s, 8 concurrent clients", _get("qps_8"), "higher"),
    ("server CPU cores busy at 8 clients", _get("server_cores_8"), "info"),
    ("server CPU per query at 8 clients (ms)", lambda r: _per_query_ms(r), "lower"),
    ("recall@10 vs exact", _get("recall_at_10"), "higher"),
]


def _per_query_ms(row: Row) -> float | None:
    cores, qps = row.get("server_cores_8"), row.get("qps_8")
    return None if cores is None or not qps else 1e3 * float(cores) / float(qps)


def _value(metric: Metric, row: Row) -> float | None:
    label, pick, kind = metric
    value = pick(row)
    if value is not None and kind == "rate":
        return float(row["size"]) / value
    return value


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _table(metrics: list[Metric], rows: list[Row]) -> list[str]:
    names = [r["engine"] for r in rows]
    peer = next((r for r in rows if r["engine"] == PEER), None)
    head = ["metric", *names, f"chroma-grpc ÷ {PEER}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ours = next(r for r in rows if r["engine"] == "chroma-grpc")
    for metric in metrics:
        values = [_value(metric, r) for r in rows]
        ratio = "–"
        if peer is not None and metric[2] != "info":
            mine, theirs = _value(metric, ours), _value(metric, peer)
            if mine is not None and theirs:
                ratio = f"{mine / theirs:.2f}×"
        lines.append("| " + " | ".join([metric[0], *map(_fmt, values), ratio]) + " |")
    return lines


def _ratio(rows: list[Row], metric: Metric) -> float | None:
    ours = next((r for r in rows if r["engine"] == "chroma-grpc"), None)
    peer = next((r for r in rows if r["engine"] == PEER), None)
    if ours is None or peer is None:
        return None
    mine, theirs = _value(metric, ours), _value(metric, peer)
    return None if mine is None or not theirs else mine / theirs


def _goals(results: dict[str, Any]) -> list[str]:
    out: list[str] = []

    def check(text: str, ok: bool | None, detail: str) -> None:
        mark = "–" if ok is None else ("met" if ok else "**not met**")
        out.append(f"| {text} | {detail} | {mark} |")

    by_name = {m[0]: m for m in EMBEDDED + SERVER}
    for size, rows in results["embedded"].items():
        ours = next(r for r in rows if r["engine"] == "chroma-grpc")
        label = f"{int(size):,}"
        if int(size) >= 100_000:
            first = ours["first_query_s"] * 1e3
            check(f"first query after {label} ingest ≤ 50 ms", first <= 50, f"{first:.1f} ms")
            q = _ratio(rows, by_name["queryable: ingest + first correct answer (s)"])
            check(
                f"ingest + first answer ≤ 0.3× chromadb ({label})",
                None if q is None else q <= 0.3,
                "–" if q is None else f"{q:.2f}×",
            )
        for phase, words in (("idle", "idle"), ("one busy core", "one busy core")):
            p50 = _ratio(rows, by_name[f"single query p50, {phase} (ms)"])
            p99 = _ratio(rows, by_name[f"single query p99, {phase} (ms)"])
            cpu = _ratio(rows, by_name[f"CPU per single query, {phase} (ms)"])
            check(
                f"p50 ≤ 0.6× chromadb, {words}, {label}",
                None if p50 is None else p50 <= 0.6,
                "–" if p50 is None else f"{p50:.2f}×",
            )
            check(
                f"p99 ≤ 1× chromadb, {words}, {label}",
                None if p99 is None else p99 <= 1.0,
                "–" if p99 is None else f"{p99:.2f}×",
            )
            check(
                f"CPU per query ≤ chromadb, {words}, {label}",
                None if cpu is None else cpu <= 1.0,
                "–" if cpu is None else f"{cpu:.2f}×",
            )
        batch = _ratio(rows, by_name["batch of 100 queries (queries/s)"])
        check(
            f"batch-100 QPS ≥ 2× chromadb, {label}",
            None if batch is None else batch >= 2,
            "–" if batch is None else f"{batch:.2f}×",
        )
        recall = ours["recall_at_10"]
        floor = 0.99 if int(size) <= 10_000 else (0.98 if int(size) <= 100_000 else 0.95)
        check(f"recall@10 ≥ {floor} (Gaussian mixture, {label})", recall >= floor, f"{recall:.3f}")
        if int(size) >= 100_000:  # below, fixed costs (imports, caches) dominate per vector
            rss = ours["rss_per_vector"] / FLOAT32_BYTES
            check(f"resident bytes per vector ≤ 1.5× float32 ({label})", rss <= 1.5, f"{rss:.2f}×")
        disk = _ratio(rows, by_name["disk bytes per vector"])
        check(
            f"disk per vector ≤ chromadb ({label})",
            None if disk is None else disk <= 1,
            "–" if disk is None else f"{disk:.2f}×",
        )
        if int(size) == 100_000:
            reopen = _ratio(rows, by_name["reopen → first answer (s)"])
            check(
                "reopen 100k → first answer ≤ chromadb",
                None if reopen is None else reopen <= 1,
                "–" if reopen is None else f"{reopen:.2f}×",
            )
    if not any(int(size) >= 1_000_000 for size in results["embedded"]):
        check(
            "1,000,000 vectors: recall@10 ≥ 0.95, resident bytes ≤ 1.5× float32",
            None,
            "not measured in this run (`make bench ARGS=--million`)",
        )
    for size, rows in results["server"].items():
        p50 = _ratio(rows, by_name["single query p50 (ms)"])
        check(
            f"gRPC p50 ≤ 0.6× chromadb HTTP ({int(size):,})",
            None if p50 is None else p50 <= 0.6,
            "–" if p50 is None else f"{p50:.2f}×",
        )
        qps = _ratio(rows, by_name["queries/s, 8 concurrent clients"])
        check(
            f"8 gRPC clients ≥ 2× chromadb HTTP QPS ({int(size):,})",
            None if qps is None else qps >= 2,
            "–" if qps is None else f"{qps:.2f}×",
        )
    recall = results.get("recall")
    if recall:
        for row in recall["rows"]:
            if row["engine"] != "chroma-grpc":
                continue
            floor = 0.98 if row["data"] == "sentences" else 0.99
            check(
                f"recall@10 ≥ {floor}, {row['data']} {row['size']:,} ({row['space']})",
                row["recall"] >= floor,
                f"{row['recall']:.4f}",
            )
    return out


def _samples(results: dict[str, Any]) -> str:
    for rows in results["embedded"].values():
        for row in rows:
            samples = row.get("idle", {}).get("samples")
            if samples:
                return f"{int(samples):,}"
    return "–"


def _load_during(info: dict[str, Any]) -> str:
    """The load present while the engines were measured in turns, for the reader to judge."""
    during = info.get("load_during")
    if not during:
        return ""
    low, median, high = during
    return (
        " While the engines were measured in turns, the 1-minute load average (2 cores; the"
        " engine being measured counts about 1, the busy core 1 more) ranged"
        f" {low:.1f}-{high:.1f}, median {median:.1f}; the rest was other processes sharing the"
        " machine."
    )


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def render(results: dict[str, Any]) -> str:
    info = results["machine"]
    method = results.get("method", {})
    peers = ", ".join(f"{name} {version}" for name, version in info["peers"].items())
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{info['command']}` on {info.get('date') or _now()}"
        f" in {info['runtime_s'] / 60:.0f} min. Machine: {info['cpu']}, {info['cores']} cores,"
        f" {info['memory_gib']} GiB, Python {info['python']}; peers: {peers}, each in its own"
        " virtualenv and interpreter.",
        "",
        f"Load average before / after the run: {', '.join(f'{x:.2f}' for x in info['load_before'])}"
        f" / {', '.join(f'{x:.2f}' for x in info['load_after'])}.{_load_during(info)} Other work"
        " on the machine moves absolute numbers; the ratios compare runs made back to back in"
        " the same conditions.",
        "",
        "Data: a Gaussian mixture (100 clusters, 384-d, `l2`), stored with metadata and a",
        "document per record in a persistent client, batches of 5,000; single queries",
        "(`n_results=10`, default `include`) idle, then with one busy-looping process started",
        "by the benchmark; recall@10 of 300 probes against exact search. Ratios are",
        "chroma-grpc ÷ chromadb 1.5.x (below 1 is better for times, bytes and CPU; above 1 for",
        "rates and recall).",
        "",
        "Every engine stays open while the phases run **in turns**: each phase is cut into rounds",
        "and the engines take each round one after the other (alternating the order), so both",
        "sides are measured in the same minutes under the same competing load. Latency",
        f"percentiles pool every round: {_samples(results)} single queries per engine and phase",
        "(p99 is then the 1% tail of thousands, not the third-worst of 300). Batch throughput is",
        f"the median of {method.get('batch_calls', '–')} calls of 100 queries; reopen the median"
        f" of {method.get('reopens', '–')} fresh processes; the 8-client rate the median of"
        f" {method.get('concurrent_rounds', '–')} rounds of {method.get('concurrent_s', '–')} s."
        " Ingest runs one engine at a time.",
        "",
    ]
    for size, rows in results["embedded"].items():
        lines += [f"## Embedded, {int(size):,} vectors", "", *_table(EMBEDDED, rows), ""]
    for size, rows in results["server"].items():
        lines += [
            f"## Client/server, {int(size):,} vectors: gRPC server vs `chroma run` (HTTP)",
            "",
            *_table(SERVER, rows),
            "",
        ]
    recall = results.get("recall")
    if recall:
        lines += [
            "## Recall@10 on real sentence embeddings (and random Gaussian vectors)",
            "",
            "Sentences from this machine's Python docstrings embedded with our MiniLM",
            "(`benchmarks/recall_corpus.py`); 1,000 held-out queries. chroma-grpc is measured",
            "once its background build is done; `1st query` is right after the ingest.",
            "",
            "| engine | data | space | size | recall@10 | ingest s | 1st query s | queries/s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in recall["rows"]:
            lines.append(
                f"| {r['engine']} | {r['data']} | {r['space']} | {r['size']:,} | {r['recall']:.4f}"
                f" | {r['ingest_s']:.1f} | {r['first_query_s']:.3f} | {r['queries_per_s']:.0f} |"
            )
        lines.append("")
    lines += ["## Goals of issue #12", "", "| goal | measured | |", "|---|---|---|"]
    lines += _goals(results)
    lines += ["", *KNOWN_LIMITS, ""]
    return "\n".join(lines)


KNOWN_LIMITS = """## Known limits (what the goals above miss, and why)

* **Tail latency (p99), above all with a busy core.** A p99 here is the slowest 1% of
  thousands of single queries issued back to back by one thread, on 2 cores shared with the
  busy loop and with other processes (the load average above). Those queries waited for a core,
  and the ratio swings between runs of the same code more than any change we measured moves it
  (10k with a busy core, four runs on 2026-12-01: 5.6x, 0.8x, 1.8x, 2.9x; 100k: 1.9x, 1.2x,
  1.4x). Our median and CPU per query stay about half of chromadb's in the same rounds; why our
  1% tail is preempted longer than chromadb's is not established (our process has 3 threads
  while querying, the caller and two idle ones; no OpenMP spinning on this path).
* **First query right after a 100k ingest.** The graph is still being built (on one thread, in
  the background) and the query scans the 100k vectors exactly, split over both cores. That is
  18-25 ms when a core is free (25 ms in the previous full run of this code; 18 and 23 ms for
  chroma-grpc alone at load 2-5) and several times that when other processes hold the cores,
  as in this run: the build and the scan compete with them.
* **gRPC server.** The store answers a single query in about 1 ms; the rest of the 3 ms is the
  grpc.aio server (event loop, interceptors, a thread hop) and the Python client. The 8
  clients are threads of one benchmark process on the same 2 cores as the server, so the
  8-client rate is bounded by client plus server CPU per query: the server gets under one core,
  and its CPU per query at 8 clients is about chromadb's (the row above), which is where the
  2x has to come from.
* **1M vectors** are behind `--million` (chromadb's 1M ingest alone takes most of an hour
  here) and were not part of this run. On a 1M Gaussian mixture a graph with M=16 reaches
  recall 0.87 at ef 1024, so hard data switches to M=32 / construction_ef 200 (`DENSE_M`),
  which builds about 2.7x slower on one core; whether that reaches 0.95 is for the next 1M
  run to show.
""".splitlines()
