"""chromadb-style ``utils`` namespace, so ``from ...utils import embedding_functions`` ports."""
