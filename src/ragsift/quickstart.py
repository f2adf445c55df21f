"""``ragsift quickstart``: index the bundled user guide and compare the search modes on it.

Self-contained: the corpus is the guide shipped inside the package (``ragsift/guide``), the
embedding model is the bundled all-MiniLM-L6-v2; nothing is downloaded. When a cross-encoder
can be loaded (``--reranker-model``, ``RERANKER_MODEL``, a model trained by ragsift, or the hub
default when online) a fourth column shows hybrid + rerank; when none can, the quickstart says
so and prints the command that would give it one — it never shows scores of an untrained model.
"""

from __future__ import annotations

import tempfile
import time
from importlib import resources
from pathlib import Path

__all__ = ["QUESTIONS", "guide_dir", "run_quickstart"]

QUESTIONS = (
    "How do I remove documents from a collection?",
    "Is the index safe if the process is killed while writing?",
    "Which analyzer should I use for Japanese text?",
    "What does the k=60 constant of reciprocal rank fusion do?",
)
MODES = ("bm25", "dense", "hybrid")


def guide_dir() -> Path:
    """The folder of Markdown files that make up ragsift's user guide."""
    return Path(str(resources.files("ragsift") / "guide"))


def load_reranker(model: str | None = None):
    """``(reranker, message)``: a warmed-up cross-encoder, or None and why not."""
    from ragsift.errors import RagsiftError
    from ragsift.rerank.registry import get_reranker
    from ragsift.config import resolve_reranker_model

    name, source = resolve_reranker_model(model)
    try:
        reranker = get_reranker("cross-encoder", name, cache="off", fallback="off")
        reranker.warm_up()
    except RagsiftError as exc:
        return None, (
            f"No reranker: {name} ({source}) could not be loaded: {exc}\n"
            "Showing the first stage only. To add the second stage, train a reranker on judged queries:\n"
            "  ragsift train-reranker --data path/to/beir/dataset --split train --out models/reranker\n"
            "(or, with internet access, unset HF_HUB_OFFLINE to download the hub default, "
            "or set RERANKER_MODEL to a local cross-encoder folder)."
        )
    return reranker, f"Reranker: {name} ({source})"


def run_quickstart(workdir: str | None = None, k: int = 3, reranker_model: str | None = None) -> None:
    from rich.console import Console

    from ragsift.display import side_by_side
    from ragsift.index.collection import Collection, CollectionConfig
    from ragsift.ingest import ChunkingConfig
    from ragsift.ingest import load_documents
    from ragsift.pipeline.rerank import RerankOptions
    from ragsift.pipeline.search import SearchOptions, Searcher

    console = Console()
    with tempfile.TemporaryDirectory(prefix="ragsift-quickstart-") as tmp:
        path = Path(workdir or tmp) / "guide-collection"
        docs = load_documents(guide_dir())
        console.print(f"[bold]ragsift quickstart[/bold]: indexing {len(docs)} guide pages into {path}")
        start = time.perf_counter()
        config = CollectionConfig(chunking=ChunkingConfig(mode="markdown", unit="tokens", size=160, overlap=20))
        coll = Collection.open(path) if Collection.exists(path) else Collection.create(path, config)
        counts = coll.add(docs)
        console.print(
            f"{counts['chunks']} chunks indexed (BM25 + all-MiniLM-L6-v2 vectors) in {time.perf_counter() - start:.1f} s\n"
        )
        reranker, message = load_reranker(reranker_model)
        console.print(message + "\n", markup=False)
        searcher = Searcher(coll, reranker)
        searcher.warm_up()
        for question in QUESTIONS:
            columns, timings = {}, {}
            for mode in MODES:
                result = searcher.search(question, SearchOptions(mode=mode, k=k))
                columns[mode], timings[mode] = result.hits, result.timings_ms["total"]
            if reranker is not None:
                result = searcher.search(question, SearchOptions(mode="hybrid"), rerank=RerankOptions(20, k))
                columns["hybrid+rerank"], timings["hybrid+rerank"] = result.hits, result.timings_ms["total"]
            side_by_side(question, columns, timings)
        console.print(
            "Next: [bold]ragsift index MY_DOCS --collection DIR[/bold] then "
            '[bold]ragsift search DIR "question" --mode hybrid[/bold] (see README.md).'
        )
