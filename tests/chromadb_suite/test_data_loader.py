"""chromadb 0.4.24's data_loader.test_data_loader, with our fixtures (conftest.py)."""

from chromadb.test.data_loader.test_data_loader import *  # noqa: F403
