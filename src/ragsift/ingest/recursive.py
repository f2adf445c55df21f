"""The recursive character splitter: split on the coarsest separator, merge pieces up to a size."""

from __future__ import annotations

from typing import Callable, Sequence

from ragsift.errors import ConfigError

__all__ = ["DEFAULT_SEPARATORS", "RecursiveSplitter"]

DEFAULT_SEPARATORS: tuple[str, ...] = ("\n\n", "\n", "。", ". ", " ", "")


class RecursiveSplitter:
    """Split text into chunks of at most ``size`` (as measured by ``length_function``).

    Separators are tried in order: the text is cut at the first separator it contains (the
    separator stays attached to the end of the piece before it, so no text is lost), pieces are
    merged greedily up to ``size``, and about ``overlap`` worth of trailing pieces is repeated
    at the start of the next chunk. Pieces still longer than ``size`` are split again with the
    next separators; ``""`` splits into single characters. Chunks are stripped of surrounding
    whitespace. Only a piece that the separators cannot cut further may exceed ``size`` (with
    ``""`` last, that is a single character).
    """

    def __init__(
        self,
        size: int = 400,
        overlap: int = 50,
        separators: Sequence[str] = DEFAULT_SEPARATORS,
        length_function: Callable[[str], int] = len,
    ):
        check_size_overlap(size, overlap, size_name="size", overlap_name="overlap")
        self.separators = check_separators(separators)
        if not callable(length_function):
            raise ConfigError(f"length_function={length_function!r} is not callable; pass e.g. len")
        self.size = size
        self.overlap = overlap
        self.length_function = length_function
        self._additive = length_function is len

    def __repr__(self) -> str:
        return f"RecursiveSplitter(size={self.size}, overlap={self.overlap}, separators={self.separators!r})"

    def with_size(self, size: int) -> "RecursiveSplitter":
        """A splitter like this one with another ``size`` (overlap capped to stay below it)."""
        if size == self.size:
            return self
        overlap = self.overlap if self.overlap < size // 2 else size // 4
        return RecursiveSplitter(size, overlap, self.separators, self.length_function)

    def split(self, text: str) -> list[str]:
        """Return the non-empty chunks of ``text`` in order."""
        if not isinstance(text, str):
            raise ConfigError(f"text must be a str, got {type(text).__name__}")
        chunks = self._split(text, self.separators)
        return [c for c in (chunk.strip() for chunk in chunks) if c]

    def _split(self, text: str, separators: Sequence[str]) -> list[str]:
        separator, rest = _pick_separator(text, separators)
        chunks: list[str] = []
        fitting: list[str] = []
        lengths: list[int] = []
        for piece in _cut(text, separator):
            length = self.length_function(piece)
            if length <= self.size:
                fitting.append(piece)
                lengths.append(length)
                continue
            chunks.extend(self._merge(fitting, lengths))
            fitting, lengths = [], []
            chunks.extend(self._split(piece, rest) if rest else [piece])
        chunks.extend(self._merge(fitting, lengths))
        return chunks

    def _merge(self, pieces: list[str], lengths: list[int]) -> list[str]:
        """Greedily join consecutive pieces into chunks of at most ``size``, with overlap."""
        chunks: list[str] = []
        start = total = i = 0  # the current chunk is pieces[start:i], estimated at ``total``
        while i < len(pieces):
            if total + lengths[i] > self.size and i > start:
                end = self._emit(pieces, start, i, chunks)
                if end < i:  # the measured chunk was shorter than planned: go on right after it
                    start = i = end
                    total = 0
                    continue
                start, total = self._overlap_start(lengths, start, i, lengths[i])
            total += lengths[i]
            i += 1
        while start < len(pieces):
            start = self._emit(pieces, start, len(pieces), chunks)
        return chunks

    def _emit(self, pieces: list[str], start: int, end: int, chunks: list[str]) -> int:
        """Append ``pieces[start:end]`` as one chunk and return the end used.

        The chunk was sized by summing piece lengths. Character counts add up exactly, and so do
        token counts when every join falls on whitespace (tokenizers never merge across it);
        otherwise (pieces cut inside words) the joined text is measured and trailing pieces are
        dropped while it is over ``size``.
        """
        while True:
            chunk = "".join(pieces[start:end])
            if end - start == 1 or self._exact(pieces, start, end):
                break
            if self.length_function(chunk.strip()) <= self.size:
                break
            end -= 1
        chunks.append(chunk)
        return end

    def _exact(self, pieces: list[str], start: int, end: int) -> bool:
        return self._additive or all(p[-1:].isspace() for p in pieces[start : end - 1])

    def _overlap_start(self, lengths: list[int], start: int, end: int, incoming: int) -> tuple[int, int]:
        """Drop leading pieces until what remains fits the overlap and leaves room for ``incoming``."""
        total = sum(lengths[start:end])
        while start < end and (total > self.overlap or total + incoming > self.size):
            total -= lengths[start]
            start += 1
        return start, total


def check_size_overlap(size: object, overlap: object, *, size_name: str, overlap_name: str) -> None:
    """Raise ConfigError unless ``size`` > 0 and 0 <= ``overlap`` < ``size`` (both ints)."""
    for name, value in ((size_name, size), (overlap_name, overlap)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}={value!r} must be an integer")
    if size <= 0:  # type: ignore[operator]
        raise ConfigError(f"{size_name}={size!r} must be > 0; chunk sizes are counted in tokens or characters")
    if not 0 <= overlap < size:  # type: ignore[operator]
        raise ConfigError(
            f"{overlap_name}={overlap!r} must be >= 0 and < {size_name}={size!r}; "
            f"lower {overlap_name} (a tenth to a fifth of {size_name} is typical)"
        )


def check_separators(separators: Sequence[str]) -> tuple[str, ...]:
    """Return ``separators`` as a tuple of strings, or raise ConfigError."""
    if isinstance(separators, str) or not isinstance(separators, Sequence) or not separators:
        raise ConfigError(
            f"separators={separators!r} must be a non-empty list of strings, e.g. {list(DEFAULT_SEPARATORS)!r}"
        )
    if not all(isinstance(s, str) for s in separators):
        raise ConfigError(f"separators={separators!r} must contain only strings")
    return tuple(separators)


def _pick_separator(text: str, separators: Sequence[str]) -> tuple[str, Sequence[str]]:
    """The first separator found in ``text`` (``""`` always matches) and the ones after it.

    When none is found the last separator is returned with nothing after it: the text stays whole.
    """
    for i, sep in enumerate(separators):
        if sep == "" or sep in text:
            return sep, separators[i + 1 :]
    return separators[-1], ()


def _cut(text: str, separator: str) -> list[str]:
    """Cut ``text`` after each ``separator``; whitespace-only pieces join the piece before them."""
    if separator == "":
        return list(text)
    parts = text.split(separator)
    pieces = [p + separator for p in parts[:-1]] + [parts[-1]]
    out: list[str] = []
    for piece in pieces:
        if out and not piece.strip():
            out[-1] += piece
        elif piece:
            out.append(piece)
    return out
