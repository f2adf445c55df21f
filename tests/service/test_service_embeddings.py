"""``ragsift serve`` serves embeddings: OpenAI's ``/v1/embeddings`` (to the official ``openai`` SDK) and TEI's ``/embed``.

Two real uvicorn servers: one without a collection (the service's ``embedder`` setting, the tiny
local model), one serving a collection whose recorded embedder has E5-style prefixes, so the
query and document sides give different vectors and the answers show which embedder ran.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from service.service_kit import CE_SETTINGS, OverlapReranker, serve

from ragsift import Collection, CollectionConfig
from ragsift.config import EmbedderSpec
from ragsift.index.embedder import SentenceTransformerEmbedder
from ragsift.ingest import ChunkingConfig
from ragsift.service import ServiceSettings, create_app
from ragsift.types import Document

KEY = "embed-test-key"
TEXTS = ["cats purr when they are content", "the stock market fell sharply", "kittens drink milk"]
LONG = "word " * 200  # over the tiny model's 126 tokens, under max_chars_per_passage


@pytest.fixture(scope="module")
def tiny(tiny_st_model) -> SentenceTransformerEmbedder:
    embedder = SentenceTransformerEmbedder(str(tiny_st_model))
    embedder.load()
    return embedder


@pytest.fixture(scope="module")
def model_id(tiny_st_model) -> str:
    return Path(tiny_st_model).name  # a local folder is shown by its name, never its path


@pytest.fixture(scope="module")
def base_url(tiny_st_model):
    settings = ServiceSettings(**CE_SETTINGS, api_keys=[KEY], embedder=str(tiny_st_model))
    with serve(create_app(settings, reranker=OverlapReranker())) as url:
        yield url


@pytest.fixture(scope="module")
def collection(tmp_path_factory, tiny_st_model) -> Collection:
    spec = EmbedderSpec(str(tiny_st_model), query_prefix="query: ", document_prefix="passage: ")
    config = CollectionConfig(embedder=spec, chunking=ChunkingConfig(mode="none"))
    coll = Collection.create(tmp_path_factory.mktemp("served") / "c", config)
    coll.add([Document("cats", "Cats purr.", "Cats"), Document("dogs", "Dogs bark.", "Dogs")])
    return coll


@pytest.fixture(scope="module")
def collection_url(collection):
    with serve(create_app(ServiceSettings(**CE_SETTINGS), reranker=OverlapReranker(), collection=collection)) as url:
        yield url


def client(base: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)


def test_the_openai_sdk_gets_embeddings(base_url, tiny, model_id):
    expected = tiny.encode_documents(TEXTS)
    response = client(base_url).embeddings.create(model=model_id, input=TEXTS)  # the SDK asks for base64
    assert [d.index for d in response.data] == [0, 1, 2] and response.model == model_id
    np.testing.assert_allclose([d.embedding for d in response.data], expected, atol=1e-5)
    assert response.usage.prompt_tokens == response.usage.total_tokens > len(" ".join(TEXTS).split())
    floats = client(base_url).embeddings.create(model=model_id, input=TEXTS[0], encoding_format="float")
    np.testing.assert_allclose(floats.data[0].embedding, expected[0], atol=1e-5)


def test_the_sdk_sees_errors_as_its_own_exceptions(base_url, model_id):
    with pytest.raises(openai.AuthenticationError):
        client(base_url, "wrong").embeddings.create(model=model_id, input="cats")
    with pytest.raises(openai.NotFoundError) as err:
        client(base_url).embeddings.create(model="text-embedding-3-small", input="cats")
    assert f"serves {model_id!r}" in err.value.body["message"]  # the SDK keeps the body's "error" object
    with pytest.raises(openai.BadRequestError) as err:
        client(base_url).embeddings.create(model=model_id, input=["cats", " "])
    assert err.value.body == {"type": "bad_request", "message": "input[1] is empty; send text to embed"}
    with pytest.raises(openai.BadRequestError, match="dimensions=8 is not available"):
        client(base_url).embeddings.create(model=model_id, input="cats", dimensions=8)


def test_over_long_input_is_refused_unless_truncated(base_url, tiny, model_id):
    with pytest.raises(openai.BadRequestError) as err:
        client(base_url).embeddings.create(model=model_id, input=["cats", LONG])
    assert err.value.body["type"] == "passage_too_long" and "input[1] has 200 tokens" in err.value.message
    cut = client(base_url).embeddings.create(model=model_id, input=[LONG], extra_body={"truncate": "END"})
    np.testing.assert_allclose(cut.data[0].embedding, tiny.encode_documents([LONG])[0], atol=1e-5)


def test_the_served_collections_embedder_embeds_queries_and_documents(collection_url, collection, model_id):
    sdk = client(collection_url)
    docs = sdk.embeddings.create(model=model_id, input=TEXTS, encoding_format="float")
    queries = sdk.embeddings.create(model=model_id, input=TEXTS, encoding_format="float",
                                    extra_body={"input_type": "query"})
    as_docs = collection.embedder.encode_documents(TEXTS)  # "passage: " + text
    as_queries = collection.embedder.encode_queries(TEXTS)  # "query: " + text
    np.testing.assert_allclose([d.embedding for d in docs.data], as_docs, atol=1e-5)
    np.testing.assert_allclose([d.embedding for d in queries.data], as_queries, atol=1e-5)
    assert not np.allclose(as_docs, as_queries)
    with pytest.raises(openai.BadRequestError, match="input_type='question' is not valid; choose one of"):
        sdk.embeddings.create(model=model_id, input="cats", extra_body={"input_type": "question"})


def test_tei_embed(collection_url, collection):
    with httpx.Client(base_url=collection_url, timeout=30) as http:
        one = http.post("/embed", json={"inputs": "cats purr"})
        assert one.status_code == 200
        np.testing.assert_allclose(one.json(), collection.embedder.encode_documents(["cats purr"]), atol=1e-5)
        query = http.post("/embed", json={"inputs": TEXTS, "prompt_name": "query"}).json()
        np.testing.assert_allclose(query, collection.embedder.encode_queries(TEXTS), atol=1e-5)

        def error(body: dict, status: int = 400) -> str:
            answer = http.post("/embed", json=body)
            assert answer.status_code == status, answer.text
            assert answer.json()["error"]["message"] == answer.json()["message"]
            return answer.json()["message"]

        assert "normalize=false is not available" in error({"inputs": "cats", "normalize": False})
        assert "inputs[0] has 202 tokens" in error({"inputs": [LONG]})  # "passage: " counts
        assert http.post("/embed", json={"inputs": [LONG], "truncate": True}).status_code == 200
        assert "truncation_direction='Left' is not supported" in error({"inputs": "a", "truncation_direction": "Left"})
        assert "more than max_passages=8" in error({"inputs": ["cats"] * 9})
        assert "inputs is empty" in error({"inputs": []})
        assert "inputs" in error({"inputs": [1, 2]}, 422)


def test_token_arrays_do_not_fit_the_schema(base_url, model_id):
    answer = httpx.post(f"{base_url}/v1/embeddings", json={"model": model_id, "input": [[1, 2, 3]]},
                        headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 422 and answer.json()["error"]["type"] == "validation_error"
