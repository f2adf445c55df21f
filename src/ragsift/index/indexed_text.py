"""What a collection of any backend shares: its embedder, analyzer and chunking, all from its config.

:class:`~ragsift.index.collection.Collection` (a directory) and
:class:`~ragsift.index.milvus.MilvusCollection` (Milvus) both derive from :class:`IndexedText`,
so a document is chunked, analyzed and embedded the same way whichever backend stores it.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from collections.abc import Iterable, Sequence

from ragsift.errors import BadInputError, ConfigError
from ragsift.ingest import ChunkingConfig
from ragsift.ingest.limits import DocumentLimits, check_document
from ragsift.types import Document

__all__ = ["IndexedText"]

log = logging.getLogger("ragsift.index.collection")


class IndexedText:
    """Needs ``config`` (a CollectionConfig), ``path``, ``limits``, ``_embedder`` and ``chunk_size_note`` on the instance."""

    def _checked(self, documents: Iterable[Document]) -> tuple[list[Document], list[str]]:
        """``(documents to index, ids of empty ones skipped)`` after the checks; one WARNING for the skipped."""
        docs, empty = _validate_batch(list(documents), self.limits)
        if empty:
            _warn_empty(empty)
        return docs, empty

    def _make_analyzer(self):
        from ragsift.index.analyzers import get_analyzer

        return get_analyzer(self.config.analyzer, protected_terms=self.config.protected_terms)

    def _bind_embedder(self, given):
        """What to hold as ``_embedder`` for the ``embedder=`` option: checked against the recorded spec.

        ``given`` is None (build the recorded one when needed), an
        :class:`~ragsift.config.EmbedderSpec` or an embedder object. A spec, or an embedder that
        carries one (``.spec``), must embed like ``config.embedder`` (ConfigError naming both);
        a spec that differs only in ``base_url`` builds the recorded embedder at that URL (the
        server moved). An embedder without a spec is trusted as is (your own class).
        """
        from ragsift.config import EmbedderSpec

        if not self.config.dense:  # nothing is embedded: there is no recorded embedder to hold to
            return None if isinstance(given, EmbedderSpec) else given
        spec = given if isinstance(given, EmbedderSpec) else getattr(given, "spec", None)
        if not isinstance(spec, EmbedderSpec):
            return given
        recorded = self.config.embedder
        recorded.require_same(spec, f"collection {self.path}")
        if given is not spec:
            return given
        if spec.base_url == recorded.base_url:
            return None
        from ragsift.index.embedder import get_embedder

        log.info("collection %s: embedding with %s at %s (recorded: %s)", self.path, recorded, spec.base_url,
                 recorded.base_url)
        return get_embedder(replace(recorded, base_url=spec.base_url))

    def use_embedder(self, given) -> None:
        """Embed with ``given`` from now on (a spec or an embedder, checked as the ``embedder=`` option is)."""
        self._embedder = self._bind_embedder(given)

    @property
    def embedder(self):
        """The dense embedder the config records (``config.embedder``), loaded on first use."""
        if not self.config.dense:
            raise ConfigError(f"collection {self.path} was built without dense vectors (dense=False)")
        if self._embedder is None:
            from ragsift.index.embedder import get_embedder

            self._embedder = get_embedder(self.config.embedder)
        self._embedder.load()
        return self._embedder

    def _effective_chunking(self) -> ChunkingConfig:
        """The chunking config, with token sizes capped to what the embedding model reads."""
        cfg = self.config.chunking
        if cfg.unit.value != "tokens" or not self.config.dense or cfg.mode.value == "none":
            return cfg
        limit = self.embedder.max_seq_length - 2  # [CLS] and [SEP]
        if cfg.size <= limit:
            return cfg
        overlap = min(cfg.overlap, limit // 4)
        self.chunk_size_note = (
            f"chunk size {cfg.size} tokens capped to {limit}: {self.config.embed_model} reads at most "
            f"{limit + 2} tokens (overlap {overlap})"
        )
        log.warning(self.chunk_size_note)
        return replace(cfg, size=limit, overlap=overlap)

    def _length_function(self):
        cfg = self.config.chunking
        if cfg.unit.value != "tokens" or cfg.mode.value == "none":
            return len
        from ragsift.index.embedder import tokenizer_source
        from ragsift.ingest import token_length_function

        return token_length_function(tokenizer_source(self.config.embedder))


def _validate_batch(docs: list[Document], limits: DocumentLimits) -> tuple[list[Document], list[str]]:
    """``(documents to index, ids of empty documents skipped)``; BadInputError for anything malformed."""
    seen: set[str] = set()
    kept, empty = [], []
    for n, d in enumerate(docs):
        if not isinstance(d, Document):
            raise BadInputError(f"item {n} is a {type(d).__name__}, expected ragsift.types.Document")
        if not isinstance(d.id, str) or not d.id:
            raise BadInputError(f"document {n} has an empty id")
        if d.id in seen:
            raise BadInputError(f"duplicate document id {d.id!r} in one batch (item {n})")
        check_document(d, limits)
        seen.add(d.id)
        if d.is_empty:
            empty.append(d.id)
        else:
            kept.append(d)
    return kept, empty


def _warn_empty(ids: Sequence[str]) -> None:
    """One warning per batch: how many empty documents were skipped and the first few ids."""
    shown = ", ".join(repr(i) for i in ids[:5]) + (", ..." if len(ids) > 5 else "")
    log.warning(
        "skipped %d empty document(s) (no title and no text; they can never be retrieved, and qrels judging them "
        "stay valid): %s", len(ids), shown,
    )
