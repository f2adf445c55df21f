"""POST /v1/search over a real tiny collection: modes, metadata filters, rerank, and bad input."""

from __future__ import annotations

import pytest
from _filtering import RARE_SOURCE, HashingEmbedder, rare_documents
from fastapi.testclient import TestClient
from service.service_kit import close, wait_ready

from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.rerank.identity import FirstStageReranker
from ragsift.service import ServiceSettings, create_app
from ragsift.types import Document

DOCS = [
    Document("cats", "Cats purr when they are content. Cats sleep most of the day.", "Cats",
             {"kind": "animal", "legs": 4, "lang": "en", "n": 0}),
    Document("dogs", "Dogs bark at strangers. Dogs love long walks in the park.", "Dogs",
             {"kind": "animal", "legs": 4, "lang": "de", "n": 1}),
    Document("fin", "Quarterly earnings rose while the price ratio fell sharply.", "Finance",
             {"kind": "money", "lang": "en", "n": 2}),
    Document("birds", "Parrots talk and mimic human voices; crows use tools.", "Birds",
             {"kind": "animal", "legs": 2, "lang": "en", "flies": True, "n": 3}),
    Document("fish", "Goldfish swim in bowls; sharks swim in the open sea.", "Fish",
             {"kind": "animal", "legs": 0, "flies": 1, "n": 4}),
]
SETTINGS = dict(served_model_name="ragsift/tiny-ce", max_passages=16, log_json=False)


def build_collection(path, tiny_st_model, docs=DOCS) -> Collection:
    config = CollectionConfig(embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"))
    collection = Collection.create(path, config)
    collection.add(docs)
    return collection


def client_for(reranker, collection=None, **settings) -> TestClient:
    app = create_app(ServiceSettings(**{**SETTINGS, **settings}), reranker=reranker, collection=collection)
    return TestClient(app)


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_st_model, ce_reranker):
    collection = build_collection(tmp_path_factory.mktemp("search") / "c", tiny_st_model)
    with client_for(ce_reranker, collection) as c:
        wait_ready(c)
        yield c


def search(client, query="dogs bark", **body):
    return client.post("/v1/search", json={"query": query, **body})


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response, status: int, type_: str, *words: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["type"] == type_
    for word in words:
        assert word in body["error"]["message"], body["error"]["message"]
    return body


def doc_ids(body: dict) -> list[str]:
    return [h["doc_id"] for h in body["hits"]]


# ---------------------------------------------------------------------------- modes


@pytest.mark.parametrize(
    "mode, stages",
    [("bm25", {"bm25"}), ("dense", {"dense"}), ("hybrid", {"bm25", "dense"})],
)
def test_each_mode_returns_hits_with_source_scores_and_stage_timings(client, mode, stages):
    body = ok(search(client, mode=mode, k=5))
    assert body["hits"], body
    assert set(body["timings_ms"]) == stages | {"fuse", "expand", "total"}
    assert close(body["timings_ms"]["total"], sum(v for k, v in body["timings_ms"].items() if k != "total"), 1e-6)
    for hit in body["hits"]:
        assert set(hit) == {"id", "doc_id", "score", "title", "text", "source_scores", "metadata"}
        assert set(hit["source_scores"]) <= stages
    if mode != "dense":  # the tiny embedder is random: only BM25 ranks meaningfully
        assert doc_ids(body)[0] == "dogs"
        assert body["hits"][0]["source_scores"]["bm25"] > 0
    if mode == "dense":
        assert len(body["hits"]) == 5  # dense ranks every document


def test_default_mode_is_hybrid_and_hits_carry_the_document(client):
    body = ok(search(client))
    assert {"bm25", "dense"} <= set(body["timings_ms"])
    top = body["hits"][0]
    assert top["doc_id"] == "dogs" and top["title"] == "Dogs"
    assert top["text"] == DOCS[1].text and top["metadata"] == DOCS[1].metadata


