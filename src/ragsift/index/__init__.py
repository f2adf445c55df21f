"""Indexes: BM25 (sparse), embeddings + FAISS (dense), and the persistent collection."""
