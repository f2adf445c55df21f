"""Cohere-compatible (/v1/rerank, /v2/rerank) and TEI-compatible (/rerank) endpoints on the tiny cross-encoder."""

from __future__ import annotations

from service.service_kit import LONG, MODEL, close

from ragsift.rerank.base import sigmoid

QUERY = "what do cats eat"
DOCS = ["cats eat fish and mice", "the stock market fell", "kittens drink milk", "dogs are loyal"]


def error_type(response) -> str:
    return response.json()["error"]["type"]


# ---------------------------------------------------------------------------------------- Cohere v2


def test_v2_relevance_is_normalized_and_sorted(ce_client, ce_reranker):
    response = ce_client.post("/v2/rerank", json={"model": MODEL, "query": QUERY, "documents": DOCS})
    assert response.status_code == 200, response.text
    body = response.json()
    raw = ce_reranker.score(QUERY, DOCS).raw
    scores = [r["relevance_score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 4
    for r in body["results"]:
        assert 0.0 <= r["relevance_score"] <= 1.0
        assert close(r["relevance_score"], sigmoid(raw[r["index"]]))
        assert "document" not in r  # v2 returns no documents
    assert body["meta"] == {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}
    assert len(body["id"]) == 36


def test_v2_top_n_and_required_model(ce_client):
    body = ce_client.post("/v2/rerank", json={"model": MODEL, "query": QUERY, "documents": DOCS, "top_n": 2}).json()
    assert len(body["results"]) == 2
    missing = ce_client.post("/v2/rerank", json={"query": QUERY, "documents": DOCS})
    assert missing.status_code == 422 and error_type(missing) == "validation_error"
    other = ce_client.post("/v2/rerank", json={"model": "rerank-v3.5", "query": QUERY, "documents": DOCS})
    assert other.status_code == 404 and error_type(other) == "model_not_found"


def test_v2_bad_values(ce_client):
    def post(**body):
        return ce_client.post("/v2/rerank", json={"model": MODEL, "query": QUERY, "documents": DOCS, **body})

    assert post(top_n=0).status_code == 400
    assert post(top_n="3").status_code == 422  # strict types: no silent coercion
    assert post(max_tokens_per_doc=0).status_code == 400
    assert post(documents=[]).status_code == 400
    assert post(documents=[{"title": "no text"}]).status_code == 400


def test_long_documents_are_truncated_not_rejected(ce_client):
    response = ce_client.post("/v2/rerank", json={"model": MODEL, "query": QUERY, "documents": [LONG, DOCS[0]]})
    assert response.status_code == 200, response.text


def test_max_tokens_per_doc_cuts_documents_to_that_many_tokens(ce_client):
    long_doc = "cats eat fish " + "and many other things " * 10
    cut = ce_client.post(
        "/v2/rerank", json={"model": MODEL, "query": QUERY, "documents": [long_doc], "max_tokens_per_doc": 3}
    ).json()
    same = ce_client.post("/v2/rerank", json={"model": MODEL, "query": QUERY, "documents": ["cats eat fish"]}).json()
    full = ce_client.post("/v2/rerank", json={"model": MODEL, "query": QUERY, "documents": [long_doc]}).json()
    assert close(cut["results"][0]["relevance_score"], same["results"][0]["relevance_score"])
    assert not close(cut["results"][0]["relevance_score"], full["results"][0]["relevance_score"])


# ---------------------------------------------------------------------------------------- Cohere v1


def test_v1_keeps_document_objects_and_defaults_the_model(ce_client):
    docs = [{"text": DOCS[0], "id": "a", "year": 2020}, DOCS[1]]
    body = ce_client.post("/v1/rerank", json={"query": QUERY, "documents": docs, "return_documents": True}).json()
    assert body["meta"]["api_version"]["version"] == "1"
    by_index = {r["index"]: r for r in body["results"]}
    assert by_index[0]["document"] == {"text": DOCS[0], "id": "a", "year": 2020}
    assert by_index[1]["document"] == {"text": DOCS[1]}
    plain = ce_client.post("/v1/rerank", json={"query": QUERY, "documents": docs}).json()
    assert all("document" not in r for r in plain["results"])


def test_v1_rank_fields_rank_the_named_fields(ce_client):
    docs = [{"title": "cats", "body": "eat fish"}, {"title": "stocks", "body": "fell"}]
    ranked = ce_client.post("/v1/rerank", json={"query": QUERY, "documents": docs, "rank_fields": ["title", "body"]})
    as_text = ce_client.post("/v1/rerank", json={"query": QUERY, "documents": ["title: cats\nbody: eat fish"]})
    by_index = {r["index"]: r["relevance_score"] for r in ranked.json()["results"]}
    assert close(by_index[0], as_text.json()["results"][0]["relevance_score"])
    missing = ce_client.post("/v1/rerank", json={"query": QUERY, "documents": docs, "rank_fields": ["nope"]})
    assert missing.status_code == 400 and "rank_fields" in missing.json()["message"]


# ---------------------------------------------------------------------------------------- TEI


def test_tei_scores_are_sigmoid_unless_raw(ce_client, ce_reranker):
    raw = ce_reranker.score(QUERY, DOCS).raw
    normalized = ce_client.post("/rerank", json={"query": QUERY, "texts": DOCS}).json()
    logits = ce_client.post("/rerank", json={"query": QUERY, "texts": DOCS, "raw_scores": True}).json()
    assert [r["index"] for r in normalized] == [r["index"] for r in logits]
    assert [r["score"] for r in normalized] == sorted((r["score"] for r in normalized), reverse=True)
    for n, lg in zip(normalized, logits):
        assert close(n["score"], sigmoid(raw[n["index"]])) and close(lg["score"], raw[lg["index"]])
        assert "text" not in n


def test_tei_return_text(ce_client):
    body = ce_client.post("/rerank", json={"query": QUERY, "texts": DOCS, "return_text": True}).json()
    assert {r["text"] for r in body} == set(DOCS)
    assert all(DOCS[r["index"]] == r["text"] for r in body)


def test_tei_truncate_false_rejects_long_texts_by_index(ce_client):
    response = ce_client.post("/rerank", json={"query": QUERY, "texts": ["short", LONG]})
    assert response.status_code == 400 and error_type(response) == "passage_too_long"
    assert "texts[1]" in response.json()["message"]
    cut = ce_client.post("/rerank", json={"query": QUERY, "texts": ["short", LONG], "truncate": True})
    assert cut.status_code == 200


def test_tei_bad_inputs(ce_client):
    left = ce_client.post("/rerank", json={"query": QUERY, "texts": DOCS, "truncation_direction": "Left"})
    assert left.status_code == 400 and "Left" in left.json()["message"]
    assert ce_client.post("/rerank", json={"query": "", "texts": DOCS}).status_code == 400
    assert ce_client.post("/rerank", json={"query": QUERY, "texts": []}).status_code == 400
    assert ce_client.post("/rerank", json={"query": QUERY, "texts": [1, 2]}).status_code == 422
