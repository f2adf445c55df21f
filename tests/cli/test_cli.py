"""The ragsift command line, end to end on real files (in-process ``main`` plus the console script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragsift.cli import main


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [
    {"id": "1", "title": "Cats", "text": "Cats purr when they are content."},
    {"id": "2", "title": "Dogs", "text": "Dogs bark at strangers in the park."},
    {"id": "3", "title": "Finance", "text": "EBITDA rose while the P/E ratio fell.", "metadata": {"desk": "equity"}},
]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def collection(tmp_path, capsys, tiny_st_model):
    src = write_jsonl(tmp_path / "docs.jsonl", ROWS)
    coll = tmp_path / "coll"
    code, out, _ = run(
        capsys, "index", str(src), "--collection", str(coll), "--embed-model", str(tiny_st_model),
        "--chunking", "none", "--protected-terms", "P/E,EBITDA", "-q",
    )
    assert code == 0 and "3 added" in out
    return coll


def search_json(capsys, coll, query, *extra):
    code, out, err = run(capsys, "search", str(coll), query, "--json", *extra)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_search_json_shape(capsys, collection, mode):
    rows = search_json(capsys, collection, "dogs bark", "--mode", mode, "-k", "2")
    assert 1 <= len(rows) <= 2
    assert set(rows[0]) == {"id", "doc_id", "score", "title", "text", "source_scores", "metadata"}
    if mode != "dense":
        assert rows[0]["doc_id"] == "2"


def test_search_json_carries_the_metadata_filters_read(capsys, collection):
    rows = search_json(capsys, collection, "P/E ratio", "--mode", "bm25", "--filter", "desk=equity")
    assert [r["doc_id"] for r in rows] == ["3"] and rows[0]["metadata"] == {"desk": "equity"}


def test_search_auto_mode_reports_its_route(capsys, collection):
    body = search_json(capsys, collection, "P/E ratio", "--mode", "auto")
    assert body["route"]["kind"] == "fact" and body["route"]["route"] == "bm25"
    assert body["route"]["protected"] == ["P/E"] and body["hits"][0]["doc_id"] == "3"
    code, out, err = run(capsys, "search", str(collection), "why do dogs bark at strangers", "--mode", "auto")
    assert code == 0 and "route: concept → dense" in err and "auto: concept → dense" in out


def test_index_again_adds_and_replaces_then_delete(tmp_path, capsys, collection):
    more = write_jsonl(tmp_path / "more.jsonl", [{"id": "2", "title": "Birds", "text": "Parrots mimic voices."},
                                                   {"id": "4", "title": "Fish", "text": "Salmon swim upstream."}])
    code, out, _ = run(capsys, "index", str(more), "--collection", str(collection), "-q")
    assert code == 0 and "1 added, 1 replaced" in out
    assert [r["doc_id"] for r in search_json(capsys, collection, "parrots", "--mode", "bm25")] == ["2"]
    assert search_json(capsys, collection, "dogs bark", "--mode", "bm25") == []
    code, out, _ = run(capsys, "delete", str(collection), "4")
    assert code == 0 and "deleted 1" in out
    assert search_json(capsys, collection, "salmon", "--mode", "bm25") == []


def test_protected_terms_via_cli(capsys, collection):
    assert [r["doc_id"] for r in search_json(capsys, collection, "P/E", "--mode", "bm25")] == ["3"]


def test_creation_options_on_existing_collection_are_refused(tmp_path, capsys, collection):
    src = write_jsonl(tmp_path / "x.jsonl", [{"id": "9", "text": "x y z"}])
    code, _, err = run(capsys, "index", str(src), "--collection", str(collection), "--analyzer", "ja")
    assert code == 2 and "--analyzer" in err and "created" in err


def test_malformed_jsonl_names_file_and_line_and_loses_nothing(tmp_path, capsys, collection):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "7", "text": "fine"}) + "\n{not json\n", encoding="utf-8")
    code, _, err = run(capsys, "index", str(bad), "--collection", str(collection), "-q")
    assert code == 2 and "bad.jsonl:2" in err
    assert len(search_json(capsys, collection, "cats dogs EBITDA", "--mode", "bm25")) == 3


def test_missing_source_and_missing_collection_errors(tmp_path, capsys):
    code, _, err = run(capsys, "index", str(tmp_path / "nope.jsonl"), "--collection", str(tmp_path / "c"))
    assert code == 2 and "nope.jsonl" in err
    code, _, err = run(capsys, "search", str(tmp_path / "c"), "q")
    assert code == 2 and "no collection" in err


def test_filter_option_is_anded_and_validated(capsys, collection):
    rows = search_json(capsys, collection, "cats dogs EBITDA", "--filter", "desk=equity")
    assert [r["doc_id"] for r in rows] == ["3"]
    rows = search_json(
        capsys, collection, "cats dogs EBITDA", "--mode", "bm25", "--filter", "desk != equity", "--filter", "desk not in (bonds)"
    )
    assert sorted(r["doc_id"] for r in rows) == ["1", "2"]  # no desk key: the negations pass
    assert search_json(capsys, collection, "cats dogs EBITDA", "--filter", "desk=equity", "--filter", "desk=bonds") == []
    code, _, err = run(capsys, "search", str(collection), "cats", "--filter", "desk in equity")
    assert code == 2 and "'desk in equity'" in err and "FIELD in (V1,V2,...)" in err


def test_weights_option_is_validated(capsys, collection):
    code, _, err = run(capsys, "search", str(collection), "cats", "--fusion", "weighted", "--weights", "bm25:1")
    assert code == 2 and "--weights" in err
    rows = search_json(capsys, collection, "cats", "--fusion", "weighted", "--weights", "bm25=1,dense=0")
    assert rows[0]["doc_id"] == "1"


def test_human_output_and_info(capsys, collection):
    code, out, _ = run(capsys, "search", str(collection), "cats purr", "--mode", "bm25")
    assert code == 0 and "Cats" in out
    code, out, _ = run(capsys, "info", str(collection))
    assert code == 0 and json.loads(out)["stats"]["documents"] == 3


def test_console_script_reports_errors_with_exit_code(tmp_path):
    exe = Path(sys.executable).with_name("ragsift")
    proc = subprocess.run([str(exe), "search", str(tmp_path / "none"), "q"], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)
    assert proc.returncode == 2 and "no collection" in proc.stderr
    help_text = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60).stdout
    for command in ("index", "delete", "search", "eval", "serve", "quickstart"):
        assert command in help_text


def test_search_validate_prints_the_verdict_and_suggestions(capsys, collection):
    body = search_json(capsys, collection, "dgos brak", "--mode", "bm25", "--validate")
    v = body["validation"]
    assert v["verdict"] == "fail" and body["hits"] == []
    assert [(s["term"], s["suggestion"]) for s in v["suggestions"]["spelling"]] == [("dgos", "dogs"), ("brak", "bark")]
    assert search_json(capsys, collection, "dogs bark", "--mode", "bm25", "--validate")["validation"]["verdict"] == "pass"
    code, out, _ = run(capsys, "search", str(collection), "dgos brak", "--mode", "bm25", "--validate")
    assert code == 0 and "validation: fail" in out and "did you mean: dogs bark" in out


def test_search_synonyms_and_rm3_flags(capsys, collection, tmp_path):
    synonyms = tmp_path / "synonyms.txt"
    synonyms.write_text("# Solr format\nhounds => dogs\n", encoding="utf-8")
    assert search_json(capsys, collection, "hounds", "--mode", "bm25") == []
    rows = search_json(capsys, collection, "hounds", "--mode", "bm25", "--synonyms", str(synonyms))
    assert [r["doc_id"] for r in rows] == ["2"]
    rows = search_json(capsys, collection, "strangers", "--mode", "bm25", "--rm3")
    assert rows[0]["doc_id"] == "2"
    code, _, err = run(capsys, "search", str(collection), "x", "--synonyms", str(tmp_path / "missing.txt"))
    assert code == 2 and "does not exist" in err
