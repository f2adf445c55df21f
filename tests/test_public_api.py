"""The public API is pinned, and importing ragsift stays light (no torch, no framework of ragsift.integrations)."""

from __future__ import annotations

import subprocess
import sys

import ragsift

EXPECTED = {
    "__version__",
    "BadInputError",
    "Chunk",
    "Collection",
    "CollectionConfig",
    "CollectionError",
    "ConfigError",
    "Document",
    "Filter",
    "Hit",
    "MissingDependencyError",
    "Mode",
    "ModelNotFoundError",
    "RagsiftError",
    "SearchOptions",
    "SearchResult",
    "Searcher",
}


def test_all_is_pinned():
    assert set(ragsift.__all__) == EXPECTED
    for name in ragsift.__all__:
        assert hasattr(ragsift, name), name


def test_errors_share_one_base():
    for name in ("BadInputError", "CollectionError", "ConfigError", "MissingDependencyError", "ModelNotFoundError"):
        assert issubclass(getattr(ragsift, name), ragsift.RagsiftError)


def test_import_does_not_load_heavy_dependencies():
    code = (
        "import sys, ragsift, ragsift.cli, ragsift.eval.runner, ragsift.integrations;"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'faiss', 'langchain_core', 'llama_index',"
        " 'haystack') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == ""
