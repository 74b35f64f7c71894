"""chromadb 0.4.24's property.test_collections, with our fixtures (conftest.py)."""

from chromadb.test.property.test_collections import *  # noqa: F403
