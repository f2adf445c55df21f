"""/v1/search applies the reranker model's recorded settings (ragsift_reranker.json), overridable per request."""

from __future__ import annotations

import shutil

import pytest
from service.service_kit import wait_ready
from service.test_service_search import build_collection, client_for, ok, search

from ragsift.rerank.cross_encoder import CrossEncoderReranker
from ragsift.rerank.settings import ModelSettings, write_model_settings


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_st_model, tiny_cross_encoder):
    root = tmp_path_factory.mktemp("settings")
    model = root / "model"
    shutil.copytree(tiny_cross_encoder, model)
    write_model_settings(model, ModelSettings(interpolate=0.5, candidates=3, max_length=64))
    reranker = CrossEncoderReranker(model, backend="torch")
    reranker.warm_up()
    with client_for(reranker, build_collection(root / "c", tiny_st_model)) as c:
        wait_ready(c)
        yield c


def test_search_applies_and_reports_the_recorded_settings(client):
    body = ok(search(client, "cats dogs parrots sharks", mode="bm25", rerank=True, top_n=5))
    assert len(body["hits"]) == 3  # the recorded depth
    settings = body["rerank_settings"]
    assert settings["interpolate"] == {"value": 0.5, "source": "model"}
    assert settings["candidates"] == {"value": 3, "source": "model"}
    assert settings["max_length"] == {"value": 64, "source": "model"}
    assert settings["text_fields"] == {"value": ["title", "text"], "source": "model"}
    assert body["warnings"] == []
    for hit in body["hits"]:
        assert 0.0 <= hit["score"] <= 1.0  # interpolated: w·relevance + (1−w)·minmax(first stage)


def test_request_fields_override_the_recorded_settings(client):
    body = ok(search(client, "cats dogs parrots sharks", mode="bm25", rerank=True, candidates=5, interpolate="none", top_n=5))
    assert len(body["hits"]) == 4  # every BM25 match (4 of the 5 documents), more than the recorded 3
    assert body["rerank_settings"]["interpolate"] == {"value": None, "source": "option"}
    assert body["rerank_settings"]["candidates"] == {"value": 5, "source": "option"}
    assert all(h["score"] == h["source_scores"]["rerank"] for h in body["hits"])
    bad = search(client, "cats", mode="bm25", rerank=True, interpolate="maybe")
    assert bad.status_code == 400 and "interpolate" in bad.text


def test_without_rerank_no_settings_are_reported(client):
    body = ok(search(client, "cats", mode="bm25"))
    assert "rerank_settings" not in body or body["rerank_settings"] is None
