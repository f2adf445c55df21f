"""The declared reranker protocol: capabilities and options are class attributes, one Truncate enum."""

from __future__ import annotations

import inspect
from typing import Sequence

import pytest

from ragsift.config import RerankerRef, RerankerType
from ragsift.errors import ConfigError
from ragsift.rerank import CachedReranker, FallbackReranker, FirstStageReranker, MemoryCache, Reranker, Scores
from ragsift.rerank.base import Truncate
from ragsift.rerank.registry import _load_class
from ragsift.rerank.remote.options import HTTP_CLIENT_OPTIONS


class Plain(Reranker):
    name = "plain"

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        return Scores([0.0] * len(documents), [0.0] * len(documents))


class Sneaky(Plain):
    """Has a ``truncate`` attribute that looks right but declares no truncation modes."""

    truncate = Truncate.END


def builtin(rtype: RerankerType) -> type[Reranker]:
    return _load_class(RerankerRef(rtype))


def test_one_truncate_enum():
    from ragsift.rerank import cross_encoder
    from ragsift.rerank.remote import nim

    assert cross_encoder.Truncate is Truncate and nim.Truncate is Truncate
    assert [m.value for m in Truncate] == ["NONE", "END"]


def test_base_class_declares_every_capability():
    assert Plain.cacheable is True and Plain.truncation_modes == frozenset() and Plain.batch_cap is None
    assert Plain.model_option is None and Plain.options == frozenset() and Plain.required_options == frozenset()


@pytest.mark.parametrize(
    ("rtype", "modes", "cap", "cacheable"),
    [
        (RerankerType.CROSS_ENCODER, {Truncate.END, Truncate.NONE}, None, True),
        (RerankerType.NIM, {Truncate.END, Truncate.NONE}, None, True),
        (RerankerType.TEI, {Truncate.END, Truncate.NONE}, None, True),
        (RerankerType.COHERE, set(), 1000, True),
        (RerankerType.JINA, set(), None, True),
        (RerankerType.VERTEX, set(), 200, True),
        (RerankerType.BEDROCK, set(), 1000, True),
        (RerankerType.LLM, set(), None, True),
        (RerankerType.LATE_INTERACTION, set(), None, True),
        (RerankerType.NONE, set(), None, False),
    ],
)
def test_builtin_capabilities(rtype, modes, cap, cacheable):
    cls = builtin(rtype)
    assert (set(cls.truncation_modes), cls.batch_cap, cls.cacheable) == (modes, cap, cacheable)


@pytest.mark.parametrize("rtype", list(RerankerType))
def test_declared_options_are_what_the_constructor_takes(rtype):
    """The registry never inspects signatures; this test keeps the declarations truthful."""
    cls = builtin(rtype)
    params = inspect.signature(cls).parameters
    forwards = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    declared = set(cls.options) | ({cls.model_option} if cls.model_option else set())
    assert declared - named <= (HTTP_CLIENT_OPTIONS if forwards else set())
    assert named <= declared, named - declared
    required = {n for n, p in params.items() if p.default is p.empty and n in named}
    assert required == set(cls.required_options)


def test_http_client_options_are_the_clients_keywords():
    from ragsift.http import HttpClient

    assert HTTP_CLIENT_OPTIONS <= set(inspect.signature(HttpClient).parameters)


def test_wrappers_declare_what_they_wrap():
    from ragsift.rerank.llm import LLMReranker

    listwise = LLMReranker("m", mode="listwise")
    assert listwise.cacheable is False and LLMReranker("m").cacheable is True
    assert FallbackReranker([Plain(), FirstStageReranker()]).cacheable is False
    assert FallbackReranker([Plain(), Plain()]).cacheable is True
    with pytest.raises(ConfigError, match="cannot be cached"):
        CachedReranker(listwise, MemoryCache())


def test_set_truncate_accepts_only_declared_modes():
    with pytest.raises(ConfigError, match="reranker 'plain' cannot switch to truncate='NONE'; its modes: none"):
        Plain().set_truncate(Truncate.NONE)


def test_the_service_never_sets_an_undeclared_attribute():
    pytest.importorskip("fastapi")
    from ragsift.service.scoring import ModelRunner

    sneaky = Sneaky()
    runner = ModelRunner(sneaky)
    assert not runner.honours_truncate
    runner.score("q", ["a"], Truncate.NONE)
    assert "truncate" not in vars(sneaky) and sneaky.truncate is Truncate.END
