"""FallbackReranker: each failure path of the degraded mode (STYLE practice 11)."""

from __future__ import annotations

import asyncio
import logging
from typing import Sequence

import pytest

from ragsift.errors import (
    AuthenticationError,
    BadInputError,
    ConfigError,
    MissingDependencyError,
    PassageTooLongError,
    RateLimitedError,
    RemoteError,
    RemoteServerError,
    RemoteTimeoutError,
)
from ragsift.rerank import FallbackReranker, FirstStageReranker, Reranker, Scores

LOGGER = "ragsift.rerank.fallback"
DOCS = ["a b", "b c", "c", "a"]


class Overlap(Reranker):
    """Raw score = words shared with the query."""

    def __init__(self, name: str = "overlap") -> None:
        self.name = name
        self.calls = 0

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        self.calls += 1
        q = set(query.split())
        raw = [float(len(q & set(d.split()))) for d in documents]
        return Scores(raw=raw, relevance=[r / len(q) for r in raw])


class Failing(Reranker):
    """Raises ``error`` on every call (and on warm-up when ``fail_warm_up``)."""

    def __init__(self, error: Exception, name: str = "failing", fail_warm_up: bool = False) -> None:
        self.error = error
        self.name = name
        self.fail_warm_up = fail_warm_up
        self.calls = 0

    def warm_up(self) -> None:
        if self.fail_warm_up:
            raise self.error

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        self.calls += 1
        raise self.error


def test_remote_error_falls_back_to_the_next_reranker(caplog):
    first = Failing(RemoteServerError("HTTP 503 from cohere", status=503), name="cohere")
    second = Overlap("cross-encoder")
    chain = FallbackReranker([first, second])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        results = chain.rerank("a b", DOCS)
    assert [r.index for r in results] == [0, 1, 3, 2]
    assert first.calls == 1 and second.calls == 1
    assert chain.last_used == "cross-encoder"
    assert chain.stats == {"used": {"cohere": 0, "cross-encoder": 1}, "failed": {"cohere": 1, "cross-encoder": 0}}
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    for part in ("'cohere'", "RemoteServerError", "HTTP 503 from cohere", "'cross-encoder'"):
        assert part in message


@pytest.mark.parametrize(
    "error",
    [
        RemoteTimeoutError("timed out after 10s"),
        RateLimitedError("429", status=429),
        AuthenticationError("401", status=401),
        TimeoutError("socket timeout"),
        ConnectionError("refused"),
    ],
)
def test_default_catch_covers_remote_and_network_errors(error):
    chain = FallbackReranker([Failing(error), FirstStageReranker()])
    assert [r.index for r in chain.rerank("q", DOCS)] == [0, 1, 2, 3]
    assert chain.last_used == "none"


def test_all_failing_raises_the_last_error(caplog):
    last = RemoteTimeoutError("tei timed out")
    chain = FallbackReranker([Failing(RemoteServerError("nim down"), "nim"), Failing(last, "tei")])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        with pytest.raises(RemoteTimeoutError) as info:
            chain.rerank("q", DOCS)
    assert info.value is last
    assert chain.stats["failed"] == {"nim": 1, "tei": 1}
    assert chain.stats["used"] == {"nim": 0, "tei": 0}
    assert chain.last_used is None
    assert "no reranker left" in caplog.records[-1].getMessage()


@pytest.mark.parametrize(
    "error",
    [
        BadInputError("documents[2] is empty"),
        PassageTooLongError("pair 0 has 900 tokens > 512", index=0, tokens=900, limit=512),
        ConfigError("max_length=-1 must be positive"),
    ],
)
def test_bad_input_and_config_errors_propagate_without_fallback(error, caplog):
    second = Overlap()
    chain = FallbackReranker([Failing(error), second], catch=(Exception,))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        with pytest.raises(type(error)) as info:
            chain.rerank("q", DOCS)
    assert info.value is error
    assert second.calls == 0
    assert chain.stats["failed"] == {"failing": 0, "overlap": 0}
    assert caplog.records == []


def test_errors_outside_catch_propagate():
    second = Overlap()
    chain = FallbackReranker([Failing(MissingDependencyError("pip install boto3")), second])
    with pytest.raises(MissingDependencyError):
        chain.rerank("q", DOCS)
    assert second.calls == 0


def test_custom_catch():
    missing = Failing(MissingDependencyError("pip install boto3"))
    chain = FallbackReranker([missing, Overlap()], catch=(MissingDependencyError,))
    assert chain.rerank("a", DOCS)[0].index == 0
    remote = FallbackReranker([Failing(RemoteError("down")), Overlap()], catch=(MissingDependencyError,))
    with pytest.raises(RemoteError):
        remote.rerank("a", DOCS)


