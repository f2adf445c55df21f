"""Real clients against a real uvicorn server: the official Cohere SDK and LangChain's NVIDIARerank.

No hand-written requests here: what these libraries send and parse is the contract that matters.
The server runs the tiny cross-encoder with an API key, so the clients' auth headers are checked too.
"""

from __future__ import annotations

import warnings

import pytest
from service.service_kit import CE_SETTINGS, LONG, MODEL, close, serve

from ragsift.rerank.base import sigmoid
from ragsift.service import ServiceSettings, create_app

KEY = "test-key-123"
QUERY = "what do cats eat"
DOCS = ["cats eat fish and mice", "the stock market fell", "kittens drink milk", "dogs are loyal"]


@pytest.fixture(scope="module")
def base_url(ce_reranker):
    app = create_app(ServiceSettings(**CE_SETTINGS, api_keys=[KEY]), reranker=ce_reranker)
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def expected(ce_reranker):
    return ce_reranker.score(QUERY, DOCS).raw


def test_cohere_client_v2(base_url, expected):
    import cohere

    co = cohere.ClientV2(api_key=KEY, base_url=base_url)
    response = co.rerank(model=MODEL, query=QUERY, documents=DOCS, top_n=3)
    assert len(response.results) == 3
    scores = [r.relevance_score for r in response.results]
    assert scores == sorted(scores, reverse=True)
    for r in response.results:
        assert close(r.relevance_score, sigmoid(expected[r.index]))
    assert response.meta.api_version.version == "2" and response.meta.billed_units.search_units == 1
    assert response.id


def test_cohere_client_v1_with_documents(base_url, expected):
    import cohere

    co = cohere.Client(api_key=KEY, base_url=base_url)
    docs = [{"text": d, "source": f"s{i}"} for i, d in enumerate(DOCS)]
    response = co.rerank(model=MODEL, query=QUERY, documents=docs, return_documents=True)
    assert [r.index for r in response.results] == sorted(range(4), key=lambda i: -expected[i])
    for r in response.results:
        assert r.document.text == DOCS[r.index]
    assert response.meta.api_version.version == "1"


def test_cohere_errors_surface_as_sdk_exceptions(base_url):
    import cohere
    from cohere.core.api_error import ApiError

    bad_key = cohere.ClientV2(api_key="wrong", base_url=base_url)
    with pytest.raises(ApiError) as err:
        bad_key.rerank(model=MODEL, query=QUERY, documents=DOCS)
    assert err.value.status_code == 401 and err.value.body["error"]["type"] == "unauthorized"
    co = cohere.ClientV2(api_key=KEY, base_url=base_url)
    with pytest.raises(ApiError) as err:
        co.rerank(model="rerank-v3.5", query=QUERY, documents=DOCS)
    assert err.value.status_code == 404 and "rerank-v3.5" in err.value.body["message"]


def test_langchain_nvidia_rerank_discovers_the_model_and_compresses(base_url, expected):
    from langchain_core.documents import Document
    from langchain_nvidia_ai_endpoints import NVIDIARerank

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Default model is set as ..." when no model is given
        ranker = NVIDIARerank(base_url=f"{base_url}/v1", api_key=KEY, top_n=2)
    assert ranker.model == MODEL  # taken from GET /v1/models
    docs = [Document(page_content=d, metadata={"i": i}) for i, d in enumerate(DOCS)]
    kept = ranker.compress_documents(docs, QUERY)
    best = sorted(range(4), key=lambda i: -expected[i])[:2]
    assert [d.metadata["i"] for d in kept] == best
    for d in kept:
        assert close(d.metadata["relevance_score"], expected[d.metadata["i"]])  # NIM reports the raw logit


def test_langchain_nvidia_rerank_truncation(base_url):
    from langchain_core.documents import Document
    from langchain_nvidia_ai_endpoints import NVIDIARerank

    docs = [Document(page_content=DOCS[0]), Document(page_content=LONG)]
    strict = NVIDIARerank(base_url=f"{base_url}/v1", api_key=KEY, model=MODEL)  # sends no truncate: NIM's NONE
    with pytest.raises(Exception, match=r"passages\[1\] is too long"):
        strict.compress_documents(docs, QUERY)
    cutting = NVIDIARerank(base_url=f"{base_url}/v1", api_key=KEY, model=MODEL, truncate="END")
    assert len(cutting.compress_documents(docs, QUERY)) == 2
