"""A tiny BEIR folder and a hybrid collection of it (tiny real embedding model) for the training tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TOPICS = ["volcano", "glacier", "insulin", "quasar", "mitochondria", "tsunami", "enzyme", "pulsar", "neuron", "coral"]


def corpus_rows() -> list[dict]:
    rows = []
    for i, topic in enumerate(TOPICS):
        rows.append({"id": f"d{i}", "title": f"Study of the {topic} in detail",
                     "text": f"The {topic} was measured. Results about the {topic} are reported here."})
        rows.append({"id": f"n{i}", "title": "Short",
                     "text": f"An unrelated report on methods and the {TOPICS[(i + 1) % len(TOPICS)]} mentioned once."})
    return rows


@pytest.fixture(scope="session")
def tiny_beir(tmp_path_factory) -> Path:
    """corpus (20 docs: 10 titled topic documents + 10 distractors), queries, qrels/train.tsv and qrels/test.tsv."""
    root = tmp_path_factory.mktemp("tiny-beir")
    rows = corpus_rows()
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    queries = [{"id": f"q{i}", "text": f"what happens to the {t}"} for i, t in enumerate(TOPICS)]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (root / "qrels").mkdir()
    train = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{i}\t1" for i in range(8)] + ["q0\tn0\t0"]
    (root / "qrels" / "train.tsv").write_text("\n".join(train) + "\n", encoding="utf-8")
    test = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{i}\t1" for i in range(8, 10)]
    (root / "qrels" / "test.tsv").write_text("\n".join(test) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tiny_collection(tmp_path_factory, tiny_beir, tiny_st_model) -> Path:
    """A hybrid collection of the tiny corpus embedded with the tiny sentence-transformers model."""
    from ragsift.index.collection import Collection, CollectionConfig
    from ragsift.ingest import ChunkingConfig, ChunkMode, load_beir_corpus

    path = tmp_path_factory.mktemp("tiny-coll") / "coll"
    config = CollectionConfig(embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode=ChunkMode.NONE))
    Collection.create(path, config).add(load_beir_corpus(tiny_beir))
    return path
