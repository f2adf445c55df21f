"""Grounded answers with citations: search (validated), then an LLM over the top passages.

Modules: :mod:`.prompt` (the passages numbered [1]..[n] and the citation rule),
:mod:`.citations` (``[n]`` markers mapped back to hits; numbers naming no passage reported as
invalid), :mod:`.answerer` (:class:`Answerer`: no LLM call when validation fails; whole or
streamed answers through the chat client of :mod:`ragsift.rerank.llm.client`).

From Python::

    from ragsift import Collection, Searcher
    from ragsift.answer import Answerer

    question = "what lowers the P/E ratio?"
    result = Searcher(Collection.open("my-coll")).search(question, k=5, validate=True)
    answer = Answerer(base_url="http://localhost:8001/v1", model="my-llm").ask(question, result)
    print(answer.status.value, answer.answer, [(c.number, c.doc_id) for c in answer.citations])
"""

from ragsift.answer.answerer import DEFAULT_MAX_TOKENS, Answer, Answerer, AnswerStatus, Delta, validation_failed
from ragsift.answer.citations import Citation, InvalidCitation, cited_numbers, parse_citations
from ragsift.answer.prompt import DEFAULT_MAX_PASSAGE_CHARS, SYSTEM_PROMPT, build_messages

__all__ = [
    "Answer",
    "Answerer",
    "AnswerStatus",
    "Citation",
    "DEFAULT_MAX_PASSAGE_CHARS",
    "DEFAULT_MAX_TOKENS",
    "Delta",
    "InvalidCitation",
    "SYSTEM_PROMPT",
    "build_messages",
    "cited_numbers",
    "parse_citations",
    "validation_failed",
]
