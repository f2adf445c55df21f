"""LLM reranking over any OpenAI-compatible chat-completions endpoint (pointwise or RankGPT listwise).

Modules: :mod:`.reranker` (``LLMReranker``), :mod:`.prompts` (the prompts, documented),
:mod:`.parsing` (robust answer parsers), :mod:`.windows` (RankGPT sliding windows),
:mod:`.client` (the chat-completions client over :class:`ragsift.http.HttpClient`: retries, typed errors).
"""

from ragsift.rerank.llm.parsing import UnparseableAnswer, parse_grade, parse_permutation
from ragsift.rerank.llm.prompts import (
    LISTWISE_SYSTEM_PROMPT,
    LISTWISE_USER_TEMPLATE,
    POINTWISE_SYSTEM_PROMPT,
    POINTWISE_USER_TEMPLATE,
)
from ragsift.rerank.llm.reranker import LLMMode, LLMReranker, OnMalformed
from ragsift.rerank.llm.windows import plan_windows

__all__ = [
    "LLMReranker",
    "LLMMode",
    "OnMalformed",
    "UnparseableAnswer",
    "parse_grade",
    "parse_permutation",
    "plan_windows",
    "POINTWISE_SYSTEM_PROMPT",
    "POINTWISE_USER_TEMPLATE",
    "LISTWISE_SYSTEM_PROMPT",
    "LISTWISE_USER_TEMPLATE",
]
