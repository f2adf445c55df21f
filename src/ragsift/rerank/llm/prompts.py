"""The prompts of the LLM reranker, as module constants, and the functions that fill them.

Both prompts put the query and every passage on a single line (runs of whitespace, newlines
included, collapse to one space) so a passage can never fake the prompt's structure, and
passages are cut to ``max_passage_chars`` characters before they are inserted.

**Pointwise** (one request per passage). The system message makes the model a relevance judge
and fixes the scale; the user message carries ``Query:`` and ``Passage:`` lines and asks for
exactly ``{"relevance": N}`` with an integer N in 0–10. The scale has anchors at 0, 3, 6 and 10
so grades are comparable across passages judged in separate requests. The parser
(:func:`ragsift.rerank.llm.parsing.parse_grade`) still accepts looser answers.

**Listwise** (RankGPT, Sun et al. 2023, "Is ChatGPT Good at Search?"). The passages of one
window are numbered ``[1]``..``[n]`` in their current order, one per line, between an opening
instruction and a closing ``Search Query:`` reminder (the query is repeated after the passages,
as RankGPT does, because long contexts make models forget it). The model answers with a
permutation such as ``[3] > [1] > [2]``; the parser
(:func:`ragsift.rerank.llm.parsing.parse_permutation`) repairs partial answers.
"""

from __future__ import annotations

__all__ = [
    "POINTWISE_SYSTEM_PROMPT",
    "POINTWISE_USER_TEMPLATE",
    "LISTWISE_SYSTEM_PROMPT",
    "LISTWISE_USER_TEMPLATE",
    "clean_text",
    "pointwise_messages",
    "listwise_messages",
]

#: System message of a pointwise request: the judge's role and the 0–10 scale.
POINTWISE_SYSTEM_PROMPT = (
    "You are a search relevance judge. Given a query and a passage, grade how relevant the passage "
    "is to the query on an integer scale from 0 to 10: 0 = unrelated, 3 = same topic but does not "
    "help answer the query, 6 = partially answers the query, 10 = fully and directly answers it. "
    'Reply with a single JSON object and nothing else, for example {"relevance": 7}.'
)

#: User message of a pointwise request; placeholders ``{query}`` and ``{passage}``.
POINTWISE_USER_TEMPLATE = (
    "Query: {query}\n"
    "Passage: {passage}\n"
    "\n"
    "How relevant is the passage to the query? "
    'Answer with JSON only, exactly in the form {{"relevance": N}} where N is an integer from 0 to 10.'
)

#: System message of a listwise request (RankGPT's wording).
LISTWISE_SYSTEM_PROMPT = (
    "You are RankGPT, an intelligent assistant that can rank passages based on their relevancy to the query."
)

#: User message of a listwise request; placeholders ``{num}``, ``{query}`` and ``{passages}``
#: (the numbered passages, one ``[i] text`` per line).
LISTWISE_USER_TEMPLATE = (
    "I will provide you with {num} passages, each indicated by a numerical identifier []. "
    "Rank the passages based on their relevance to the search query.\n"
    "\n"
    "{passages}\n"
    "\n"
    "Search Query: {query}\n"
    "Rank the {num} passages above based on their relevance to the search query. "
    "List them in descending order using their identifiers, the most relevant first. "
    "The output format should be [] > [], e.g., [2] > [1] > [3]. "
    "Only respond with the ranking, do not explain."
)


def clean_text(text: str, max_chars: int | None = None) -> str:
    """Collapse whitespace to single spaces, then cut to ``max_chars`` characters (None: no cut)."""
    flat = " ".join(text.split())
    return flat if max_chars is None else flat[:max_chars]


def pointwise_messages(query: str, passage: str, max_passage_chars: int) -> list[dict[str, str]]:
    """The chat messages grading one ``passage`` for ``query``."""
    user = POINTWISE_USER_TEMPLATE.format(query=clean_text(query), passage=clean_text(passage, max_passage_chars))
    return [{"role": "system", "content": POINTWISE_SYSTEM_PROMPT}, {"role": "user", "content": user}]


def listwise_messages(query: str, passages: list[str], max_passage_chars: int) -> list[dict[str, str]]:
    """The chat messages asking for a permutation of ``passages`` (numbered from 1) for ``query``."""
    numbered = "\n".join(f"[{i}] {clean_text(p, max_passage_chars)}" for i, p in enumerate(passages, start=1))
    user = LISTWISE_USER_TEMPLATE.format(num=len(passages), query=clean_text(query), passages=numbered)
    return [{"role": "system", "content": LISTWISE_SYSTEM_PROMPT}, {"role": "user", "content": user}]