def test_k_limits_hits_and_hybrid_options_apply(client):
    assert len(ok(search(client, "cats dogs parrots", mode="bm25", k=2))["hits"]) == 2
    bm25_only = ok(search(client, "cats purr", mode="hybrid", k=5, weights={"bm25": 1, "dense": 0}))
    assert doc_ids(bm25_only)[0] == "cats"
    weighted = ok(search(client, "cats purr", fusion="weighted", normalization="zscore", k=3))
    assert len(weighted["hits"]) == 3


# ---------------------------------------------------------------------------- filters


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"lang": "en"}, {"cats", "fin", "birds"}),
        ({"lang": ["de", "en"], "kind": "animal"}, {"cats", "dogs", "birds"}),
        ({"legs": 4}, {"cats", "dogs"}),
        ({"flies": True}, {"birds"}),  # fish has flies=1, which is not true in JSON
        ({"flies": 1}, {"fish"}),
        ({"colour": "red"}, set()),  # no document has the key
    ],
)
def test_filters_keep_documents_whose_metadata_matches(client, filters, expected):
    body = ok(search(client, "animals", mode="dense", k=10, filters=filters))
    assert set(doc_ids(body)) == expected
    assert set(body["timings_ms"]) == {"dense", "fuse", "expand", "total"}  # filtering is inside "dense"


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"legs": {"$gte": 2, "$lt": 4}}, {"birds"}),
        ({"legs": {"$ne": 4}}, {"fin", "birds", "fish"}),  # fin has no legs key: it passes the negation
        ({"lang": {"$nin": ["en"]}, "kind": {"$in": ["animal"]}}, {"dogs", "fish"}),
        (["legs>=2", "legs<4"], {"birds"}),
        (["lang not in (en)", "kind=animal"], {"dogs", "fish"}),
        (["n in (0, 4)"], {"cats", "fish"}),
    ],
)
def test_operator_objects_and_expression_lists_filter_like_the_cli(client, filters, expected):
    assert set(doc_ids(ok(search(client, "animals", mode="dense", k=10, filters=filters)))) == expected


def test_filtered_hits_are_the_unfiltered_ranking_restricted_to_matches(client):
    everything = doc_ids(ok(search(client, "sea and park", mode="dense", k=10)))
    wanted = [d for d in everything if d in {"dogs", "fish", "fin"}]
    filtered = ok(search(client, "sea and park", mode="dense", k=2, filters={"lang": ["de"], "kind": "animal"}))
    assert doc_ids(filtered) == [d for d in wanted if d == "dogs"][:2]
    assert doc_ids(ok(search(client, "sea and park", mode="dense", k=10, filters={"kind": "animal"}))) == [
        d for d in everything if d != "fin"
    ]


def test_a_match_ranked_last_is_found_with_k_1(client):
    ranking = doc_ids(ok(search(client, "quarterly earnings", mode="dense", k=10)))
    last = next(d for d in DOCS if d.id == ranking[-1])
    body = ok(search(client, "quarterly earnings", mode="dense", k=1, filters={"n": last.metadata["n"]}))
    assert doc_ids(body) == [last.id]


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_rare_filter_returns_exactly_k_hits_over_http(tmp_path_factory, ce_reranker, mode):
    """1 % of 2000 documents match; k=10 comes back full, through the same code as the library."""
    config = CollectionConfig(embed_model="hashing", chunking=ChunkingConfig(mode="none"))
    collection = Collection.create(tmp_path_factory.mktemp("rare") / "c", config, embedder=HashingEmbedder())
    collection.add(rare_documents())
    with client_for(ce_reranker, collection) as rare:
        wait_ready(rare)
        for filters in ({"source": RARE_SOURCE}, [f"source={RARE_SOURCE}"], {"source": {"$in": [RARE_SOURCE]}}):
            hits = ok(search(rare, "cash dividend report", mode=mode, k=10, filters=filters))["hits"]
            assert len(hits) == 10 and all(h["metadata"]["source"] == RARE_SOURCE for h in hits)


