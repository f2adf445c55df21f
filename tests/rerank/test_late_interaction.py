"""The late-interaction reranker and its int8 token store, on a tiny real BERT built locally (no download)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _beir import write_beir

from ragsift.cli import main
from ragsift.errors import BadInputError, ConfigError, ModelNotFoundError
from ragsift.index.collection import Collection
from ragsift.pipeline.rerank import RerankOptions
from ragsift.pipeline.search import Searcher
from ragsift.rerank.late_interaction import (
    LateInteractionReranker,
    TokenEncoder,
    build_token_store,
    maxsim,
)
from ragsift.rerank.registry import get_reranker
from ragsift.rerank.settings import SETTINGS_FILE, ModelSettings, write_model_settings
from ragsift.rerank.token_store import (
    MANIFEST,
    TokenStore,
    dequantize,
    passage_keys,
    project,
    quantize,
)

TEXTS = [
    "Cats purr when they are content.",
    "Dogs bark at strangers in the park.",
    "EBITDA rose while the P/E ratio fell.",
    "Volcanoes erupt magma and ash.",
    "Dogs bark at strangers in the park.",  # a duplicate: stored once
    "",  # no tokens at all
]
UNIQUE = TEXTS[:4] + [""]


@pytest.fixture(scope="module")
def encoder(tiny_st_model) -> TokenEncoder:
    return TokenEncoder.load(tiny_st_model)


@pytest.fixture(scope="module")
def store(tmp_path_factory, encoder) -> TokenStore:
    return build_token_store(TEXTS, tmp_path_factory.mktemp("li") / "store", encoder=encoder, show_progress=False)


def exact_maxsim(query: np.ndarray, passage: np.ndarray) -> float:
    return float((query @ passage.T).max(axis=1).sum()) if len(passage) else 0.0


def test_store_round_trip(store, encoder):
    m = store.manifest
    assert (m["format"], m["version"], m["dtype"], m["scale_dtype"]) == ("ragsift-late-interaction", 1, "int8", "float16")
    assert m["passages"] == len(UNIQUE) == len(store) and m["dim"] == m["encoder_dim"] == encoder.dim
    assert m["max_length"] == encoder.max_positions  # 256 capped to the tiny model's 128 positions
    assert store.tokens.dtype == np.int8 and isinstance(store.tokens, np.memmap) and store.scales.dtype == np.float16
    lengths = encoder.lengths(UNIQUE, m["max_length"])
    assert lengths[-1] == 0 and np.array_equal(np.diff(store.offsets), lengths) and m["tokens"] == lengths.sum()
    on_disk = {p.name: p.stat().st_size for p in store.path.iterdir() if p.name != MANIFEST}
    assert on_disk == m["files"] and m["bytes"] == sum(on_disk.values())
    assert m["bytes_per_passage"] == pytest.approx(m["bytes"] / m["passages"], abs=0.1)
    # every text finds its own passage (the duplicate the first copy); an unknown text finds none
    found = store.locate(passage_keys(TEXTS + ["never stored"]))
    assert found.tolist() == [0, 1, 2, 3, 1, 4, -1]
    assert json.loads((store.path / MANIFEST).read_text())["bytes"] == m["bytes"]


def test_dequantised_vectors_are_within_int8_error(store, encoder):
    for i, fp32 in enumerate(encoder.encode(UNIQUE, store.max_length)):
        q, scales = store.rows(i)
        assert len(q) == len(fp32)
        if not len(fp32):
            continue
        scales = scales.astype(np.float32)
        peak = np.abs(fp32).max(axis=1)
        assert np.all(scales >= peak / 127) and np.all(scales <= peak / 127 * (1 + 2**-10) + 1e-9)
        assert np.all(np.abs(store.vectors(i) - fp32) <= scales[:, None] / 2 + 1e-7)


def test_quantize_handles_zero_vectors_and_never_clips():
    v = np.array([[0.0, 0.0], [1.0, -0.5], [-3.0, 3.0]], dtype=np.float32)
    q, s = quantize(v)
    assert q.dtype == np.int8 and s.dtype == np.float16
    assert q[0].tolist() == [0, 0] and np.abs(q).max() == 127
    assert np.all(np.abs(dequantize(q, s) - v) <= s.astype(np.float32)[:, None] / 2 + 1e-7)


def test_maxsim_against_hand_computed_values():
    query = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    tokens = np.array([[10, 0], [0, 5], [3, 4], [-1, 1]], dtype=np.int8)
    scales = np.array([0.1, 0.1, 0.2, 1.0], dtype=np.float16)
    # passage A = rows 0-1 -> (1, 0), (0, .5); B = nothing; C = rows 2-3 -> (.6, .8), (-1, 1)
    raw = maxsim(query, tokens, scales, [2, 0, 2])
    assert raw == pytest.approx([1.0 + 0.5, 0.0, 0.6 + 1.0], abs=1e-3)
    assert maxsim(query[:0], tokens, scales, [2, 0, 2]).tolist() == [0.0, 0.0, 0.0]


def test_score_equals_an_explicit_fp32_maxsim(store, encoder):
    reranker = LateInteractionReranker(store.path)
    query = "why do dogs bark at strangers"
    scores = reranker.score(query, UNIQUE)
    q = encoder.encode([query], reranker.max_query_length + encoder.specials)[0]
    passages = encoder.encode(UNIQUE, store.max_length)
    exact = [exact_maxsim(q, p) for p in passages]
    # |q·(p - p̂)| <= ||q||₁ · scale/2 for every pair, so the sum over query tokens is bounded by:
    bound = np.abs(q).sum(axis=1).sum() * float(store.scales.astype(np.float32).max()) / 2
    assert np.all(np.abs(np.array(scores.raw) - exact) <= bound + 1e-5)
    assert scores.relevance == pytest.approx([min(1.0, max(0.0, r / len(q))) for r in scores.raw])
    assert scores.raw[-1] == 0.0 and reranker.misses == 0 and reranker.passages_scored == len(UNIQUE)


def test_score_many_encodes_the_queries_of_several_requests_in_one_pass(store):
    reranker = LateInteractionReranker(store.path)
    requests = [("dogs bark", UNIQUE), ("cats purr", UNIQUE[:2]), ("dogs bark", UNIQUE[1:]), ("magma", [])]
    alone = [reranker.score(q, d) if d else None for q, d in requests]
    passes = reranker.forward_passes
    many = reranker.score_many(requests)
    assert reranker.forward_passes == passes + 1  # two distinct queries, one forward pass
    for got, want in zip(many[:3], alone[:3]):
        assert got.raw == pytest.approx(want.raw, abs=1e-5) and got.relevance == pytest.approx(want.relevance, abs=1e-6)
    assert many[3].raw == [] and many[3].relevance == []


def test_a_trained_cosine_head_reranker_lends_its_encoder(tmp_path, tiny_st_model, encoder):
    """--encoder may be a train-reranker output (ragsift-cosine-bert): its BERT encoder makes the token vectors."""
    import transformers

    from ragsift.rerank import cosine_head

    folder = tmp_path / "ce"
    cosine_head.new_cosine_model(tiny_st_model).save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(tiny_st_model).save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["model_type"] == cosine_head.MODEL_TYPE
    lent = TokenEncoder.load(folder)
    texts = ["cats purr", "dogs bark at night"]
    for got, want in zip(lent.encode(texts, 16), encoder.encode(texts, 16)):
        assert got.shape == want.shape and np.allclose(got, want, atol=1e-5)


def test_query_is_cut_to_max_query_length(store):
    reranker = LateInteractionReranker(store.path, max_query_length=3)
    assert len(reranker.encode_query("one two three four five six")) == 3


def test_the_passage_with_the_query_terms_ranks_first(store):
    reranker = LateInteractionReranker(store.path)
    for query, best in [("dogs bark", 1), ("cats purr", 0), ("EBITDA ratio", 2), ("magma volcanoes", 3)]:
        assert reranker.rerank(query, UNIQUE)[0].index == best, query


def test_a_missing_passage_is_encoded_on_the_fly_counted_and_warned_once(store, tmp_path, encoder, caplog):
    reranker = LateInteractionReranker(store.path)
    new = "Parrots mimic human voices."
    with caplog.at_level(logging.WARNING, logger="ragsift.rerank.late_interaction"):
        first = reranker.score("parrots", UNIQUE + [new])
        reranker.score("parrots", [new, "Salmon swim upstream."])
    assert reranker.misses == 3 and reranker.passages_scored == len(UNIQUE) + 3
    warnings = [r for r in caplog.records if "not in the token store" in r.getMessage()]
    assert len(warnings) == 1 and "ragsift late-index" in warnings[0].getMessage()
    # it scores exactly as it would once stored (same encoder, max_length, quantisation)
    stored = LateInteractionReranker(build_token_store([new], tmp_path / "s", encoder=encoder, show_progress=False).path)
    assert stored.score("parrots", [new]).raw[0] == pytest.approx(first.raw[-1], abs=1e-5) and stored.misses == 0


def test_a_projection_reduces_bytes_and_still_scores(store, encoder, tmp_path):
    small = build_token_store(TEXTS, tmp_path / "d8", encoder=encoder, dim=8, show_progress=False)
    assert small.manifest["dim"] == 8 and small.tokens.shape == (store.manifest["tokens"], 8)
    assert small.projection.shape == (encoder.dim, 8)
    assert np.allclose(small.projection.T @ small.projection, np.eye(8), atol=1e-5)  # orthonormal directions
    # per token: dim int8 bytes + 2 for the scale (plus the .npy headers)
    assert small.manifest["files"]["tokens.npy"] < store.manifest["files"]["tokens.npy"] * 8 / encoder.dim + 256
    fixed = small.manifest["files"]["projection.npy"]  # once per store, whatever its size
    assert small.manifest["bytes"] - fixed < store.manifest["bytes"]
    reranker = LateInteractionReranker(small.path)
    q = reranker.encode_query("dogs bark")
    assert q.shape[1] == 8 and np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    scores = reranker.score("dogs bark", UNIQUE)
    exact = [exact_maxsim(q, project(p, small.projection)) for p in encoder.encode(UNIQUE, small.max_length)]
    assert np.allclose(scores.raw, exact, atol=len(q) * 0.03) and all(0.0 <= r <= 1.0 for r in scores.relevance)
    with pytest.raises(ConfigError, match="dim=64 is larger than the encoder's dimension 32"):
        build_token_store(TEXTS, tmp_path / "big", encoder=encoder, dim=64, show_progress=False)


class FailingEncoder(TokenEncoder):
    """A real encoder that breaks down after its first batch (a crash mid-build)."""

    def __init__(self, real: TokenEncoder):
        super().__init__(real.model, real.tokenizer, name=real.name)
        self.batches = 0

    def encode(self, texts, max_length):
        self.batches += 1
        if self.batches > 1:
            raise RuntimeError("encoder crashed")
        return super().encode(texts, max_length)


def test_a_failed_rebuild_keeps_the_old_store(store, encoder, tmp_path):
    out = build_token_store(TEXTS, tmp_path / "store", encoder=encoder, show_progress=False).path
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RuntimeError, match="encoder crashed"):
        build_token_store(TEXTS * 3 + ["more", "text"], out, encoder=FailingEncoder(encoder), batch_size=2, show_progress=False)
    with pytest.raises(ModelNotFoundError, match="no such directory"):
        build_token_store(TEXTS, out, encoder=tmp_path / "no-model", show_progress=False)
    with pytest.raises(BadInputError, match=r"texts\[1\] is a int"):
        build_token_store(["ok", 3], out, encoder=encoder, show_progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["store"]  # no staging folder left behind
    assert LateInteractionReranker(out).score("cats", ["Cats purr when they are content."]).raw[0] > 0


def test_get_reranker_builds_it(store):
    reranker = get_reranker("late-interaction", model=str(store.path), batch_size=4)
    assert isinstance(reranker, LateInteractionReranker) and reranker.batch_size == 4
    assert reranker.cacheable and reranker.model_version == store.fingerprint


def test_missing_or_damaged_stores_name_the_fix(store, tmp_path):
    with pytest.raises(ConfigError, match=r"does not exist.*ragsift late-index"):
        get_reranker("late-interaction", model=str(tmp_path / "nothing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"not a late-interaction store \(no manifest.json\).*ragsift late-index"):
        LateInteractionReranker(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    for p in store.path.iterdir():
        (bad / p.name).write_bytes(p.read_bytes())
    np.save(bad / "tokens.npy", np.zeros((3, 5), dtype=np.int8))
    with pytest.raises(ConfigError, match=r"damaged: tokens.npy is int8\(3, 5\).*ragsift late-index"):
        LateInteractionReranker(bad)
    (bad / "scales.npy").unlink()
    with pytest.raises(ConfigError, match=r"damaged: an array is missing"):
        LateInteractionReranker(bad)
    (bad / MANIFEST).write_text("{not json")
    with pytest.raises(ConfigError, match=r"damaged: manifest.json is not readable JSON.*ragsift late-index"):
        LateInteractionReranker(bad)
    with pytest.raises(ConfigError, match="max_query_length=0 is not valid"):
        LateInteractionReranker(store.path, max_query_length=0)


def test_recorded_settings_apply_and_survive_a_same_rebuild(encoder, tmp_path):
    out = build_token_store(TEXTS, tmp_path / "s", encoder=encoder, text_fields=("title", "text"), show_progress=False).path
    assert LateInteractionReranker(out).model_settings.text_fields == ("title", "text")
    write_model_settings(out, ModelSettings(interpolate=0.4, candidates=20, tuning={"by_depth": {}}))
    reranker = LateInteractionReranker(out)
    opts = RerankOptions().resolve(reranker)
    assert (opts.interpolate, opts.candidates) == (0.4, 20) and opts.applied["interpolate"].source == "model"
    build_token_store(TEXTS[:2], out, encoder=encoder, text_fields=("title", "text"), show_progress=False)
    assert LateInteractionReranker(out).model_settings.interpolate == 0.4  # same encoder and layout: kept
    build_token_store(TEXTS[:2], out, encoder=encoder, dim=4, text_fields=("title", "text"), show_progress=False)
    assert not (out / SETTINGS_FILE).exists()  # other scores: dropped
    write_model_settings(out, ModelSettings(interpolate=0.4, text_fields=("text",)))
    with pytest.raises(ConfigError, match="every lookup would miss"):
        LateInteractionReranker(out)


def test_importing_it_does_not_import_torch():
    code = "import sys, ragsift.rerank.late_interaction, ragsift.rerank.late_commands; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False, capture_output=True).returncode == 0


# -- the CLI ------------------------------------------------------------------------------------------

ROWS = [
    {"id": "1", "title": "Cats", "text": "Cats purr when they are content."},
    {"id": "2", "title": "Dogs", "text": "Dogs bark at strangers in the park."},
    {"id": "3", "title": "Finance", "text": "EBITDA rose while the P/E ratio fell."},
]


@pytest.fixture(scope="module")
def collection(tmp_path_factory, tiny_st_model) -> Path:
    root = tmp_path_factory.mktemp("cli")
    src = root / "docs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    assert main(["index", str(src), "--collection", str(root / "coll"), "--embed-model", str(tiny_st_model),
                 "--chunking", "none", "-q"]) == 0
    return root / "coll"


def test_cli_late_index_then_search_with_it(collection, tiny_st_model, capsys):
    capsys.readouterr()
    assert main(["late-index", str(collection), "--encoder", str(tiny_st_model), "-q"]) == 0
    out = capsys.readouterr().out
    store = TokenStore.open(collection / "late_interaction")
    m = store.manifest
    assert f"{m['passages']} passages, {m['tokens']} tokens" in out and m["passages"] == len(ROWS)
    assert f"{m['bytes_per_passage']:,.0f} bytes per passage" in out and "at 1M passages" in out
    assert m["text_fields"] == ["title", "text"] and m["source"]["chunks"] == len(ROWS)
    # the Searcher hands the reranker exactly the stored texts: no misses
    reranker = get_reranker("late-interaction", model=str(store.path))
    result = Searcher(Collection.open(collection), reranker).search("dogs bark", rerank=RerankOptions(top_n=2))
    assert result.hits[0].doc_id == "2" and reranker.misses == 0 and reranker.passages_scored == len(ROWS)
    code = main(["search", str(collection), "dogs bark", "--rerank", "--reranker-type", "late-interaction",
                 "--reranker-model", str(store.path), "--json"])
    body = json.loads(capsys.readouterr().out)
    assert code == 0 and body["hits"][0]["doc_id"] == "2" and "rerank" in body["hits"][0]["source_scores"]


def test_cli_late_index_errors(collection, tmp_path, capsys):
    assert main(["late-index", str(tmp_path / "nope"), "-q"]) == 2
    assert "ragsift late-index: error:" in capsys.readouterr().err
    assert main(["late-index", str(collection), "--text-fields", "body", "-q"]) == 2
    assert "text_fields=['body'] is not valid" in capsys.readouterr().err


WORDS = ["volcano", "glacier", "insulin", "quasar", "mitochondria", "tsunami", "enzyme", "pulsar", "neuron", "coral"]


@pytest.fixture(scope="module")
def beir(tmp_path_factory):
    root = tmp_path_factory.mktemp("beir")
    rows, queries, train = [], [], []
    for i, w in enumerate(WORDS):
        other = WORDS[(i + 3) % len(WORDS)]
        rows.append({"id": f"d{i}", "title": f"The {w}", "text": f"A study of the {w} and its {other} neighbour."})
        rows.append({"id": f"n{i}", "title": "Notes", "text": f"Methods mention the {other} once."})
        queries.append({"id": f"q{i}", "text": f"{w} study"})
        train.append((f"q{i}", f"d{i}", 1))
    return write_beir(root, rows, queries, {"train": train})


def test_cli_tune_on_records_settings_the_reranker_applies(beir, tiny_st_model, tmp_path, capsys):
    coll = tmp_path / "coll"
    assert main(["index", str(beir / "corpus.jsonl"), "--collection", str(coll), "--embed-model", str(tiny_st_model),
                 "--chunking", "none", "-q"]) == 0
    out_dir = tmp_path / "store"
    assert main(["late-index", str(coll), "--encoder", str(tiny_st_model), "--dim", "16", "--out", str(out_dir),
                 "--tune-on", str(beir), "-q"]) == 0
    assert f"tuned on {beir.name}/train ({len(WORDS)} queries)" in capsys.readouterr().out
    settings = LateInteractionReranker(out_dir).model_settings
    assert 0.0 <= settings.interpolate <= 1.0 and settings.candidates in (20, 30, 45)
    assert settings.trained_on["split"] == "train" and settings.tuning["queries"] == len(WORDS)
    assert settings.tuning["misses"] == 0 and settings.text_fields == ("title", "text")


def test_cli_tune_on_refuses_another_corpus_before_building(collection, beir, tmp_path, capsys):
    out_dir = tmp_path / "store"
    assert main(["late-index", str(collection), "--out", str(out_dir), "--tune-on", str(beir), "-q"]) == 2
    assert "does not hold the corpus of" in capsys.readouterr().err and not out_dir.exists()


def test_it_serves_behind_the_http_service(store):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from ragsift.service import ServiceSettings
    from ragsift.service.app import create_app

    app = create_app(ServiceSettings(reranker_type="late-interaction", reranker_model=str(store.path)))
    with TestClient(app) as client:
        for _ in range(400):  # the model warms up in the background
            if client.get("/v1/health/ready").status_code == 200:
                break
            time.sleep(0.05)
        body = client.post("/v1/rerank", json={"query": "dogs bark", "documents": UNIQUE[:4]}).json()
    assert body["results"][0]["index"] == 1 and all(0.0 <= r["relevance_score"] <= 1.0 for r in body["results"])