def test_chain_ending_in_first_stage_always_answers():
    chain = FallbackReranker(
        [Failing(RemoteServerError("503"), "cohere"), Failing(RemoteTimeoutError("slow"), "jina"), FirstStageReranker()]
    )
    for _ in range(3):
        results = chain.rerank("q", DOCS, top_n=2, return_documents=True)
        assert [(r.index, r.document) for r in results] == [(0, "a b"), (1, "b c")]
    assert chain.stats["used"] == {"cohere": 0, "jina": 0, "none": 3}
    assert chain.stats["failed"] == {"cohere": 3, "jina": 3, "none": 0}


def test_first_success_is_used_and_later_links_untouched():
    later = Overlap("later")
    chain = FallbackReranker([Overlap("primary"), later])
    chain.rerank("a", DOCS)
    assert later.calls == 0
    assert chain.last_used == "primary"


def test_bad_request_is_rejected_before_any_link():
    first = Overlap()
    chain = FallbackReranker([first, FirstStageReranker()])
    with pytest.raises(BadInputError):
        chain.rerank("", DOCS)
    assert first.calls == 0


def test_repeated_names_get_distinct_labels():
    chain = FallbackReranker([Failing(RemoteError("x"), "ce"), Overlap("ce"), FirstStageReranker()])
    assert chain.labels == ["ce", "ce#2", "none"]
    chain.rerank("a", DOCS)
    assert chain.last_used == "ce#2"
    assert chain.name == "fallback(ce,ce#2,none)"


def test_arerank_falls_back(caplog):
    chain = FallbackReranker([Failing(RateLimitedError("429"), "cohere"), Overlap("ce")])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        results = asyncio.run(chain.arerank("a b", DOCS, 2))
    assert [r.index for r in results] == [0, 1]
    assert chain.last_used == "ce"
    assert "RateLimitedError" in caplog.records[0].getMessage()


def test_arerank_bad_input_does_not_fall_back():
    second = Overlap()
    chain = FallbackReranker([Failing(BadInputError("bad")), second])
    with pytest.raises(BadInputError):
        asyncio.run(chain.arerank("q", DOCS))
    assert second.calls == 0


def test_warm_up_failure_is_logged_and_requests_fall_back(caplog):
    chain = FallbackReranker([Failing(RemoteServerError("no route"), "nim", fail_warm_up=True), FirstStageReranker()])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        chain.warm_up()
    assert "failed to warm up" in caplog.records[0].getMessage()
    assert chain.rerank("q", DOCS)[0].index == 0


def test_warm_up_of_the_last_link_propagates():
    chain = FallbackReranker([Overlap(), Failing(RemoteServerError("down"), fail_warm_up=True)])
    with pytest.raises(RemoteServerError):
        chain.warm_up()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"chain": []}, "non-empty"),
        ({"chain": Overlap()}, "non-empty"),
        ({"chain": [Overlap(), "none"]}, r"chain\[1\]"),
        ({"chain": [Overlap()], "catch": ()}, "catch"),
        ({"chain": [Overlap()], "catch": ("RemoteError",)}, "not an exception class"),
        ({"chain": [Overlap()], "catch": (BadInputError,)}, "never fall back"),
    ],
)
def test_configuration_is_validated(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        FallbackReranker(**kwargs)


class FailsOn(Overlap):
    """Raises ``error`` for queries starting with "fail"; scores the others."""

    def __init__(self, error: Exception, name: str) -> None:
        super().__init__(name)
        self.error = error

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        if query.startswith("fail"):
            self.calls += 1
            raise self.error
        return super().score(query, documents)


def test_score_many_falls_back_per_request(caplog):
    first = FailsOn(RemoteServerError("HTTP 503", status=503), "cohere")
    second = Overlap("cross-encoder")
    chain = FallbackReranker([first, second])
    requests = [("a b", DOCS), ("fail a", DOCS), ("c", DOCS[:2])]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        got = chain.score_many(requests)
    assert got == [Overlap().score(q, d) for q, d in requests]
    assert second.calls == 1  # only the failed request went on
    assert chain.stats == {"used": {"cohere": 2, "cross-encoder": 1}, "failed": {"cohere": 1, "cross-encoder": 0}}


def test_score_many_bad_input_stays_with_its_request():
    bad = PassageTooLongError("documents[0] is too long", index=0, tokens=600, limit=512)
    first, second = FailsOn(bad, "cross-encoder"), Overlap("none")
    chain = FallbackReranker([first, second])
    got = chain.score_many([("fail", DOCS), ("a", DOCS)], return_exceptions=True)
    assert got[0] is bad and got[1] == Overlap().score("a", DOCS)
    assert second.calls == 0
    with pytest.raises(PassageTooLongError):
        chain.score_many([("fail", DOCS), ("a", DOCS)])
