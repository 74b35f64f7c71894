"""Durability: reopen on the same path, and a writer killed with SIGKILL right after an ack."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from chroma_grpc.store import RecordBatch, Store

ROOT = Path(__file__).resolve().parents[2]


def test_reopen_sees_identical_data_and_neighbours(tmp_path: Path) -> None:
    s = Store(tmp_path)
    info, _ = s.create_collection("persist", {"hnsw:space": "cosine", "n": 1, "x": 0.5})
    x = np.random.default_rng(1).standard_normal((300, 12)).astype(np.float32)
    ids = [f"p{i:03d}" for i in range(300)]
    s.add(
        info.id,
        RecordBatch(
            ids=ids,
            embeddings=x,
            metadatas=[{"i": i, "f": i / 2, "b": i % 2 == 0, "s": str(i)} for i in range(300)],
            documents=[f"doc {i}" for i in range(300)],
            uris=[None] * 300,
        ),
    )
    s.delete(info.id, ids=ids[:10])
    include = frozenset({"embeddings", "metadatas", "documents", "uris"})
    before = s.get(info.id, include=include)
    hits_before = s.query(info.id, x[:5], n_results=7)
    s.close()

    again = Store(tmp_path)
    assert again.get_collection(name="persist") == again.get_collection(collection_id=info.id)
    assert again.get_collection(name="persist").metadata == {
        "hnsw:space": "cosine",
        "n": 1,
        "x": 0.5,
    }
    after = again.get(info.id, include=include)
    assert after.ids == before.ids and after.metadatas == before.metadatas
    assert after.documents == before.documents and after.uris == before.uris
    np.testing.assert_array_equal(after.embeddings, before.embeddings)  # type: ignore[arg-type]
    hits_after = again.query(info.id, x[:5], n_results=7)
    assert [h.ids for h in hits_after] == [h.ids for h in hits_before]
    assert again.get_collection(collection_id=info.id).dimension == 12
    again.close()


def test_schema_version_and_wal(tmp_path: Path) -> None:
    Store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "chroma.sqlite3")
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] >= 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from chroma_grpc.store import RecordBatch, Store

    store = Store(sys.argv[1])
    info, _ = store.create_collection("crash")
    batch = 0
    while True:
        ids = [f"b{batch:05d}-{i:03d}" for i in range(200)]
        store.add(info.id, RecordBatch(ids=ids, embeddings=np.full((200, 4), batch, np.float32)))
        print(batch, flush=True)
        batch += 1
    """
)


def test_acknowledged_batches_survive_sigkill(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    acked = -1
    for line in proc.stdout:
        acked = int(line)
        if acked >= 15:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    s = Store(tmp_path)
    info = s.get_collection(name="crash")
    got = s.get(info.id, include=frozenset({"embeddings"}))
    batches: dict[str, int] = {}
    for id_ in got.ids:
        batches[id_[:6]] = batches.get(id_[:6], 0) + 1
    # Every acknowledged batch is there, and every batch present is whole.
    assert all(f"b{b:05d}" in batches for b in range(acked + 1))
    assert set(batches.values()) == {200}
    s.close()
