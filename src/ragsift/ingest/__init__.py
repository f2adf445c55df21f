"""Ingest: load documents (JSONL, text/Markdown folders, BEIR) and cut them into chunks.

Importing this package never imports torch, transformers or tokenizers; token counting loads
a tokenizer only when asked.
"""

from ragsift.ingest.beir import BeirDataset, load_beir, load_beir_corpus, load_beir_queries, load_qrels
from ragsift.ingest.chunk_config import ChunkingConfig, ChunkMode, LengthUnit
from ragsift.ingest.chunking import ChunkedCorpus, chunk_documents, length_function_for
from ragsift.ingest.folder import load_file, load_folder
from ragsift.ingest.jsonl import load_jsonl
from ragsift.ingest.loaders import load_documents
from ragsift.ingest.markdown import split_markdown
from ragsift.ingest.recursive import DEFAULT_SEPARATORS, RecursiveSplitter
from ragsift.ingest.tokens import default_model_path, token_length_function

__all__ = [
    "BeirDataset",
    "ChunkMode",
    "ChunkedCorpus",
    "ChunkingConfig",
    "DEFAULT_SEPARATORS",
    "LengthUnit",
    "RecursiveSplitter",
    "chunk_documents",
    "default_model_path",
    "length_function_for",
    "load_beir",
    "load_beir_corpus",
    "load_beir_queries",
    "load_documents",
    "load_file",
    "load_folder",
    "load_jsonl",
    "load_qrels",
    "split_markdown",
    "token_length_function",
]