def test_filter_values_are_validated(client):
    assert_error(search(client, filters={"lang": []}), 400, "bad_request", "filters['lang']", "empty list")
    assert_error(search(client, filters={"lang": {"$regex": "e"}}), 400, "bad_request", "'$regex'", "$nin")
    assert_error(search(client, filters=["year=>2020"]), 400, "bad_request", "'year=>2020'", "operator")
    assert_error(search(client, filters=["year"]), 400, "bad_request", "FIELD in (V1,V2,...)")
    assert_error(search(client, filters={"lang": {"$in": {"a": 1}}}), 422, "validation_error", "filters")
    assert_error(search(client, filters="lang=en"), 422, "validation_error", "filters")


# ---------------------------------------------------------------------------- rerank


def test_rerank_with_the_tiny_cross_encoder_orders_by_its_logits(client, ce_reranker):
    body = ok(search(client, "cats dogs parrots sharks", mode="bm25", rerank=True, candidates=4, top_n=2))
    hits = body["hits"]
    assert len(hits) == 2
    assert {"bm25", "rerank", "total"} <= set(body["timings_ms"])
    first = ok(search(client, "cats dogs parrots sharks", mode="bm25", k=4))["hits"]
    from ragsift.types import passage_text  # the reranker reads what the first stage indexed: title + text

    expected = ce_reranker.score("cats dogs parrots sharks", [passage_text(h["title"], h["text"]) for h in first]).raw
    by_id = {h["id"]: e for h, e in zip(first, expected)}
    best = sorted(by_id, key=lambda i: -by_id[i])[:2]
    assert [h["id"] for h in hits] == best
    for hit in hits:
        assert close(hit["score"], by_id[hit["id"]])
        assert {"bm25", "first_stage", "rerank", "rerank_relevance"} <= set(hit["source_scores"])


def test_rerank_sees_only_filtered_candidates_and_top_n_defaults_to_k(client):
    body = ok(search(client, "animals", mode="dense", rerank=True, k=2, filters={"lang": "en"}))
    assert len(body["hits"]) == 2 and set(doc_ids(body)) <= {"cats", "fin", "birds"}


def test_rerank_threshold_drops_hits_below_it(client):
    common = dict(query="cats dogs parrots sharks", mode="bm25", rerank=True, candidates=4, top_n=4)
    every = [h["source_scores"]["rerank_relevance"] for h in ok(client.post("/v1/search", json=common))["hits"]]
    assert len(every) == 4
    cut = sorted(every)[2]  # keeps the best two (ties aside)
    kept = ok(client.post("/v1/search", json={**common, "threshold": cut}))["hits"]
    expected = [r for r in sorted(every, reverse=True) if r >= cut]
    assert [h["source_scores"]["rerank_relevance"] for h in kept] == expected


def test_search_rerank_and_retrieve_are_recorded_in_metrics(client):
    ok(search(client, "cats", mode="bm25", rerank=True, candidates=3))
    text = client.get("/v1/metrics").text
    for stage in ("retrieve", "rerank", "total"):
        assert f'ragsift_stage_seconds_count{{stage="{stage}"}}' in text


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "body, words",
    [
        ({"query": "   "}, ["query is empty"]),
        ({"query": "cats", "k": 0}, ["k=0", "1..1000"]),
        ({"query": "cats", "k": 1001}, ["k=1001"]),
        ({"query": "cats", "mode": "fuzzy"}, ["mode='fuzzy'", "'bm25', 'dense', 'hybrid'"]),
        ({"query": "cats", "fusion": "median"}, ["fusion='median'", "'rrf'"]),
        ({"query": "cats", "mode": "bm25", "weights": {"bm25": 1}}, ["weights", "mode='hybrid'"]),
        ({"query": "cats", "top_n": 3}, ["top_n", "rerank=true"]),
        ({"query": "cats", "rerank": True, "candidates": 0}, ["candidates=0"]),
        ({"query": "cats", "rerank": True, "candidates": 17}, ["candidates=17", "max_passages=16"]),
        ({"query": "cats", "rerank": True, "threshold": 2}, ["threshold=2"]),
        ({"query": "cats", "weights": {"splade": 1}}, ["'splade'", "'bm25'"]),
    ],
)
def test_bad_values_are_400_naming_the_parameter(client, body, words):
    assert_error(client.post("/v1/search", json=body), 400, "bad_request", *words)


