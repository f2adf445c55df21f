"""--rerank on search, --rerankers/--candidates on eval, reranker resolution, through the real CLI."""

from __future__ import annotations

import json

import pytest

from ragsift.cli import _eval_config, build_parser, main
from ragsift.config import HUB_DEFAULT, record_trained, resolve_reranker_model
from ragsift.errors import ConfigError

ROWS = [{"id": str(i), "title": f"T{i}", "text": f"passage {i} about {'cats' if i % 2 else 'dogs'} and more"} for i in range(10)]


@pytest.fixture
def collection(tmp_path, capsys):
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    assert main(["index", str(src), "--collection", str(tmp_path / "c"), "--no-dense", "--chunking", "none", "-q"]) == 0
    capsys.readouterr()
    return tmp_path / "c"


def test_search_rerank_json(collection, capsys, tiny_cross_encoder):
    code = main([
        "search", str(collection), "cats", "--mode", "bm25", "--rerank", "--reranker-model", str(tiny_cross_encoder),
        "--candidates", "5", "--top-n", "3", "--json",
    ])
    out, err = capsys.readouterr()
    assert code == 0, err
    payload = json.loads(out)
    rows = payload["hits"]
    assert len(rows) == 3
    assert all({"bm25", "first_stage", "rerank", "rerank_relevance"} <= set(r["source_scores"]) for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    settings = payload["rerank_settings"]
    assert settings["candidates"] == {"value": 5, "source": "option"}
    assert settings["interpolate"] == {"value": None, "source": "default"}
    assert settings["text_fields"] == {"value": ["title", "text"], "source": "default"}
    assert settings["max_length"] == {"value": 512, "source": "default"}
    assert payload["warnings"] == []


def _with_settings(tmp_path, model, **values):
    import shutil

    from ragsift.rerank.settings import ModelSettings, write_model_settings

    folder = tmp_path / "trained"
    shutil.copytree(model, folder)
    write_model_settings(folder, ModelSettings(**values))
    return folder


def test_search_rerank_applies_the_models_recorded_settings(collection, capsys, tiny_cross_encoder, tmp_path):
    """`search --rerank --reranker-model M --json` uses M's ragsift_reranker.json: candidates, weight, length, fields."""
    model = _with_settings(tmp_path, tiny_cross_encoder, interpolate=0.3, candidates=4, max_length=64, text_fields=("text",))
    code = main(["search", str(collection), "passage cats", "--mode", "bm25", "--rerank", "--reranker-model", str(model),
                 "--top-n", "10", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    payload = json.loads(out)
    settings = payload["rerank_settings"]
    assert settings["interpolate"] == {"value": 0.3, "source": "model"}
    assert settings["candidates"] == {"value": 4, "source": "model"}
    assert settings["max_length"] == {"value": 64, "source": "model"}
    assert settings["text_fields"] == {"value": ["text"], "source": "model"}
    hits = payload["hits"]
    assert len(hits) == 4  # the recorded depth: only 4 candidates were retrieved and reranked
    for h in hits:  # the recorded weight is applied: 0.3 * relevance + 0.7 * minmax(first stage)
        assert 0.0 <= h["score"] <= 1.0
    first = [h["source_scores"]["first_stage"] for h in hits]
    lo, hi = min(first), max(first)
    for h in hits:
        norm = (h["source_scores"]["first_stage"] - lo) / (hi - lo) if hi > lo else 1.0
        assert h["score"] == pytest.approx(0.3 * h["source_scores"]["rerank_relevance"] + 0.7 * norm, abs=1e-6)

    # explicit flags win; --interpolate none turns the recorded weight off
    code = main(["search", str(collection), "passage cats", "--mode", "bm25", "--rerank", "--reranker-model", str(model),
                 "--candidates", "6", "--interpolate", "none", "--top-n", "10", "--json"])
    out, err = capsys.readouterr()
    payload = json.loads(out)
    assert payload["rerank_settings"]["interpolate"] == {"value": None, "source": "option"}
    assert payload["rerank_settings"]["candidates"] == {"value": 6, "source": "option"}
    assert all(h["score"] == h["source_scores"]["rerank"] for h in payload["hits"])
    assert len(payload["hits"]) == 6


def test_search_rerank_backend_flag_and_env(collection, capsys, tiny_cross_encoder, monkeypatch):
    monkeypatch.setenv("RERANKER_MAX_LENGTH", "96")
    code = main(["search", str(collection), "cats", "--mode", "bm25", "--rerank", "--reranker-model",
                 str(tiny_cross_encoder), "--reranker-backend", "torch", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    settings = json.loads(out)["rerank_settings"]
    assert settings["backend"] == {"value": "torch", "source": "option"}
    assert settings["max_length"] == {"value": 96, "source": "RERANKER_MAX_LENGTH"}


def test_search_rerank_missing_model_is_a_clear_error(collection, capsys, tmp_path):
    code = main(["search", str(collection), "cats", "--rerank", "--reranker-model", str(tmp_path / "nope")])
    assert code == 2 and "nope" in capsys.readouterr().err


def test_resolution_order(monkeypatch, tmp_path, tiny_cross_encoder):
    monkeypatch.setenv("RAGSIFT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RERANKER_MODEL", raising=False)
    assert resolve_reranker_model(corpus="abc") == (HUB_DEFAULT, "hub default")
    model = _with_settings(tmp_path, tiny_cross_encoder, trained_on={"corpus_fingerprint": "abc", "dataset": "d"})
    record_trained(model)
    assert resolve_reranker_model(corpus="abc") == (str(model.resolve()), "trained")
    # only where it was trained: another corpus, or none named, gets the hub default
    assert resolve_reranker_model(corpus="other") == (HUB_DEFAULT, "hub default")
    assert resolve_reranker_model() == (HUB_DEFAULT, "hub default")
    record_trained(tiny_cross_encoder)  # no recorded corpus: never an implicit default
    assert resolve_reranker_model(corpus="abc") == (str(model.resolve()), "trained")
    monkeypatch.setenv("RERANKER_MODEL", "/env/model")
    assert resolve_reranker_model(corpus="abc") == ("/env/model", "RERANKER_MODEL")
    assert resolve_reranker_model("explicit") == ("explicit", "option")
    monkeypatch.setenv("RERANKER_TYPE", "cohere")  # RERANKER_MODEL is then Cohere's, not the cross-encoder's
    assert resolve_reranker_model(corpus="abc") == (str(model.resolve()), "trained")


def test_search_names_trained_models_of_other_corpora(monkeypatch, tmp_path, collection, capsys, tiny_cross_encoder):
    """A model trained elsewhere is not used implicitly; the note says it exists and how to ask for it."""
    from ragsift.config import reranker_spec

    monkeypatch.setenv("RAGSIFT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RERANKER_MODEL", raising=False)
    monkeypatch.delenv("RERANKER_TYPE", raising=False)
    model = _with_settings(tmp_path, tiny_cross_encoder, trained_on={"corpus_fingerprint": "elsewhere", "dataset": "scifact"})
    record_trained(model)
    from ragsift.cli import _collection_fingerprint, _note_other_trained
    from ragsift.index.collection import Collection

    corpus = _collection_fingerprint(Collection.open(collection))
    spec = reranker_spec(corpus=corpus)
    assert spec.model == HUB_DEFAULT
    _note_other_trained(spec, corpus)
    err = capsys.readouterr().err
    assert str(model.resolve()) in err and "scifact" in err and "--reranker-model" in err
    here = _with_settings(tmp_path / "b", tiny_cross_encoder, trained_on={"corpus_fingerprint": corpus})
    record_trained(here)
    assert reranker_spec(corpus=corpus).model == str(here.resolve())


def test_grid_keeps_a_cohere_model_out_of_the_cross_encoder(monkeypatch, tmp_path):
    """Regression: RERANKER_TYPE=cohere RERANKER_MODEL=rerank-v3.5 made the grid's rerankers
    'none,rerank-v3.5,cohere=rerank-v3.5': the Cohere model id was run as a local cross-encoder."""
    from ragsift.eval.rerank_stage import parse_reranker_spec

    monkeypatch.setenv("RAGSIFT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RERANKER_TYPE", "cohere")
    monkeypatch.setenv("RERANKER_MODEL", "rerank-v3.5")
    cfg = _eval_config(build_parser().parse_args(["eval", "--data", "d", "--out", "o", "--grid"]))
    assert list(cfg.rerankers) == ["none", HUB_DEFAULT, "cohere=rerank-v3.5"]
    assert [parse_reranker_spec(s) for s in cfg.rerankers] == [
        ("none", None), ("cross-encoder", HUB_DEFAULT), ("cohere", "rerank-v3.5"),
    ]
    monkeypatch.delenv("RERANKER_MODEL")
    cfg = _eval_config(build_parser().parse_args(["eval", "--data", "d", "--out", "o", "--grid"]))
    assert list(cfg.rerankers) == ["none", HUB_DEFAULT, "cohere"]


def test_a_type_name_alone_is_that_type_in_eval_and_search(monkeypatch):
    """One grammar: ``cohere`` names the Cohere type everywhere, never a cross-encoder called 'cohere'."""
    from ragsift.eval.rerank_stage import parse_reranker_spec, reranker_label

    assert parse_reranker_spec("cohere") == ("cohere", None)
    assert parse_reranker_spec("cohere=rerank-v3.5") == ("cohere", "rerank-v3.5")
    assert parse_reranker_spec("BAAI/bge-reranker-base") == ("cross-encoder", "BAAI/bge-reranker-base")
    assert reranker_label("cohere") == "cohere"
    with pytest.raises(ConfigError, match="--rerankers='colbert' is not valid.*cross-encoder=colbert"):
        parse_reranker_spec("colbert")


def test_search_rerank_reports_a_misplaced_model_by_its_flag(collection, capsys):
    code = main(["search", str(collection), "cats", "--rerank", "--reranker-type", "none", "--reranker-model", "x/y"])
    assert code == 2 and "--reranker-model gives 'x/y'" in capsys.readouterr().err


def test_eval_reports_each_reranked_run_with_its_baseline(tmp_path, capsys, tiny_cross_encoder):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": r["id"], "title": r["title"], "text": r["text"]}) + "\n" for r in ROWS))
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "cats"}) + "\n" + json.dumps({"_id": "q2", "text": "dogs"}) + "\n")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t1\t1\nq2\t2\t1\n")
    code = main([
        "eval", "--data", str(beir), "--retrievers", "bm25", "--rerankers", str(tiny_cross_encoder),
        "--candidates", "4", "--out", str(tmp_path / "out"), "-q",
    ])
    assert code == 0, capsys.readouterr().err
    runs = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    assert [(r["retriever"], r["reranker"]) for r in runs] == [("bm25", "none"), ("bm25", str(tiny_cross_encoder))]
    reranked = runs[1]
    assert reranked["baseline"] == runs[0]["metrics"]
    assert reranked["delta"]["ndcg@10"] == pytest.approx(reranked["metrics"]["ndcg@10"] - runs[0]["metrics"]["ndcg@10"])
    assert set(reranked["stage_latency_ms"]) == {"retrieve", "fuse", "rerank", "total"}
    # Reranking only the head of 4 cannot change recall@100: the tail keeps its first-stage order.
    assert reranked["metrics"]["recall@100"] == runs[0]["metrics"]["recall@100"]


def test_eval_tunes_the_interpolation_weight_on_another_split(tmp_path, capsys):
    """--interpolate auto picks the weight on the train split, then applies it to test."""
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": r["id"], "title": r["title"], "text": r["text"]}) + "\n" for r in ROWS))
    queries = [{"_id": f"q{i}", "text": "cats" if i % 2 else "dogs"} for i in range(6)]
    (beir / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t1\t1\nq2\t2\t1\n")
    (beir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq3\t3\t1\nq4\t4\t1\n")
    # "none=" is the first-stage-order reranker as a reranked run (plain "none" is the baseline).
    code = main([
        "eval", "--data", str(beir), "--retrievers", "bm25", "--rerankers", "none=", "--interpolate", "auto",
        "--candidates", "4", "--out", str(tmp_path / "out2"), "-q",
    ])
    assert code == 0, capsys.readouterr().err
    run = json.loads((tmp_path / "out2" / "results.json").read_text())["runs"][1]
    tuning = run["params"]["tuning"]
    assert tuning["split"] == "train" and tuning["queries"] == 2
    by_weight = {float(w): v for w, v in tuning["ndcg@10_by_weight"].items()}
    assert len(by_weight) == 11
    assert run["params"]["interpolate"] == max(by_weight, key=lambda w: (by_weight[w], w))


def test_search_rerank_auto_reports_the_gate(collection, capsys, tiny_cross_encoder):
    code = main(["search", str(collection), "cats", "--mode", "bm25", "--rerank", "auto", "--reranker-model",
                 str(tiny_cross_encoder), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    body = json.loads(out)
    assert body["rerank_gate"]["rerank"] is True and "no trained gate" in body["rerank_gate"]["reason"]
    assert all("rerank" in h["source_scores"] for h in body["hits"])
    with pytest.raises(SystemExit) as exc:
        main(["search", str(collection), "cats", "--rerank", "sometimes"])
    assert exc.value.code == 2 and "invalid choice: 'sometimes'" in capsys.readouterr().err
