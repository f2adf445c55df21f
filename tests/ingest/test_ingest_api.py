"""The public API of ragsift.ingest is pinned, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import ragsift.ingest as ingest

EXPECTED = {
    "BeirDataset", "ChunkMode", "ChunkedCorpus", "ChunkingConfig", "DEFAULT_SEPARATORS", "LengthUnit",
    "RecursiveSplitter", "chunk_documents", "default_model_path", "length_function_for", "load_beir",
    "load_beir_corpus", "load_beir_queries", "load_documents", "load_file", "load_folder", "load_jsonl",
    "load_qrels", "split_markdown", "token_length_function",
}


def test_exported_members():
    assert set(ingest.__all__) == EXPECTED
    assert all(hasattr(ingest, name) for name in ingest.__all__)


def test_submodule_entry_points():
    from ragsift.ingest import chunking, loaders

    assert loaders.load_jsonl is ingest.load_jsonl and loaders.load_beir is ingest.load_beir
    assert chunking.RecursiveSplitter is ingest.RecursiveSplitter
    assert chunking.DEFAULT_SEPARATORS == ("\n\n", "\n", "。", ". ", " ", "")


def test_import_does_not_load_heavy_libraries():
    code = (
        "import sys, ragsift.ingest, ragsift.ingest.chunking, ragsift.ingest.loaders;"
        "print(sorted(m for m in ('torch', 'transformers', 'tokenizers', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