@pytest.mark.parametrize(
    "body, field",
    [({}, "query"), ({"query": "cats", "k": "ten"}, "k"), ({"query": "cats", "size": 3}, "size")],
)
def test_schema_misfits_are_422(client, body, field):
    assert_error(client.post("/v1/search", json=body), 422, "validation_error", field)


def test_rerank_without_a_reranker_is_400_naming_it(tmp_path, tiny_st_model):
    collection = build_collection(tmp_path / "c", tiny_st_model)
    with client_for(FirstStageReranker(), collection) as c:
        wait_ready(c)
        assert_error(search(c, rerank=True), 400, "bad_request", "rerank=true", "no reranker", "rerank=false")
        assert ok(search(c, mode="bm25"))["hits"]  # plain search still works


def test_no_collection_served_is_404(ce_reranker):
    with client_for(ce_reranker) as c:
        wait_ready(c)
        assert_error(search(c), 404, "not_found", "no collection", "collection=PATH")


def test_auto_mode_routes_the_query_and_reports_the_route(client):
    body = ok(search(client, "dogs bark", mode="auto", k=3))  # short, no anchor: a concept question → dense
    assert body["route"]["kind"] == "concept" and body["route"]["route"] == "dense"
    assert body["route"]["tokens"] == ["dog", "bark"] and body["route"]["reasons"]
    assert set(body["timings_ms"]) == {"route", "dense", "fuse", "expand", "total"}
    fact = ok(search(client, "Goldfish 2019", mode="auto", k=3, rrf_k=30))  # hybrid options allowed with auto
    assert fact["route"]["kind"] == "fact" and fact["route"]["numbers"] == ["2019"] and fact["route"]["route"] == "bm25"
    assert doc_ids(fact)[0] == "fish"
    assert ok(search(client, mode="bm25"))["route"] is None


def test_validate_rm3_and_rerank_auto_in_the_search_api(tmp_path, ce_reranker):
    """``validate`` returns the verdict and suggestions; ``rm3`` expands BM25; ``rerank: "auto"`` reports the gate."""
    path = tmp_path / "c"
    collection = Collection.create(path, CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")))
    collection.add([
        Document("a", "Vitamin D deficiency is associated with fractures in older adults.", "Vitamin D"),
        Document("b", "Iron deficiency anaemia in pregnancy.", "Iron"),
        Document("c", "Anaemia treatments compared in a trial.", "Trial"),
    ])
    with client_for(ce_reranker, Collection.open(path)) as client:
        wait_ready(client)
        body = ok(search(client, "vitamn defficiency", mode="bm25", validate=True))
        v = body["validation"]
        assert v["verdict"] == "fail" and "validate" in body["timings_ms"]
        assert [(s["term"], s["suggestion"]) for s in v["suggestions"]["spelling"]] == [
            ("vitamn", "vitamin"), ("defficiency", "deficiency")]
        passed = ok(search(client, "iron deficiency", mode="bm25", validate=True))["validation"]
        assert passed["verdict"] == "pass" and passed["suggestions"] is None
        assert ok(search(client, "iron", mode="bm25")).get("validation") is None
        plain = [h["doc_id"] for h in ok(search(client, "iron", mode="bm25", k=3))["hits"]]
        fed = [h["doc_id"] for h in ok(search(client, "iron", mode="bm25", k=3, rm3=True))["hits"]]
        assert plain == ["b"] and fed[0] == "b" and "c" in fed  # feedback brings in "anaemia"
        gated = ok(search(client, "iron deficiency", mode="bm25", rerank="auto", candidates=3, top_n=2))
        assert gated["rerank_gate"]["rerank"] is True and "no trained gate" in gated["rerank_gate"]["reason"]
        assert "rerank" in gated["timings_ms"]
        assert_error(search(client, "iron", validate="yes"), 422, "validation_error")
        assert_error(search(client, "iron", rerank="sometimes"), 422, "validation_error")
