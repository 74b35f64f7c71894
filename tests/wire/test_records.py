"""Record batches chunk and merge losslessly; read results page and gather losslessly."""

from __future__ import annotations

import numpy as np
import pytest

from chroma_grpc.store.errors import BatchSizeExceededError, InvalidArgumentError
from chroma_grpc.store.types import Neighbours, RecordBatch, Records, StoreLimits
from chroma_grpc.store.validation import check_batch_shape, check_read_shape, validate_batch
from chroma_grpc.v1 import record_service_pb2, types_pb2
from chroma_grpc.wire.records import (
    from_proto_include,
    from_proto_query_response,
    iter_batch_chunks,
    iter_get_pages,
    merge_batch_chunks,
    merge_get_pages,
    to_proto_include,
    to_proto_peek,
    to_proto_query_response,
)
from chroma_grpc.wire.vectors import to_proto_vectors

BATCH = 100_000
ALL = frozenset({"embeddings", "metadatas", "documents", "uris"})


def sample_batch(n: int = 50, dim: int = 16) -> RecordBatch:
    rng = np.random.default_rng(n)
    return RecordBatch(
        ids=[f"id{i}" for i in range(n)],
        embeddings=rng.standard_normal((n, dim)).astype(np.float32),
        metadatas=[
            {"i": i, "f": i / 2, "b": i % 2 == 0, "s": str(i)} if i % 3 else None for i in range(n)
        ],
        documents=[f"document {i}" if i % 4 else None for i in range(n)],
        uris=[f"s3://x/{i}" if i % 5 else None for i in range(n)],
    )


def assert_batches_equal(a: RecordBatch, b: RecordBatch) -> None:
    assert a.ids == b.ids
    assert a.metadatas == b.metadatas
    assert a.documents == b.documents
    assert a.uris == b.uris
    if a.embeddings is None:
        assert b.embeddings is None
    else:
        assert b.embeddings is not None
        np.testing.assert_array_equal(a.embeddings, b.embeddings)


def test_batch_round_trips_in_many_small_chunks() -> None:
    batch = sample_batch()
    chunks = list(iter_batch_chunks(batch, max_bytes=500))
    assert len(chunks) > 5
    assert all(chunk.ByteSize() <= 500 for chunk in chunks if len(chunk.records) > 1)
    wire = [types_pb2.RecordBatch.FromString(c.SerializeToString()) for c in chunks]
    assert_batches_equal(batch, merge_batch_chunks(wire, max_batch_size=BATCH))


def test_default_chunks_stay_under_two_mib() -> None:
    batch = RecordBatch(
        ids=[str(i) for i in range(5000)], embeddings=np.ones((5000, 384), np.float32)
    )
    chunks = list(iter_batch_chunks(batch))
    assert len(chunks) >= 3
    assert max(chunk.ByteSize() for chunk in chunks) <= 2 * 1024 * 1024
    assert_batches_equal(batch, merge_batch_chunks(chunks, max_batch_size=BATCH))


def test_absent_columns_stay_absent() -> None:
    batch = RecordBatch(ids=["a", "b"])
    merged = merge_batch_chunks(iter_batch_chunks(batch), max_batch_size=BATCH)
    assert_batches_equal(batch, merged)


def test_an_empty_batch_is_one_empty_chunk() -> None:
    assert [len(c.records) for c in iter_batch_chunks(RecordBatch(ids=[]))] == [0]


def test_column_length_mismatch_is_rejected_before_encoding() -> None:
    """Records carry one entry per column, so the wire cannot carry a short column."""
    with pytest.raises(
        InvalidArgumentError, match="Number of documents 1 must match number of ids 2"
    ):
        check_batch_shape(RecordBatch(ids=["a", "b"], documents=["x"]), StoreLimits())


def test_merging_stops_at_the_batch_size_limit() -> None:
    chunks = iter_batch_chunks(sample_batch(30), max_bytes=300)
    with pytest.raises(BatchSizeExceededError, match="exceeds maximum batch size 10"):
        merge_batch_chunks(chunks, max_batch_size=10)


def test_chunks_must_agree_on_embeddings_and_dimension() -> None:
    first = types_pb2.RecordBatch(
        records=[types_pb2.Record(id="a")], embeddings=to_proto_vectors(np.ones((1, 2), np.float32))
    )
    without = types_pb2.RecordBatch(records=[types_pb2.Record(id="b")])
    other_dim = types_pb2.RecordBatch(
        records=[types_pb2.Record(id="c")], embeddings=to_proto_vectors(np.ones((1, 3), np.float32))
    )
    with pytest.raises(InvalidArgumentError, match="some chunks but not others"):
        merge_batch_chunks([first, without], max_batch_size=BATCH)
    with pytest.raises(InvalidArgumentError, match="batch.embeddings.dimension"):
        merge_batch_chunks([first, other_dim], max_batch_size=BATCH)


def test_vector_count_must_match_the_chunk_records() -> None:
    chunk = types_pb2.RecordBatch(
        records=[types_pb2.Record(id="a")], embeddings=to_proto_vectors(np.ones((2, 2), np.float32))
    )
    with pytest.raises(InvalidArgumentError, match="got 2 vectors for 1 records"):
        merge_batch_chunks([chunk], max_batch_size=BATCH)


