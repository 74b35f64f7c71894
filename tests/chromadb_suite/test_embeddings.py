"""chromadb 0.4.24's property.test_embeddings, with our fixtures (conftest.py)."""

from chromadb.test.property.test_embeddings import *  # noqa: F403
