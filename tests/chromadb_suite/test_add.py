"""chromadb 0.4.24's property.test_add, with our fixtures (conftest.py)."""

from chromadb.test.property.test_add import *  # noqa: F403