def test_update_metadata_may_delete_keys_but_add_metadata_may_not() -> None:
    """None crosses the wire as null_value; whether it may is the store's rule."""
    batch = RecordBatch(ids=["a"], metadatas=[{"gone": None}])  # type: ignore[list-item]
    merged = merge_batch_chunks(iter_batch_chunks(batch), max_batch_size=BATCH)
    assert merged.metadatas == [{"gone": None}]
    validate_batch(merged, StoreLimits(), is_update=True)
    with pytest.raises(InvalidArgumentError, match="got None which is a <class 'NoneType'>"):
        validate_batch(merged, StoreLimits(), is_update=False)


def as_get_result(batch: RecordBatch) -> Records:
    return Records(
        ids=batch.ids,
        embeddings=batch.embeddings,
        metadatas=batch.metadatas,  # type: ignore[arg-type]
        documents=batch.documents,
        uris=batch.uris,
    )


def test_get_result_round_trips_through_pages() -> None:
    result = as_get_result(sample_batch(40))
    pages = list(iter_get_pages(result, max_bytes=1000))
    assert len(pages) > 3
    wire = [record_service_pb2.GetRecordsResponse.FromString(p.SerializeToString()) for p in pages]
    merged = merge_get_pages(wire, ALL)
    assert_batches_equal(sample_batch(40), RecordBatch(**vars(merged)))


def test_page_size_bounds_the_records_per_page() -> None:
    pages = list(iter_get_pages(as_get_result(sample_batch(25)), page_size=10))
    assert [len(p.records) for p in pages] == [10, 10, 5]


def test_default_pages_stay_well_under_four_mib() -> None:
    result = Records(
        ids=[str(i) for i in range(10_000)], embeddings=np.ones((10_000, 384), np.float32)
    )
    assert max(p.ByteSize() for p in iter_get_pages(result)) <= 2 * 1024 * 1024 + 4096


def test_not_included_fields_come_back_none_and_empty_results_are_empty_lists() -> None:
    include = frozenset({"documents"})
    result = Records(ids=["a"], documents=[None])
    merged = merge_get_pages(iter_get_pages(result), include)
    assert merged == Records(ids=["a"], documents=[None])
    empty = merge_get_pages(iter_get_pages(Records(ids=[])), ALL)
    assert empty.ids == [] and empty.metadatas == [] and empty.documents == [] and empty.uris == []
    assert empty.embeddings is not None and empty.embeddings.shape[0] == 0


def test_peek_reply_decodes_like_a_page() -> None:
    result = as_get_result(sample_batch(5))
    merged = merge_get_pages([to_proto_peek(result)], ALL)
    assert_batches_equal(sample_batch(5), RecordBatch(**vars(merged)))


def test_query_result_round_trips() -> None:
    batch = sample_batch(4)
    result = Neighbours(
        ids=batch.ids,
        distances=np.array([0.0, 0.5, 1.25, 2.0], np.float32),
        embeddings=batch.embeddings,
        metadatas=batch.metadatas,  # type: ignore[arg-type]
        documents=batch.documents,
        uris=batch.uris,
    )
    message = to_proto_query_response(3, result)
    assert message.query_index == 3
    include = ALL | {"distances"}
    decoded = from_proto_query_response(message, include)  # type: ignore[arg-type]
    np.testing.assert_array_equal(decoded.distances, result.distances)  # type: ignore[arg-type]
    assert decoded.ids == result.ids and decoded.metadatas == result.metadatas
    assert decoded.documents == result.documents and decoded.uris == result.uris
    np.testing.assert_array_equal(decoded.embeddings, result.embeddings)  # type: ignore[arg-type]
    ids_only = from_proto_query_response(message, frozenset())
    assert ids_only == Neighbours(ids=batch.ids)


def test_include_round_trips_and_rejects_unknown_values() -> None:
    for include in (frozenset(), frozenset({"embeddings", "distances", "uris"})):
        assert from_proto_include(to_proto_include(include)) == include
    for bad in (0, 99):
        message = types_pb2.Include(fields=[types_pb2.INCLUDE_FIELD_DOCUMENTS, bad])
        with pytest.raises(InvalidArgumentError, match=r"include.fields\[1\]") as info:
            from_proto_include(message)
        assert info.value.field == "include.fields[1]"
    documents = types_pb2.Include(fields=[types_pb2.INCLUDE_FIELD_DOCUMENTS])
    assert to_proto_include({"data", "documents"}) == documents  # "data" is the client's
    with pytest.raises(InvalidArgumentError, match="Expected include item"):
        check_read_shape(include={"bogus"})


def test_a_column_of_nones_survives_the_wire_as_a_column() -> None:
    """documents=[None] (set to none) differs from no documents (leave as stored): set_fields
    says which columns a batch carries, even when every value is absent."""
    given = RecordBatch(
        ids=["a", "b"],
        documents=[None, None],
        uris=[None, None],
        set_columns=frozenset({"documents", "uris"}),
    )
    chunks = list(iter_batch_chunks(given, max_bytes=1))
    assert len(chunks) == 2
    assert all(
        list(c.set_fields) == [types_pb2.RECORD_FIELD_DOCUMENT, types_pb2.RECORD_FIELD_URI]
        for c in chunks
    )
    merged = merge_batch_chunks(chunks, max_batch_size=BATCH)
    assert (merged.documents, merged.uris) == ([None, None], [None, None])
    assert merged.set_columns == {"documents", "uris"}
    partial = merge_batch_chunks(
        iter_batch_chunks(RecordBatch(ids=["a", "b"], documents=[None, "x"])), max_batch_size=BATCH
    )
    assert (partial.documents, partial.set_columns) == ([None, "x"], frozenset())
    absent = merge_batch_chunks(iter_batch_chunks(RecordBatch(ids=["a"])), max_batch_size=BATCH)
    assert (absent.documents, absent.uris) == (None, None)
