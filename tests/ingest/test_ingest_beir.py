"""load_beir on a tiny BEIR folder built here, its error paths, and on real SciFact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragsift.errors import BadInputError
from ragsift.ingest import BeirDataset, load_beir, load_beir_corpus, load_beir_queries, load_qrels


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture()
def beir_dir(tmp_path) -> Path:
    root = tmp_path / "tinyset"
    (root / "qrels").mkdir(parents=True)
    write_jsonl(
        root / "corpus.jsonl",
        [
            {"_id": "d1", "title": "Cats", "text": "Cats purr.", "metadata": {}},
            {"_id": "d2", "title": "", "text": "Dogs bark."},
            {"_id": 3, "title": "Birds", "text": "Birds sing."},
        ],
    )
    write_jsonl(
        root / "queries.jsonl",
        [
            {"_id": "q1", "text": "what purrs", "metadata": {}},
            {"_id": "q2", "text": "what barks"},
            {"_id": "q3", "text": "unjudged in test"},
        ],
    )
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq2\t3\t0\n")
    (root / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq3\td1\t1\n")
    return root


def test_load_beir_split(beir_dir):
    data = load_beir(beir_dir)
    assert isinstance(data, BeirDataset)
    assert (data.name, data.split) == ("tinyset", "test")
    assert [d.id for d in data.corpus] == ["d1", "d2", "3"]
    assert data.queries == {"q1": "what purrs", "q2": "what barks"}
    assert data.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2, "3": 0}}
    assert load_beir(beir_dir, split="dev").queries == {"q3": "unjudged in test"}


def test_corpus_and_queries_alone(beir_dir):
    assert len(load_beir_corpus(beir_dir)) == 3
    assert len(load_beir_corpus(beir_dir / "corpus.jsonl")) == 3
    assert list(load_beir_queries(beir_dir)) == ["q1", "q2", "q3"]


def test_missing_split_lists_available(beir_dir):
    with pytest.raises(BadInputError, match=r"split='train' has no qrels file; available splits: 'dev', 'test'"):
        load_beir(beir_dir, split="train")


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(BadInputError, match="BEIR dataset folder not found"):
        load_beir(tmp_path / "absent")


def test_missing_corpus_file(beir_dir):
    (beir_dir / "corpus.jsonl").unlink()
    with pytest.raises(BadInputError, match=r"corpus\.jsonl: JSONL document file not found"):
        load_beir(beir_dir)


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ("q1\td1", "expected 3 tab-separated columns"),
        ("q1 d1 1", "expected 3 tab-separated columns"),
        ("q1\td1\thigh", "score must be an integer relevance grade, got 'high'"),
        ("q1\td1\t0.5", "score must be an integer"),
        ("\td1\t1", "empty query-id or corpus-id"),
        ("q1\td1\t2", "judges 'd1' twice with different scores (line 2: 1, line 4: 2)"),
    ],
)
def test_bad_qrels_rows_name_file_and_line(beir_dir, row, fragment):
    qrels = beir_dir / "qrels" / "test.tsv"
    qrels.write_text(f"query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n{row}\n")
    with pytest.raises(BadInputError) as info:
        load_beir(beir_dir)
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"{qrels}:4: ")


def test_qrels_without_header_and_float_grades(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("q1\td1\t1.0\nq1\td1\t1\n\n")
    assert load_qrels(path) == {"q1": {"d1": 1}}


def test_unknown_corpus_ids_are_listed(beir_dir):
    extra = "".join(f"q1\tghost{i}\t1\n" for i in range(7))
    (beir_dir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + extra)
    with pytest.raises(BadInputError) as info:
        load_beir(beir_dir)
    message = str(info.value)
    assert "corpus.jsonl" in message and "7 corpus id(s)" in message
    assert "'ghost0', 'ghost1', 'ghost2', 'ghost3', 'ghost4', ..." in message


def test_unknown_query_ids(beir_dir):
    (beir_dir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq9\td1\t1\n")
    with pytest.raises(BadInputError, match=r"queries\.jsonl: .*1 query id\(s\).*'q9'"):
        load_beir(beir_dir)


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        ({"_id": "q4"}, "missing 'text'"),
        ({"_id": "q4", "text": " "}, "query 'q4' has an empty 'text'"),
        ({"_id": "q1", "text": "again"}, "duplicate query id 'q1'"),
    ],
)
def test_bad_query_lines(beir_dir, record, fragment):
    with (beir_dir / "queries.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    with pytest.raises(BadInputError) as info:
        load_beir_queries(beir_dir)
    assert fragment in str(info.value)
    assert "queries.jsonl:4:" in str(info.value)


@pytest.mark.scifact
def test_real_scifact(scifact_dir):
    corpus = load_beir_corpus(scifact_dir)
    data = load_beir(scifact_dir, split="test")
    assert len(corpus) == len(data.corpus) == 5183
    assert len(data.queries) == 300
    assert sum(len(judged) for judged in data.qrels.values()) == 339
    assert data.name == "scifact"
