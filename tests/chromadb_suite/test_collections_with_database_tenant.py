"""chromadb 0.4.24's property.test_collections_with_database_tenant, with our fixtures."""

from chromadb.test.property.test_collections_with_database_tenant import *  # noqa: F403
