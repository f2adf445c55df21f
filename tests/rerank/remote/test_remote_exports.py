"""The public API of ragsift.rerank.remote is pinned."""

from __future__ import annotations

import inspect

import ragsift.rerank.remote as remote
from ragsift.rerank.base import Reranker

EXPECTED = {
    "BedrockReranker",
    "CohereReranker",
    "HttpReranker",
    "JinaReranker",
    "NIMReranker",
    "TEIReranker",
    "VertexReranker",
}
RERANKERS = ["BedrockReranker", "CohereReranker", "JinaReranker", "NIMReranker", "TEIReranker", "VertexReranker"]


def test_all_is_pinned():
    assert set(remote.__all__) == EXPECTED
    for name in remote.__all__:
        assert hasattr(remote, name), name


def test_every_client_is_a_reranker_with_a_documented_contract():
    for name in RERANKERS:
        cls = getattr(remote, name)
        assert issubclass(cls, Reranker)
        module_doc = inspect.getmodule(cls).__doc__
        assert "https://" in module_doc, f"{name}: module docstring must link the vendor's doc page"
        assert "Scores:" in module_doc, f"{name}: module docstring must say how scores are normalized"
