"""The grounded-answer prompt: the top passages numbered [1]..[n], and the rule to cite them.

The system message asks for an answer drawn only from the passages, with every claim followed by
the number of the passage that supports it in square brackets (``[1]``, ``[2][3]``), and for a
plain statement when the passages do not hold the answer. The user message lists the passages,
each as ``[n]`` on a line of its own followed by its title (when it has one) and its text, cut to
``max_passage_chars`` characters, then the question on a line that starts with ``Question:``.
Passage ``[n]`` is the ``n``-th hit given, so a citation maps back to its hit by position
(:func:`ragsift.answer.citations.parse_citations`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ragsift.errors import ConfigError
from ragsift.types import Hit

__all__ = ["SYSTEM_PROMPT", "DEFAULT_MAX_PASSAGE_CHARS", "passage_block", "build_messages"]

DEFAULT_MAX_PASSAGE_CHARS = 2000

SYSTEM_PROMPT = (
    "You answer questions using only the numbered passages you are given. After every sentence that "
    "uses a passage, cite it by its number in square brackets, like [1], or [1][3] for several. Cite "
    "only the numbers of the passages given; never invent a source. If the passages do not contain the "
    "answer, say that they do not, and cite nothing. Answer concisely, in the language of the question."
)


def passage_block(number: int, hit: Hit, max_chars: int = DEFAULT_MAX_PASSAGE_CHARS) -> str:
    """``[number]`` on its own line, then the hit's title line (if any) and its text cut to ``max_chars``."""
    text = hit.text.strip()
    if len(text) > max_chars:
        text = text[:max_chars].rstrip() + " …"
    title = f"Title: {hit.title.strip()}\n" if hit.title and hit.title.strip() else ""
    return f"[{number}]\n{title}{text}"


def build_messages(
    question: str, hits: Sequence[Hit], *, max_passage_chars: int = DEFAULT_MAX_PASSAGE_CHARS
) -> list[dict[str, str]]:
    """The chat messages asking ``question`` over ``hits``, numbered [1]..[n] in the order given."""
    if not isinstance(question, str) or not question.strip():
        raise ConfigError(f"question={question!r} must be a non-empty string")
    if isinstance(max_passage_chars, bool) or not isinstance(max_passage_chars, int) or max_passage_chars < 1:
        raise ConfigError(f"max_passage_chars={max_passage_chars!r} must be an integer >= 1")
    passages = "\n\n".join(passage_block(i, hit, max_passage_chars) for i, hit in enumerate(hits, start=1))
    user = (
        f"Passages:\n\n{passages}\n\n"
        f"Question: {' '.join(question.split())}\n\n"
        f"Answer from passages [1] to [{len(hits)}] only, citing them by number."
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
