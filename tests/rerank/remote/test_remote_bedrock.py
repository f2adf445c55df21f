"""BedrockReranker: a real boto3 client, signed with dummy credentials, against the REST-JSON stub."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from rerank.remote.remote_kit import DOCS, EXPECTED_ORDER, QUERY
from rerank.remote.stubs import MALFORMATIONS
from rerank.remote.stubs.bedrock import BedrockStub
from rerank.remote.stubs.scoring import probability

from ragsift.errors import (
    AuthenticationError,
    BadInputError,
    ConfigError,
    MalformedResponseError,
    MissingDependencyError,
    RateLimitedError,
    RemoteClientError,
    RemoteServerError,
    RemoteTimeoutError,
)
from ragsift.rerank.remote import BedrockReranker

ARN = "arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0"
ACCESS_KEY = "AKIDSTUBEXAMPLE00001"
SECRET_KEY = "stub/secret/key/never/shown/0000000000"


@pytest.fixture
def aws_env(monkeypatch):
    """Dummy credentials; no profile files, no instance metadata lookups."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def bedrock(serve, aws_env):
    return serve(BedrockStub(access_key=ACCESS_KEY, region="us-west-2"))


def make(server, **kw):
    return BedrockReranker(**{"model_arn": ARN, "region": "us-west-2", "endpoint_url": server.url, **kw})


def test_scores_are_relevance_scores(bedrock):
    results = make(bedrock).rerank(QUERY, DOCS)
    assert [r.index for r in results] == EXPECTED_ORDER
    for r in results:
        assert r.score == pytest.approx(probability(QUERY, DOCS[r.index]))  # float shape
        assert r.relevance == r.score


