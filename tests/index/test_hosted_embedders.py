"""Hosted embedders against local stubs of each wire contract: OpenAI-compatible (OpenAI, NIM) and Cohere v2.

The stubs (:mod:`index.embed_stubs`) validate requests the way the vendors do, so a wrong field,
a missing ``input_type`` or an over-large batch fails here as it would in production.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from index.embed_stubs import CohereEmbedStub, OpenAIEmbeddingsStub, stub_vector, unit
from rerank.remote.stubs import StubServer

from ragsift.config import EmbedderSpec, EmbedderType
from ragsift.errors import (
    AuthenticationError,
    BadInputError,
    ConfigError,
    MalformedResponseError,
    RateLimitedError,
    RemoteClientError,
)
from ragsift.index.cohere_embedder import CohereEmbedder, embed_url
from ragsift.index.embedder import Embedder, get_embedder
from ragsift.index.hosted_embedder import RequestPacer
from ragsift.index.openai_embedder import NIMEmbedder, OpenAIEmbedder, embeddings_url

FAST = {"backoff_base": 0.01, "backoff_max": 0.02, "timeout": 5.0}
TEXTS = ["cats purr when content", "dogs bark at strangers", "the stock market fell", "kittens drink milk", "owls"]


@pytest.fixture
def serve():
    started: list[StubServer] = []

    def start(app) -> StubServer:
        server = StubServer(app).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    crashes = [c for s in started for c in s.crashes]
    assert not crashes, "stub crashed:\n" + "\n".join(crashes)


@pytest.fixture(autouse=True)
def no_vendor_keys(monkeypatch):
    for var in ("RAGSIFT_EMBED_API_KEY", "OPENAI_API_KEY", "NVIDIA_API_KEY", "COHERE_API_KEY", "CO_API_KEY",
                "RAGSIFT_EMBED_BATCH_SIZE", "RAGSIFT_EMBED_REQUESTS_PER_MINUTE"):
        monkeypatch.delenv(var, raising=False)


def spec(kind: str, url: str, model: str = "stub-embed", **fields) -> EmbedderSpec:
    return EmbedderSpec(model, "test", type=kind, base_url=url, **fields)


# ----------------------------------------------------------------------------- OpenAI-compatible


def test_openai_wire_format_and_vectors_in_input_order(serve, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    stub = serve(OpenAIEmbeddingsStub(api_key="sk-test-123", shuffle=True))
    embedder = get_embedder(spec("openai", stub.url + "/v1"), **FAST)
    assert isinstance(embedder, OpenAIEmbedder)
    vectors = embedder.encode_documents(TEXTS)
    assert isinstance(embedder, Embedder)  # (Python 3.11 reads dim, known from the first answer)
    assert vectors.shape == (5, 32) and vectors.dtype == np.float32 and vectors.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(vectors, unit([stub_vector(t, 32) for t in TEXTS]), atol=1e-6)
    (request,) = stub.requests
    assert request.path == "/v1/embeddings" and request.bearer() == "sk-test-123"
    assert request.json() == {"model": "stub-embed", "input": TEXTS, "encoding_format": "float"}  # nothing else
    assert embedder.dim == 32 and len(stub.requests) == 1  # learned from the answer, no probe
    assert embedder.encode_documents([]).shape == (0, 32) and len(stub.requests) == 1


def test_nim_sends_input_types_truncate_and_prefixes(serve, monkeypatch):
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-abc")
    stub = serve(OpenAIEmbeddingsStub(flavor="nim", api_key="nvapi-abc"))
    embedder = get_embedder(spec("nim", stub.url, query_prefix="query: ", document_prefix="passage: "), **FAST)
    assert isinstance(embedder, NIMEmbedder)
    docs = embedder.encode_documents(["cats purr"])
    query = embedder.encode_queries(["do cats purr"])
    first, second = stub.bodies()
    assert first == {"model": "stub-embed", "input": ["passage: cats purr"], "encoding_format": "float",
                     "input_type": "passage", "truncate": "END"}
    assert second["input"] == ["query: do cats purr"] and second["input_type"] == "query"
    np.testing.assert_allclose(docs, unit([stub_vector("passage: cats purr", 32)]), atol=1e-6)
    np.testing.assert_allclose(query, unit([stub_vector("query: do cats purr", 32)]), atol=1e-6)


def test_the_embedder_key_wins_over_the_vendor_key(serve, monkeypatch):
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-vendor")
    monkeypatch.setenv("RAGSIFT_EMBED_API_KEY", "ragsift-key")
    stub = serve(OpenAIEmbeddingsStub(flavor="nim", api_key="ragsift-key"))
    get_embedder(spec("nim", stub.url + "/v1/embeddings"), **FAST).encode_queries(["q"])
    assert stub.requests[0].bearer() == "ragsift-key" and stub.requests[0].path == "/v1/embeddings"


def test_batches_of_batch_size_in_order(serve, monkeypatch):
    monkeypatch.setenv("RAGSIFT_EMBED_BATCH_SIZE", "2")
    stub = serve(OpenAIEmbeddingsStub())
    embedder = get_embedder(spec("openai", stub.url), **FAST)
    vectors = embedder.encode_documents(TEXTS)
    assert [len(b["input"]) for b in stub.bodies()] == [2, 2, 1]
    np.testing.assert_allclose(vectors, unit([stub_vector(t, 32) for t in TEXTS]), atol=1e-6)
    embedder.encode_documents(TEXTS, batch_size=5)
    assert len(stub.bodies()[-1]["input"]) == 5


def test_dimensions_are_asked_and_checked(serve):
    stub = serve(OpenAIEmbeddingsStub())
    embedder = get_embedder(spec("openai", stub.url, dimensions=8), **FAST)
    assert embedder.dim == 8 and not stub.requests  # known from the spec: no request
    assert embedder.encode_queries(["cats"]).shape == (1, 8)
    assert stub.bodies()[0]["dimensions"] == 8


def test_a_base64_answer_is_decoded(serve):
    stub = serve(OpenAIEmbeddingsStub(force_base64=True))
    vectors = get_embedder(spec("openai", stub.url), **FAST).encode_documents(TEXTS[:2])
    np.testing.assert_allclose(vectors, unit([stub_vector(t, 32) for t in TEXTS[:2]]), atol=1e-6)


def test_normalize_false_keeps_the_raw_vectors(serve):
    stub = serve(OpenAIEmbeddingsStub())
    vectors = get_embedder(spec("openai", stub.url, normalize=False), **FAST).encode_documents(["cats cats dogs"])
    np.testing.assert_allclose(vectors, [stub_vector("cats cats dogs", 32)])


def test_empty_input_and_empty_texts(serve):
    stub = serve(OpenAIEmbeddingsStub())
    embedder = get_embedder(spec("openai", stub.url), **FAST)
    with pytest.raises(BadInputError, match=r"texts\[1\] is empty"):
        embedder.encode_documents(["cats", "  "])
    assert not stub.requests
    assert embedder.encode_documents([]).shape == (0, 32)  # one probe request learns the dimension
    assert stub.bodies() == [{"model": "stub-embed", "input": ["dimension probe"], "encoding_format": "float"}]
    with pytest.raises(BadInputError, match="not a single string"):
        embedder.encode_documents("cats")


# ----------------------------------------------------------------------------- rate limits and failures


def test_429_waits_for_retry_after_then_succeeds(serve):
    stub = serve(OpenAIEmbeddingsStub())
    stub.fail(429, retry_after="0.3")
    embedder = get_embedder(spec("openai", stub.url), **FAST)
    start = time.monotonic()
    vectors = embedder.encode_documents(["cats"])
    assert time.monotonic() - start >= 0.29  # the server's Retry-After, not the 10 ms backoff
    assert vectors.shape == (1, 32) and len(stub.requests) == 2


def test_429_after_the_retries_is_a_rate_limited_error(serve):
    stub = serve(OpenAIEmbeddingsStub())
    stub.fail(429, times=3, retry_after="0")
    embedder = get_embedder(spec("openai", stub.url), max_retries=2, **FAST)
    with pytest.raises(RateLimitedError, match=r"openai: POST /v1/embeddings failed with HTTP 429 after 3 attempts"):
        embedder.encode_queries(["cats"])
    assert len(stub.requests) == 3


def test_pacing_spaces_requests_by_requests_per_minute():
    now, slept = [100.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    pacer = RequestPacer(120, clock=lambda: now[0], sleep=sleep)
    waits = [pacer.wait() for _ in range(3)]
    assert waits == [0.0, 0.5, 0.5] and slept == [0.5, 0.5]
    now[0] += 10
    assert pacer.wait() == 0.0  # idle long enough: no wait
    with pytest.raises(ConfigError, match="requests_per_minute=0 is not valid"):
        RequestPacer(0)


def test_requests_per_minute_paces_real_requests(serve, monkeypatch):
    monkeypatch.setenv("RAGSIFT_EMBED_REQUESTS_PER_MINUTE", "600")  # one per 0.1 s
    stub = serve(OpenAIEmbeddingsStub())
    embedder = get_embedder(spec("openai", stub.url), batch_size=1, **FAST)
    assert embedder.pacer.interval == pytest.approx(0.1)
    start = time.monotonic()
    embedder.encode_documents(TEXTS[:3])
    assert time.monotonic() - start >= 0.19 and len(stub.requests) == 3


@pytest.mark.parametrize("kind", ["not_json", "missing_field", "wrong_index", "wrong_count"])
def test_a_body_that_breaks_the_contract_is_malformed_and_not_retried(serve, kind):
    stub = serve(OpenAIEmbeddingsStub())
    stub.malform(kind)
    with pytest.raises(MalformedResponseError, match="openai: POST /v1/embeddings returned HTTP 200"):
        get_embedder(spec("openai", stub.url), **FAST).encode_documents(TEXTS[:2])
    assert len(stub.requests) == 1


def test_vendor_errors_are_typed_and_keys_are_redacted(serve, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key")
    stub = serve(OpenAIEmbeddingsStub(api_key="sk-right"))
    embedder = get_embedder(spec("openai", stub.url), **FAST)
    with pytest.raises(AuthenticationError) as err:
        embedder.encode_queries(["cats"])
    assert "RAGSIFT_EMBED_API_KEY or OPENAI_API_KEY" in str(err.value) and "sk-wrong-key" not in str(err.value)
    other = get_embedder(spec("openai", stub.url, model="no-such-model"), api_key="sk-right", **FAST)
    with pytest.raises(RemoteClientError, match="model `no-such-model` does not exist"):
        other.encode_queries(["cats"])


def test_the_openai_contract_refuses_fields_it_does_not_know(serve):
    """An ``openai`` spec sends input_type only when told to; real OpenAI refuses it, and says so."""
    stub = serve(OpenAIEmbeddingsStub())
    embedder = get_embedder(spec("openai", stub.url, query_input_type="query", document_input_type="passage"), **FAST)
    with pytest.raises(RemoteClientError, match="Unrecognized request argument supplied: input_type"):
        embedder.encode_queries(["cats"])


def test_nim_refuses_over_long_input_unless_truncated(serve):
    stub = serve(OpenAIEmbeddingsStub(flavor="nim", max_tokens=3))
    strict = get_embedder(spec("nim", stub.url, truncate="NONE"), **FAST)
    with pytest.raises(RemoteClientError, match="exceeds maximum allowed token size 3"):
        strict.encode_documents(["one two three four"])
    assert get_embedder(spec("nim", stub.url), **FAST).encode_documents(["one two three four"]).shape == (1, 32)


def test_hosted_catalogs_need_a_key_before_any_request():
    with pytest.raises(ConfigError, match="needs an API key: set RAGSIFT_EMBED_API_KEY or OPENAI_API_KEY"):
        get_embedder(EmbedderSpec.parse("openai"))
    with pytest.raises(ConfigError, match="RAGSIFT_EMBED_API_KEY or NVIDIA_API_KEY"):
        get_embedder(EmbedderSpec.parse("nim"))
    with pytest.raises(ConfigError, match="COHERE_API_KEY or CO_API_KEY"):
        get_embedder(EmbedderSpec.parse("cohere=embed-v4.0"))


def test_urls():
    assert embeddings_url("http://h:8080") == "http://h:8080/v1/embeddings"
    assert embeddings_url("http://h/v1/") == "http://h/v1/embeddings"
    assert embeddings_url("https://h/x/v1/embeddings") == "https://h/x/v1/embeddings"
    assert embed_url("https://api.cohere.com") == "https://api.cohere.com/v2/embed"
    assert embed_url("http://h/v2") == "http://h/v2/embed"


# ----------------------------------------------------------------------------- Cohere


def test_cohere_wire_format_input_types_and_batch_cap(serve, monkeypatch):
    monkeypatch.setenv("CO_API_KEY", "co-key")
    stub = serve(CohereEmbedStub(api_key="co-key"))
    embedder = get_embedder(spec("cohere", stub.url, model="embed-v4.0"), **FAST)
    assert isinstance(embedder, CohereEmbedder) and embedder.batch_size == 96
    texts = [f"text number {i}" for i in range(100)]
    vectors = embedder.encode_documents(texts)
    np.testing.assert_allclose(vectors, unit([stub_vector(t, 32) for t in texts]), atol=1e-6)
    first, second = stub.bodies()
    assert first == {"model": "embed-v4.0", "texts": texts[:96], "embedding_types": ["float"],
                     "input_type": "search_document", "truncate": "END"}
    assert second["texts"] == texts[96:]
    embedder.encode_queries(["a question"])
    assert stub.bodies()[-1]["input_type"] == "search_query"
    assert stub.requests[0].path == "/v2/embed" and stub.requests[0].bearer() == "co-key"
    with pytest.raises(ConfigError, match=r"batch_size=97 is not valid; use an integer in \[1, 96\]"):
        get_embedder(spec("cohere", stub.url, model="embed-v4.0"), batch_size=97)


def test_cohere_output_dimension_and_malformed_answers(serve):
    stub = serve(CohereEmbedStub(api_key="k", dim=512))
    embedder = get_embedder(spec("cohere", stub.url, model="embed-v4.0", dimensions=256), api_key="k", **FAST)
    assert embedder.encode_queries(["cats"]).shape == (1, 256)
    assert stub.bodies()[0]["output_dimension"] == 256
    stub.malform("wrong_count")
    with pytest.raises(MalformedResponseError, match="1 embeddings.float for 2 texts"):
        embedder.encode_documents(["a", "b"])
    legacy = get_embedder(spec("cohere", stub.url, model="embed-english-v3.0", dimensions=256), api_key="k", **FAST)
    with pytest.raises(RemoteClientError, match="output_dimension must be one of"):
        legacy.encode_queries(["cats"])


def test_get_embedder_maps_each_type_to_its_class():
    local = get_embedder(EmbedderSpec(query_prefix="query: "))
    assert type(local).__name__ == "SentenceTransformerEmbedder" and local.query_prefix == "query: "
    assert local.spec == EmbedderSpec(query_prefix="query: ")
    hosted = {t: type(get_embedder(EmbedderSpec(type=t, base_url="http://127.0.0.1:9"))) for t in EmbedderType if t.hosted}
    assert hosted == {EmbedderType.OPENAI: OpenAIEmbedder, EmbedderType.NIM: NIMEmbedder,
                      EmbedderType.COHERE: CohereEmbedder}