def test_request_matches_the_service_model(bedrock):
    make(bedrock).rerank(QUERY, DOCS)
    (req,) = bedrock.requests
    assert req.method == "POST" and req.path == "/rerank"
    assert req.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert "/us-west-2/bedrock/aws4_request" in req.headers["authorization"]
    assert req.json() == {
        "queries": [{"type": "TEXT", "textQuery": {"text": QUERY}}],
        "sources": [
            {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": d}}} for d in DOCS
        ],
        "rerankingConfiguration": {
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {"numberOfResults": 4, "modelConfiguration": {"modelArn": ARN}},
        },
    }


def test_batches_are_split_and_merged_in_input_order(bedrock):
    docs = DOCS + ["bandwidth"]
    scores = make(bedrock, max_batch=2).score(QUERY, docs)
    configs = [b["rerankingConfiguration"]["bedrockRerankingConfiguration"] for b in bedrock.bodies()]
    assert [c["numberOfResults"] for c in configs] == [2, 2, 1]
    assert [len(b["sources"]) for b in bedrock.bodies()] == [2, 2, 1]
    assert scores.raw == pytest.approx([probability(QUERY, d) for d in docs])


def test_next_token_pages_are_followed(serve, aws_env):
    server = serve(BedrockStub(access_key=ACCESS_KEY, region="us-west-2", page_size=2))
    results = make(server).rerank(QUERY, DOCS + ["gpu"])
    assert sorted(r.index for r in results) == [0, 1, 2, 3, 4]
    assert [b.get("nextToken") for b in server.bodies()] == [None, "2", "4"]


def test_a_client_you_built_is_used_as_is(bedrock):
    import boto3

    client = boto3.client(
        "bedrock-agent-runtime", region_name="us-west-2", endpoint_url=bedrock.url,
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
    )
    results = BedrockReranker(model_arn=ARN, client=client).rerank(QUERY, DOCS, top_n=1)
    assert [r.index for r in results] == [2]


def test_throttling_is_retried_by_botocore_then_succeeds(bedrock):
    bedrock.fail(429, times=1)
    results = make(bedrock, max_retries=2).rerank(QUERY, DOCS)
    assert [r.index for r in results] == EXPECTED_ORDER
    assert len(bedrock.requests) == 2


def test_throttling_exhausted_is_rate_limited(bedrock):
    bedrock.fail(429, times=5)
    with pytest.raises(RateLimitedError, match="ThrottlingException: Too many requests") as info:
        make(bedrock, max_retries=1).rerank(QUERY, DOCS)
    assert info.value.status == 429 and info.value.provider == "bedrock"
    assert "after 2 attempts" in str(info.value)
    assert len(bedrock.requests) == 2


def test_internal_server_error_exhausted_is_a_server_error(bedrock):
    bedrock.fail(500, times=5)
    with pytest.raises(RemoteServerError, match="InternalServerException") as info:
        make(bedrock, max_retries=1).rerank(QUERY, DOCS)
    assert info.value.status == 500
    assert len(bedrock.requests) == 2


def test_read_timeout_is_a_timeout_error(bedrock):
    bedrock.stall(5.0, times=1)
    start = time.monotonic()
    with pytest.raises(RemoteTimeoutError, match="timed out"):
        make(bedrock, timeout=0.3, max_retries=0).rerank(QUERY, DOCS)
    assert time.monotonic() - start < 4.0  # gave up long before the stalled answer (a loose bound: loaded CI)


def test_access_denied_and_unknown_keys_are_authentication_errors(bedrock, monkeypatch):
    bedrock.fail(403, message="User is not authorized to perform bedrock:Rerank")
    with pytest.raises(AuthenticationError, match="AccessDeniedException: User is not authorized.*IAM permission"):
        make(bedrock).rerank(QUERY, DOCS)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSOMEONEELSE00000")
    with pytest.raises(AuthenticationError, match="UnrecognizedClientException") as info:
        make(bedrock).rerank(QUERY, DOCS)
    assert SECRET_KEY not in str(info.value) and "AKIDSOMEONEELSE" not in str(info.value)


def test_validation_exception_carries_the_service_message(bedrock):
    arn = "arn:aws:bedrock:us-west-2::foundation-model/amazon.titan-text-v1"
    with pytest.raises(RemoteClientError, match="ValidationException: The provided model identifier is invalid") as info:
        make(bedrock, model_arn=arn).rerank(QUERY, DOCS)
    assert info.value.status == 400 and not isinstance(info.value, AuthenticationError)


@pytest.mark.parametrize(
    "status, code, cls",
    [
        (400, "ServiceQuotaExceededException", RemoteClientError),
        (404, "ResourceNotFoundException", RemoteClientError),
        (424, "DependencyFailedException", RemoteServerError),
        (502, "BadGatewayException", RemoteServerError),
    ],
)
def test_other_modeled_errors(bedrock, status, code, cls):
    bedrock.fail(status, times=5, code=code, message=f"{code} happened")
    with pytest.raises(cls, match=f"{code}: {code} happened") as info:
        make(bedrock, max_retries=0).rerank(QUERY, DOCS)
    assert type(info.value) is cls and info.value.status == status


@pytest.mark.parametrize("kind", MALFORMATIONS)
def test_malformed_responses(bedrock, kind):
    bedrock.malform(kind)
    with pytest.raises(MalformedResponseError, match="breaks the documented contract"):
        make(bedrock).rerank(QUERY, DOCS)


def test_empty_or_huge_documents_are_rejected_before_sending(bedrock):
    with pytest.raises(BadInputError, match=r"documents\[1\] has 0 characters"):
        make(bedrock).rerank(QUERY, ["ok", ""])
    with pytest.raises(BadInputError, match="32000"):
        make(bedrock).rerank(QUERY, ["x" * 32001])
    assert bedrock.requests == []


def test_missing_credentials_are_an_authentication_error(bedrock, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(AuthenticationError, match="Configure AWS credentials"):
        make(bedrock).rerank(QUERY, DOCS)
    assert bedrock.requests == []


def test_constructor_validation(aws_env):
    with pytest.raises(ConfigError, match="model_arn="):
        BedrockReranker(model_arn="")
    with pytest.raises(ConfigError, match="region='US East'"):
        BedrockReranker(model_arn=ARN, region="US East")
    with pytest.raises(ConfigError, match=r"max_batch=1001 must be an integer in \[1, 1000\]"):
        BedrockReranker(model_arn=ARN, max_batch=1001)
    with pytest.raises(ConfigError, match="endpoint_url applies"):
        BedrockReranker(model_arn=ARN, client=object(), endpoint_url="http://localhost:1")
    with pytest.raises(ConfigError, match="timeout=-1"):
        BedrockReranker(model_arn=ARN, timeout=-1)
    reranker = BedrockReranker(model_arn=ARN, region="eu-central-1")
    assert reranker.name == "bedrock:amazon.rerank-v1:0"
    reranker.warm_up()  # builds the client; no network
    config = reranker.client().meta.config
    assert config.read_timeout == 30.0 and config.connect_timeout == 5.0
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}


def test_missing_boto3_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'ragsift\[bedrock\]'"):
        BedrockReranker(model_arn=ARN)


def test_importing_the_package_does_not_import_boto3():
    code = "import sys, ragsift.rerank.remote as r; r.BedrockReranker; print('boto3' in sys.modules, 'botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]
