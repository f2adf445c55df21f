"""The ``ragsift`` command line: index, delete, search, ask, eval, info, quickstart."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Sequence

from ragsift.errors import ConfigError, RagsiftError

__all__ = ["main", "build_parser"]

# Options that define a collection; they can only be given when it is created.
_CREATION_OPTIONS = (
    "analyzer",
    "protected_terms",
    "chunking",
    "chunk_unit",
    "chunk_size",
    "chunk_overlap",
    "parent_size",
    "no_dense",
    "vector_index",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ragsift",
        description="Hybrid retrieval (BM25 + dense vectors, fused) for RAG: index, search, evaluate.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_index(sub)
    _add_delete(sub)
    _add_search(sub)
    _add_ask(sub)
    _add_eval(sub)
    _add_info(sub)
    _add_repair(sub)
    _add_serve(sub)
    _add_quickstart(sub)
    from ragsift.train.commands import register as register_training

    register_training(sub)
    from ragsift.query.commands import register as register_query

    register_query(sub)
    from ragsift.rerank.late_commands import register as register_late_index

    register_late_index(sub)
    return parser


# ---------------------------------------------------------------------- index
def _add_index(sub) -> None:
    p = sub.add_parser(
        "index",
        help="build a collection, or add/replace documents in one",
        description="Index SOURCE into the collection DIR. SOURCE is a .jsonl file of {id,title,text,metadata}, "
        "a folder of .txt/.md/.pdf/.docx/.html files, a single such file, or a BEIR directory (corpus.jsonl). "
        "PDF, DOCX and HTML need ragsift[formats]; their tables stay whole and chunks get section/page metadata. "
        "Indexing into an existing collection adds documents and replaces those with the same id. "
        "Collection settings (analyzer, chunking, embedding model) are fixed when it is created.",
    )
    p.add_argument("source",
                   help="a .jsonl file, a folder of .txt/.md/.pdf/.docx/.html, one such file, or a BEIR directory")
    p.add_argument("--collection", "-c", required=True, metavar="COLLECTION",
                   help="collection directory, or milvus://HOST:PORT/NAME for a collection in Milvus (ragsift[milvus])")
    p.add_argument("--analyzer", choices=["en", "ja", "cjk-bigram", "simple"], help="BM25 analyzer (default: en)")
    p.add_argument(
        "--protected-terms",
        metavar="TERMS",
        help="comma-separated terms kept as single BM25 tokens, e.g. 'P/E,EBITDA,COVID-19'; or @FILE with one per line",
    )
    p.add_argument("--chunking", choices=["recursive", "markdown", "none"], help="chunker (default: recursive)")
    p.add_argument("--chunk-unit", choices=["tokens", "chars"], help="unit of size/overlap (default: tokens)")
    p.add_argument("--chunk-size", type=int, help="chunk size (default 400; capped to what the embedding model reads)")
    p.add_argument("--chunk-overlap", type=int, help="chunk overlap (default 50)")
    p.add_argument("--parent-size", type=int, help="enable parent–child: parents of this size, children of --chunk-size")
    _add_embedder_options(p, creating=True)
    p.add_argument("--no-dense", action="store_true", help="BM25 only: no embeddings (fast, no torch)")
    p.add_argument(
        "--vector-index", choices=["auto", "flat", "hnsw"],
        help="FAISS index kind (default: auto: exact below 200k vectors; above, segments of 20k+ vectors get an "
             "HNSW graph, built at index time and saved with the collection)",
    )
    p.add_argument(
        "--max-document-bytes",
        type=int,
        metavar="N",
        help="refuse documents larger than N bytes (JSON form; for .jsonl about the line length); default 1048576",
    )
    _add_lock_timeout(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_index)


def _add_lock_timeout(p) -> None:
    p.add_argument(
        "--lock-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="wait this long for another writer (a server, another index job) to finish; then fail (default: 60)",
    )


def cmd_index(args) -> int:
    from ragsift.index.backends import collection_exists, create_collection
    from ragsift.ingest import load_documents

    limits = _document_limits(args)
    docs = load_documents(args.source, limits=limits)
    path = args.collection
    if not docs:
        print(f"no documents in {args.source}; nothing was indexed", file=sys.stderr)
        return 0
    options = {"lock_timeout": args.lock_timeout, "limits": limits}
    if collection_exists(path):
        given = [f"--{o.replace('_', '-')}" for o in _CREATION_OPTIONS if getattr(args, o) not in (None, False)]
        if given:
            raise ConfigError(
                f"{' '.join(given)} can only be set when a collection is created; {path} already exists "
                "(its settings are stored with it: `ragsift info` shows them). Index into a new --collection to change them."
            )
        coll = _open_with_embedder(args, path, **options)
    else:
        coll = create_collection(path, _collection_config(args), **options)
    counts = coll.add(docs, show_progress=not args.quiet)
    if coll.chunk_size_note:
        print(f"note: {coll.chunk_size_note}", file=sys.stderr)
    stats = coll.stats()
    print(
        f"indexed {len(docs)} document(s) from {args.source} into {path}: "
        f"{counts['added']} added, {counts['replaced']} replaced, {counts['chunks']} chunks"
        f"{', %d empty skipped' % counts['skipped_empty'] if counts.get('skipped_empty') else ''}; "
        f"collection now holds {stats['documents']} documents / {stats['chunks']} chunks"
    )
    return 0


def _document_limits(args):
    from ragsift.ingest.limits import DEFAULT_LIMITS, DocumentLimits

    if args.max_document_bytes is None:
        return DEFAULT_LIMITS
    return DocumentLimits(max_document_bytes=args.max_document_bytes)


def _collection_config(args):
    from ragsift.index.collection import CollectionConfig
    from ragsift.ingest import ChunkingConfig

    chunking = ChunkingConfig(
        **{
            k: v
            for k, v in {
                "mode": args.chunking,
                "unit": args.chunk_unit,
                "size": args.chunk_size,
                "overlap": args.chunk_overlap,
                "parent_size": args.parent_size,
            }.items()
            if v is not None
        }
    )
    kwargs = {"chunking": chunking, "dense": not args.no_dense}
    if args.analyzer:
        kwargs["analyzer"] = args.analyzer
    if args.protected_terms:
        kwargs["protected_terms"] = _parse_terms(args.protected_terms)
    embedder, url = _embedder_flags(args)
    if url is not None:  # alone it means "the recorded embedder there": a new collection records none yet
        from ragsift.config import embedder_spec

        embedder_spec(base_url=url, embedder_source="--embedder")  # raises: it needs --embedder
    if embedder is not None:
        kwargs["embedder"] = embedder
    if args.vector_index:
        kwargs["vector_index"] = args.vector_index
    return CollectionConfig(**kwargs)


def _add_embedder_options(p, *, creating: bool) -> None:
    g = p.add_argument_group(
        "embedder",
        "what embeds the texts: a local sentence-transformers model (default: the bundled all-MiniLM-L6-v2) or a "
        "hosted API: openai (any OpenAI-compatible /v1/embeddings: OpenAI, vLLM, TEI, Ollama), nim (NVIDIA NIM) or "
        "cohere. The collection records it; searches use the record, and naming another embedder is an error. "
        "Keys: $RAGSIFT_EMBED_API_KEY, else $OPENAI_API_KEY / $NVIDIA_API_KEY / $COHERE_API_KEY"
        if creating else "the collection's recorded embedder is used; these flags must name the same one",
    )
    g.add_argument("--embedder", metavar="TYPE[=MODEL]",
                   help="sentence-transformers, openai, nim or cohere, with its model, e.g. openai=text-embedding-3-small "
                   "(a path or hub name alone: a local model)")
    if creating:
        g.add_argument("--embed-model", metavar="NAME_OR_PATH",
                       help="the model (alone: a local sentence-transformers model; default: bundled all-MiniLM-L6-v2)")
    g.add_argument("--embed-url", metavar="URL",
                   help="the hosted API's URL, e.g. http://localhost:8080/v1 (no key in it)"
                   + ("" if creating else "; alone: the recorded embedder served at this URL"))
    if creating:
        g.add_argument("--embed-dimensions", type=int, metavar="N", help="output dimension asked of the API (openai, cohere)")
        g.add_argument("--query-prefix", metavar="TEXT", help="prepended to every query, e.g. 'query: ' (E5)")
        g.add_argument("--document-prefix", metavar="TEXT", help="prepended to every document, e.g. 'passage: ' (E5)")
        g.add_argument("--input-types", metavar="QUERY,DOCUMENT",
                       help="input_type sent for queries and documents (default: nim query,passage; "
                       "cohere search_query,search_document; openai none)")


def _embedder_flags(args):
    """``(spec the embedder flags name or None, URL given alone or None)``."""
    from ragsift.config import embedder_spec

    fields = {name: getattr(args, name, None) for name in (
        "embed_dimensions", "query_prefix", "document_prefix", "input_types")}
    named = [args.embedder, getattr(args, "embed_model", None), *fields.values()]
    if args.embed_url and all(v is None for v in named):
        return None, args.embed_url
    spec = embedder_spec(
        args.embedder, getattr(args, "embed_model", None), base_url=args.embed_url,
        dimensions=fields["embed_dimensions"], query_prefix=fields["query_prefix"],
        document_prefix=fields["document_prefix"], input_types=fields["input_types"],
        embedder_source="--embedder", model_source="--embed-model",
    )
    return spec, None


def _open_with_embedder(args, path, **options):
    """Open ``path`` with the embedder the flags name, which must be the recorded one (ConfigError otherwise)."""
    from dataclasses import replace

    from ragsift.index.backends import open_collection

    spec, url = _embedder_flags(args)
    coll = open_collection(path, embedder=spec, **options)
    if url is not None and coll.config.dense:
        coll.use_embedder(replace(coll.config.embedder, base_url=url, source="--embed-url"))
    return coll


def _parse_terms(value: str) -> tuple[str, ...]:
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"--protected-terms {value}: cannot read {path}: {exc}") from exc
        return tuple(line.strip() for line in lines if line.strip())
    return tuple(t.strip() for t in value.split(",") if t.strip())


# ---------------------------------------------------------------------- delete
def _add_delete(sub) -> None:
    p = sub.add_parser("delete", help="remove documents from a collection by id")
    p.add_argument("collection", metavar="COLLECTION", help="a collection directory or milvus://HOST:PORT/NAME")
    p.add_argument("ids", nargs="+", metavar="ID", help="document ids to remove")
    p.add_argument("--missing-ok", action="store_true", help="ignore ids that are not in the collection")
    _add_lock_timeout(p)
    p.set_defaults(func=cmd_delete)


def cmd_delete(args) -> int:
    from ragsift.index.backends import open_collection

    coll = open_collection(args.collection, lock_timeout=args.lock_timeout)
    n = coll.delete(args.ids, missing_ok=args.missing_ok)
    print(f"deleted {n} document(s); {len(coll.documents)} remain in {args.collection}")
    return 0


# ---------------------------------------------------------------------- search
def _add_search(sub) -> None:
    p = sub.add_parser("search", help="search a collection")
    p.add_argument("collection", metavar="COLLECTION", help="a collection directory or milvus://HOST:PORT/NAME")
    p.add_argument("query")
    _add_first_stage_options(p, k_default=10)
    p.add_argument("--validate", action="store_true",
                   help="judge the result (pass / fail) and, on fail, suggest terms: spelling corrections and related "
                   "words (a trained validator comes from `ragsift train-router`)")
    _add_embedder_options(p, creating=False)
    _add_rerank_options(p)
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {id, doc_id, score, title, text, source_scores, metadata}; with --rerank, --mode auto or "
                   "--validate an object {hits, rerank_settings, warnings, route, rerank_gate, validation}")
    p.set_defaults(func=cmd_search)


def _add_first_stage_options(p, *, k_default: int) -> None:
    """The first-stage options ``search`` and ``ask`` share: mode, fusion, k, depths, filters."""
    p.add_argument(
        "--mode", choices=["bm25", "dense", "hybrid", "auto"], default="hybrid",
        help="retriever (default: hybrid); auto routes by the query's analysis: fact → bm25, concept → dense, "
             "complex → hybrid, and says which it took",
    )
    p.add_argument(
        "--fusion", choices=["rrf", "weighted", "combsum", "combmnz"], default="rrf", help="hybrid fusion (default: rrf)"
    )
    p.add_argument("-k", type=int, default=k_default, help=f"results to return (default: {k_default})")
    p.add_argument("--rrf-k", type=float, default=60.0, help="RRF constant (default: 60)")
    p.add_argument("--weights", metavar="bm25=W,dense=W", help="per-retriever fusion weights, e.g. bm25=0.4,dense=0.6")
    p.add_argument("--normalization", choices=["minmax", "zscore"], default="minmax", help="score normalization for weighted/comb fusion")
    p.add_argument("--bm25-depth", type=int, help="BM25 candidates before fusion (default: max(k,100))")
    p.add_argument("--dense-depth", type=int, help="dense candidates before fusion (default: max(k,100))")
    p.add_argument("--no-parents", action="store_true", help="return child chunks instead of their parents")
    p.add_argument("--server-fusion", action="store_true",
                   help="milvus:// collections: fuse with Milvus' hybrid_search (its RRF or weighted ranker) instead of ragsift")
    p.add_argument(
        "--filter",
        dest="filters",
        action="append",
        metavar="EXPR",
        help="keep only chunks whose metadata passes EXPR; repeat to AND several. Forms: FIELD=VALUE, "
        "FIELD!=VALUE, FIELD>VALUE (also >=, <, <=), 'FIELD in (V1,V2)', 'FIELD not in (V1,V2)'; "
        "e.g. --filter 'year>=2020' --filter 'source in (10-K,10-Q)'. Unquoted numbers/true/false/null "
        "are typed, anything else is text; quote a value to keep it text (zip=\"02139\"). Applied before "
        "the top-k cut, so k hits come back whenever k chunks match",
    )
    p.add_argument("--synonyms", metavar="FILE",
                   help="expand the BM25 query with a Solr synonyms.txt file ('a, b' equivalents, 'a => b' rewrites) "
                   "at search time; the index is unchanged (embedded collections)")
    p.add_argument("--synonym-weight", type=float, default=1.0, metavar="W",
                   help="weight of the terms synonyms add, in (0, 1] (default: 1, as Solr)")
    p.add_argument("--rm3", action="store_true",
                   help="RM3 pseudo-relevance feedback on the BM25 query (Pyserini's defaults: 10 passages, 10 terms, "
                   "original weight 0.5)")


def _add_rerank_options(p) -> None:
    from ragsift.config import RerankerType

    g = p.add_argument_group(
        "reranking",
        "retrieve --candidates hits, rerank them, keep --top-n. The cross-encoder is, in order: "
        "--reranker-model, $RERANKER_MODEL (when $RERANKER_TYPE is unset or cross-encoder), the model trained by "
        "ragsift on this collection's corpus, the hub default (cross-encoder/ms-marco-MiniLM-L-6-v2). A model "
        "trained by `ragsift train-reranker` carries its settings (MODEL/ragsift_reranker.json: candidates, "
        "interpolate, max_length, text fields); they are the defaults, flags override them. Other types and "
        "options come from RERANKER_* variables (see ragsift.config and ragsift.rerank.registry).",
    )
    g.add_argument("--rerank", nargs="?", const="always", choices=["always", "auto"],
                   help="rerank the first-stage hits; 'auto' reranks only the queries the collection's trained gate "
                   "expects to gain (`ragsift train-router --reranker-model`; every query when there is no gate)")
    g.add_argument(
        "--reranker-type",
        choices=[t.value for t in RerankerType],
        help="reranker kind (default: $RERANKER_TYPE or cross-encoder)",
    )
    g.add_argument("--reranker-model", metavar="NAME_OR_PATH", help="reranker model (path, hub name, or vendor model)")
    g.add_argument("--candidates", type=int, help="first-stage hits passed to the reranker (default: the model's recorded depth, else 45)")
    g.add_argument("--top-n", type=int, default=5, help="hits kept after reranking (default: 5)")
    g.add_argument("--threshold", type=float, help="drop reranked hits whose normalized score is below this (0-1)")
    g.add_argument("--interpolate", metavar="W|none",
                   help="final = W·reranker + (1−W)·first stage (0-1); 'none' turns off a weight the model recorded "
                   "(default: the model's recorded weight, else none)")
    _add_backend_option(g)


def _add_backend_option(g) -> None:
    g.add_argument("--reranker-backend", choices=["torch", "onnx", "onnx-int8"],
                   help="local cross-encoder engine: torch, ONNX Runtime fp32, or ONNX Runtime with int8 weights "
                   "(default: $RERANKER_BACKEND, else the CPU default measured in docs/benchmarks.md)")


def _parse_weight(value: str | None, flag: str = "--interpolate") -> float | str | None:
    """``--interpolate W`` as a float in [0, 1], ``'none'`` (off) as is; None when not given."""
    if value is None:
        return None
    if value.strip().lower() in ("none", "off"):
        return "none"
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{flag} {value!r}: expected a weight between 0 and 1, or 'none'") from None


def cmd_search(args) -> int:
    opts = _search_options(args)
    result = _run_search(args, args.query, opts, validate=args.validate)
    if args.json:
        rows = [
            {k: h.to_dict()[k] for k in ("id", "doc_id", "score", "title", "text", "source_scores", "metadata")}
            for h in result.hits
        ]
        out: object = rows
        if args.rerank:
            out = {"hits": rows, "rerank_settings": result.rerank_settings, "warnings": result.warnings}
        extra = {name: getattr(result, name) for name in ("route", "rerank_gate", "validation") if getattr(result, name) is not None}
        if extra:
            out = {"hits": rows, **(out if isinstance(out, dict) else {}), **extra}
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    if result.route is not None:
        route = result.route
        print(f"route: {route['kind']} → {route['route']} ({'; '.join(route['reasons'])})", file=sys.stderr)
    if args.rerank:
        applied = ", ".join(f"{k}={_shown(v['value'])} ({v['source']})" for k, v in result.rerank_settings.items())
        print(f"rerank settings: {applied}", file=sys.stderr)
        for warning in result.warnings:
            print(f"warning: {warning.replace('_', ' ')}", file=sys.stderr)
    if result.rerank_gate is not None:
        gate = result.rerank_gate
        why = f"P(gain) = {gate['probability']} vs {gate['threshold']}" if gate.get("probability") is not None else gate.get("reason", "")
        print(f"rerank auto: {'reranked' if gate['rerank'] else 'skipped'} ({why})", file=sys.stderr)
    from ragsift.display import print_hits, print_validation

    print_hits(args.query, result, opts)
    if result.validation is not None:
        print_validation(result.validation)
    return 0


def _run_search(args, query: str, opts, *, validate: bool):
    """Open the collection, build the reranker the flags name (``--rerank [auto]``), and search ``query``."""
    from ragsift.pipeline.search import Searcher

    rerank, reranker = None, None
    if args.rerank:
        from ragsift.pipeline.rerank import RerankOptions

        rerank = RerankOptions(args.candidates, args.top_n, args.threshold, _parse_weight(args.interpolate),
                               auto=args.rerank == "auto")
    collection = _open_with_embedder(args, args.collection)
    if args.rerank:
        reranker = _reranker_from_args(args, collection=collection)
    return Searcher(collection, reranker).search(query, opts, rerank=rerank, validate=validate)


def _search_options(args):
    """The :class:`SearchOptions` of the first-stage flags (:func:`_add_first_stage_options`)."""
    from ragsift.pipeline.search import SearchOptions

    return SearchOptions(
        mode=args.mode,
        k=args.k,
        fusion=args.fusion,
        server_fusion=args.server_fusion,
        rrf_k=args.rrf_k,
        weights=_parse_weights(args.weights),
        normalization=args.normalization,
        bm25_depth=args.bm25_depth,
        dense_depth=args.dense_depth,
        parents=not args.no_parents,
        filters=args.filters,
        expansion=_expansion(args),
    )


def _expansion(args):
    """``--synonyms FILE`` / ``--rm3`` as a :class:`ragsift.query.expansion.QueryExpansion` (None without them)."""
    if not getattr(args, "synonyms", None) and not getattr(args, "rm3", False):
        return None
    from ragsift.query.expansion import QueryExpansion, Synonyms

    synonyms = Synonyms.load(args.synonyms, weight=args.synonym_weight) if args.synonyms else None
    return QueryExpansion(synonyms=synonyms, rm3=bool(args.rm3))


def _collection_spec(value: str | None):
    """``--collection``: a Milvus URI as given, anything else a directory path (None: not given)."""
    from ragsift.index.backends import is_remote

    if not value:
        return None
    return value if is_remote(value) else Path(value)


def _collection_fingerprint(collection) -> str:
    """The corpus fingerprint of a collection's documents (matches the one ``train-reranker`` records)."""
    from ragsift.train.data import corpus_fingerprint

    return corpus_fingerprint(list(collection.documents.values()))


def _note_other_trained(spec, corpus: str | None) -> None:
    """When the hub default is used although trained rerankers exist (for other corpora), say so on stderr."""
    from ragsift.config import trained_models

    if spec.primary.model_source != "hub default":
        return
    others = trained_models()
    if others:
        listed = "; ".join(f"{path} (trained on {dataset or 'another corpus'})" for path, _, dataset in others[:3])
        print(
            f"note: using the hub default reranker; the trained rerankers ({listed}) were trained on other corpora "
            "and are used only where they were trained. Pass --reranker-model PATH to use one here.",
            file=sys.stderr,
        )


def _shown(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "+".join(map(str, value))
    return "none" if value is None else str(value)


def _backend_options(args) -> dict:
    """``{"backend": ...}`` from ``--reranker-backend`` (``onnx-int8`` is ONNX with int8 weights)."""
    return {"backend": args.reranker_backend} if getattr(args, "reranker_backend", None) else {}


def _reranker_from_args(args, collection=None):
    """Build and warm up the reranker the search options name (flags, then RERANKER_* variables).

    ``collection``: the trained model of its corpus is the implicit default (:func:`ragsift.config.resolve_reranker_model`).
    """
    from ragsift.config import reranker_spec
    from ragsift.rerank.registry import build

    corpus = _collection_fingerprint(collection) if collection is not None else None
    spec = reranker_spec(
        args.reranker_type, args.reranker_model, type_source="--reranker-type", model_source="--reranker-model",
        options=_backend_options(args), corpus=corpus,
    )
    logging.getLogger("ragsift.cli").info("reranker: %s (%s)", spec.primary, spec.primary.model_source)
    _note_other_trained(spec, corpus)
    reranker = build(spec)
    reranker.warm_up()
    return reranker


def _parse_weights(value: str | None) -> dict[str, float] | None:
    if not value:
        return None
    weights = {}
    for part in value.split(","):
        name, sep, number = part.partition("=")
        try:
            if not sep:
                raise ValueError
            weights[name.strip()] = float(number)
        except ValueError:
            raise ConfigError(f"--weights {value!r}: expected NAME=NUMBER pairs like bm25=0.4,dense=0.6") from None
    return weights


# ---------------------------------------------------------------------- ask
def _add_ask(sub) -> None:
    p = sub.add_parser(
        "ask",
        help="answer a question from a collection with an LLM, citing the passages",
        description="Search COLLECTION like `ragsift search`, with validation: a question the collection cannot "
        "answer gets spelling fixes and related terms, and no LLM call. Otherwise the top hits go as passages "
        "[1]..[n] to an OpenAI-compatible chat endpoint, whose answer is printed as it is written, followed by its "
        "citations mapped to document and chunk ids (numbers that name no passage given are reported as invalid). "
        "The API key comes from $RAGSIFT_LLM_API_KEY, else $OPENAI_API_KEY. Exit status: 0 answered, 1 no answer "
        "(validation failed, or nothing found), 2 error.",
    )
    p.add_argument("collection", metavar="COLLECTION", help="a collection directory or milvus://HOST:PORT/NAME")
    p.add_argument("question")
    _add_first_stage_options(p, k_default=5)
    _add_embedder_options(p, creating=False)
    _add_rerank_options(p)
    g = p.add_argument_group("LLM", "any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp, Ollama...)")
    g.add_argument("--llm-url", metavar="URL",
                   help="the endpoint's /v1 URL, e.g. http://localhost:8001/v1 (default: $RAGSIFT_LLM_URL)")
    g.add_argument("--llm-model", metavar="NAME", help="the model it serves (default: $RAGSIFT_LLM_MODEL)")
    g.add_argument("--llm-timeout", type=float, metavar="S",
                   help="seconds per request; streaming: between two chunks (default: $RAGSIFT_LLM_TIMEOUT_S, else 60)")
    g.add_argument("--llm-max-retries", type=int, default=3, metavar="N",
                   help="retries on 429/5xx/connection errors (default: 3)")
    g.add_argument("--max-tokens", type=int, default=512, help="longest answer, in tokens (default: 512)")
    g.add_argument("--max-passage-chars", type=int, default=2000, help="characters of each passage in the prompt (default: 2000)")
    g.add_argument("--no-stream", action="store_true", help="wait for the whole answer instead of printing it as it is written")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: {status, answer, citations, invalid_citations, hits, validation, "
                   "suggestions, model, usage, timings_ms}")
    p.set_defaults(func=cmd_ask)


def cmd_ask(args) -> int:
    import asyncio

    from ragsift import config
    from ragsift.answer import Answerer, AnswerStatus

    answerer = Answerer(
        base_url=_llm_setting(args.llm_url, "llm.url", "--llm-url", "the endpoint's /v1 URL, e.g. http://localhost:8001/v1"),
        model=_llm_setting(args.llm_model, "llm.model", "--llm-model", "the name of the model it serves"),
        api_key=config.get("credentials.llm"),
        timeout=args.llm_timeout if args.llm_timeout is not None else config.get("llm.timeout_s"),
        max_retries=args.llm_max_retries,
        max_tokens=args.max_tokens,
        max_passage_chars=args.max_passage_chars,
    )
    result = _run_search(args, args.question, _search_options(args), validate=True)
    if args.json:
        answer = answerer.ask(args.question, result)
        json.dump(answer.to_dict(), sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0 if answer.status is AnswerStatus.ANSWERED else 1
    if result.route is not None:
        print(f"route: {result.route['kind']} → {result.route['route']}", file=sys.stderr)
    if args.no_stream:
        answer = answerer.ask(args.question, result)
        if answer.answer is not None:
            print(answer.answer)
    else:
        answer = asyncio.run(_print_stream(answerer, args.question, result))
    _print_answer_notes(answer)
    return 0 if answer.status is AnswerStatus.ANSWERED else 1


def _llm_setting(value: str | None, setting: str, flag: str, what: str) -> str:
    from ragsift import config

    value = value or config.get(setting)
    if not value:
        variable = config.variables(setting)[0]
        raise ConfigError(f"ragsift ask needs {flag} ({what}), or ${variable} set")
    return value


async def _print_stream(answerer, question: str, result):
    """Print the answer's text as it arrives; return the final Answer."""
    from ragsift.answer import Answer

    printed = False
    try:
        async for item in answerer.stream(question, result):
            if isinstance(item, Answer):
                if printed:
                    print()
                return item
            print(item.text, end="", flush=True)
            printed = True
    except RagsiftError:
        if printed:
            print()  # the error goes on a line of its own
        raise
    raise AssertionError("unreachable: the stream ends with an Answer")  # pragma: no cover


def _print_answer_notes(answer) -> None:
    """After the answer: its sources, its invalid citations; or why there is no answer and what to try."""
    from ragsift.answer import AnswerStatus

    if answer.status is AnswerStatus.NO_PASSAGES:
        print("no answer: the search found no passages (check the filters, or widen -k)")
        return
    if answer.status is AnswerStatus.VALIDATION_FAILED:
        print("no answer: the search results failed validation, so no LLM was asked")
        for reason in (answer.validation or {}).get("reasons") or []:
            print(f"  because {reason}")
        suggestions = answer.suggestions or {}
        if suggestions.get("did_you_mean"):
            print(f"did you mean: {suggestions['did_you_mean']}")
        for fix in suggestions.get("spelling") or []:
            print(f"  {fix['term']} → {fix['suggestion']}")
        if suggestions.get("related"):
            print(f"related terms: {', '.join(suggestions['related'])}")
        return
    if answer.citations:
        print("\nsources:")
        for c in answer.citations:
            title = f" — {c.title}" if c.title else ""
            print(f"  [{c.number}] {c.doc_id} (chunk {c.id}){title}")
    else:
        print("\nsources: none cited")
    for bad in answer.invalid_citations:
        print(f"invalid citation [{bad.number}]: {bad.reason}")


# ---------------------------------------------------------------------- eval
def _add_eval(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate retrievers × rerankers on a BEIR dataset (metrics, latency, significance, cost, plots)",
        description="Build (or reuse) a collection of a BEIR corpus, run each retriever on the split's queries, "
        "rerank with each reranker, and write OUT/results.json, OUT/results.md (tables with first-stage baselines, "
        "deltas and significance marks), OUT/per_query.json, OUT/curves.json and PNG plots. --grid runs every "
        "retriever (bm25, dense, hybrid-rrf, hybrid-weighted, their tuned variants, parent-child) × every reranker. "
        "--compare A.json B.json diffs two result files instead.",
    )
    p.add_argument("--data", metavar="BEIR_DIR", help="BEIR directory (corpus.jsonl, queries.jsonl, qrels/)")
    p.add_argument("--split", default="test", help="qrels split (default: test)")
    p.add_argument(
        "--retrievers",
        help="comma-separated: bm25, dense, hybrid (= hybrid-rrf), hybrid-rrf, hybrid-weighted, hybrid-rrf-tuned, "
        "hybrid-weighted-tuned, parent-child, auto (routed per query as --mode auto: by the collection's learned "
        "router when it has a query_policy.json, else by the rules) (default: bm25,dense,hybrid; with --grid: "
        "all but hybrid and auto)",
    )
    p.add_argument("--grid", action="store_true", help="every retriever × every reranker (the seed-001 study)")
    p.add_argument("--out", metavar="OUT_DIR", help="where results.json / results.md / plots are written")
    p.add_argument("--collection", metavar="COLLECTION",
                   help="collection to build or reuse: a directory or milvus://HOST:PORT/NAME (default: OUT_DIR/collection)")
    p.add_argument(
        "--parent-child-collection", metavar="DIR",
        help="parent–child collection to build or reuse (default: OUT_DIR/collection-parent-child)",
    )
    p.add_argument("--child-size", type=int, default=128, help="parent-child: child chunk size in tokens (default: 128)")
    p.add_argument("--child-overlap", type=int, default=32, help="parent-child: child overlap in tokens (default: 32)")
    p.add_argument("--parent-size", type=int, default=512, help="parent-child: parent size in tokens (default: 512)")
    p.add_argument("--embed-model", default="all-MiniLM-L6-v2", help="dense model (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--chunking", choices=["none", "recursive", "markdown"], default="none", help="chunk documents (default: none, the BEIR protocol)")
    p.add_argument("--metrics", help="comma-separated metrics, e.g. ndcg@10,mrr@10,recall@100,map@100,hit@5 (default: the standard set)")
    p.add_argument("--max-queries", type=int, help="evaluate only the first N queries (smoke runs)")
    p.add_argument(
        "--rerankers",
        help="comma-separated rerankers, one run per retriever × reranker: none (first stage only), a type alone "
        "(cohere: its default model, or $RERANKER_MODEL when $RERANKER_TYPE is that type), TYPE=MODEL (e.g. "
        "llm=gpt-4o-mini, cohere=rerank-v3.5), or a cross-encoder path or org/name hub id (see ragsift.config); "
        "default: none, with --grid: none + the cross-encoder that --rerank would use (+ the $RERANKER_TYPE "
        "reranker when another type is set)",
    )
    p.add_argument("--candidates", type=int,
                   help="first-stage hits each reranker reorders (default: the depth a trained model recorded, else 45)")
    _add_backend_option(p)
    p.add_argument(
        "--interpolate",
        metavar="W|auto|none",
        help="blend reranker and first stage: final = W·reranker + (1−W)·first stage; 'auto' tunes W on --tune-split; "
        "'none' = pure reranking (default: the weight a trained model recorded in ragsift_reranker.json, else none)",
    )
    p.add_argument(
        "--rerank-auto", action="store_true",
        help="beside each reranked run, add a gated run RERANKER@auto (as --rerank auto): a query is reranked only "
        "when the gate of the collection's query policy (ragsift train-router --reranker-model) expects a gain, else "
        "it keeps its first-stage list; reuses the reranked run's scores; reports the share reranked, the latency "
        "and the gate's threshold curve (rerank_gate_curve.png). Without a trained gate every query is reranked",
    )
    p.add_argument("--tune-split", default="train", help="qrels split for fusion tuning and --interpolate auto (default: train)")
    p.add_argument("--tune-queries", type=int, default=200, help="tuning queries used (default: 200; 0 = all)")
    g = p.add_argument_group("comparisons")
    g.add_argument("--baseline", metavar="RETRIEVER[:RERANKER]", help="run every run is tested against (default: bm25:none)")
    g.add_argument("--test", choices=["randomization", "t-test"], default="randomization", help="paired significance test (default: randomization)")
    g.add_argument("--permutations", type=int, default=10_000, help="randomization test resamples (default: 10000)")
    g.add_argument("--alpha", type=float, default=0.05, help="significance level after Holm correction (default: 0.05)")
    g.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="diff two results files and exit")
    g = p.add_argument_group("cost and RAG metrics")
    g.add_argument("--cost-n-base", type=int, default=10, help="passages the LLM reads without reranking (default: 10)")
    g.add_argument("--cost-max-n", type=int, default=20, help="largest N of the cost–accuracy curve (default: 20)")
    g.add_argument("--context-k", type=int, default=5, help="N of context precision/recall@N and of judged passages (default: 5)")
    g.add_argument("--judge-url", metavar="URL", help="OpenAI-compatible endpoint (…/v1) for faithfulness / answer relevancy")
    g.add_argument("--judge-model", help="judge model name (required with --judge-url); API key from $RAGSIFT_JUDGE_API_KEY or $OPENAI_API_KEY")
    g.add_argument("--judge-runs", help="runs to judge, RETRIEVER:RERANKER comma-separated or 'all' (default: baseline and best run)")
    g.add_argument("--judge-queries", type=int, help="judge only the first N queries")
    g.add_argument("--judge-concurrency", type=int, default=4, help="judge requests in flight (default: 4)")
    g.add_argument("--judge-timeout", type=float, default=60.0, help="seconds per judge request (default: 60)")
    g.add_argument("--judge-on-error", choices=["skip", "raise"], default="skip", help="a query whose judge requests fail: skip it (counted) or stop (default: skip)")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots (they need pip install 'ragsift[plots]')")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_eval, _eval_actions=[a for a in p._actions if a.option_strings and a.dest != "help"])


def cmd_eval(args) -> int:
    if args.compare:
        from ragsift.eval.compare import compare_files

        print(compare_files(*args.compare))
        return 0
    from ragsift.eval.runner import run_eval

    missing = [flag for flag, value in (("--data", args.data), ("--out", args.out)) if not value]
    if missing:
        raise ConfigError(f"eval needs {' and '.join(missing)} (or --compare A.json B.json)")
    results = run_eval(_eval_config(args))
    out = Path(args.out)
    print((out / "results.md").read_text(encoding="utf-8"))
    extra = ", ".join(results.get("plots", []))
    print(f"wrote {out / 'results.json'}, {out / 'results.md'}, per_query.json, curves.json" + (f", {extra}" if extra else ""))
    return 0


def _eval_config(args):
    from ragsift.eval.runner import DEFAULT_METRICS, GRID_RETRIEVERS, EvalConfig
    from ragsift.ingest import ChunkingConfig

    retrievers = args.retrievers or (",".join(GRID_RETRIEVERS) if args.grid else "bm25,dense,hybrid")
    return EvalConfig(
        data_dir=Path(args.data),
        out_dir=Path(args.out),
        split=args.split,
        retrievers=[r.strip() for r in retrievers.split(",") if r.strip()],
        metrics=[m.strip() for m in args.metrics.split(",")] if args.metrics else DEFAULT_METRICS,
        collection_dir=_collection_spec(args.collection),
        embed_model=args.embed_model,
        chunking=ChunkingConfig(mode=args.chunking),
        max_queries=args.max_queries,
        rerankers=_split_rerankers(args.rerankers if args.rerankers is not None else _grid_rerankers(args.grid, args.data)),
        candidates=args.candidates,
        interpolate=_parse_interpolate(args.interpolate),
        tune_split=args.tune_split,
        tune_queries=args.tune_queries or None,
        show_progress=not args.quiet,
        grid=args.grid,
        parent_child_dir=_collection_spec(args.parent_child_collection),
        parent_child_chunking=ChunkingConfig(
            mode="recursive", unit="tokens", size=args.child_size, overlap=args.child_overlap, parent_size=args.parent_size
        ),
        baseline=args.baseline,
        significance=args.test,
        permutations=args.permutations,
        alpha=args.alpha,
        cost_n_base=args.cost_n_base,
        cost_max_n=args.cost_max_n,
        context_k=args.context_k,
        judge=_judge_config(args),
        judge_runs=[r.strip() for r in args.judge_runs.split(",") if r.strip()] if args.judge_runs else None,
        judge_queries=args.judge_queries,
        plots=not args.no_plots,
        command=_eval_command(args),
        reranker_backend=args.reranker_backend,
        rerank_auto=args.rerank_auto,
    )


def _grid_rerankers(grid: bool, data: str | None = None) -> str:
    """Rerankers of ``--grid`` without ``--rerankers``: the resolved cross-encoder (+ the $RERANKER_TYPE one).

    A model trained on ``data``'s corpus is the default cross-encoder; one trained elsewhere is not.
    """
    if not grid:
        return "none"
    from ragsift import config
    from ragsift.config import RerankerType

    model, source = config.resolve_reranker_model(corpus=_dataset_fingerprint(data))
    print(f"reranker: {model} ({source})", file=sys.stderr)
    specs = ["none", config.format_reranker_ref(RerankerType.CROSS_ENCODER, model)]
    env_type = config.raw("reranker.type")
    kind = config.parse_type(env_type[0], "RERANKER_TYPE") if env_type else RerankerType.CROSS_ENCODER
    if kind not in (RerankerType.CROSS_ENCODER, RerankerType.NONE):
        env_model = config.env_model_for(kind)  # RERANKER_MODEL is this type's model, never a cross-encoder's
        specs.append(config.format_reranker_ref(kind, env_model[0] if env_model else None))
    return ",".join(specs)


def _dataset_fingerprint(data: str | None) -> str | None:
    """The corpus fingerprint of a BEIR folder (None when there is none to read)."""
    if not data or not Path(data).is_dir():
        return None
    from ragsift.ingest import load_beir_corpus
    from ragsift.train.data import corpus_fingerprint

    return corpus_fingerprint(load_beir_corpus(data))


def _judge_config(args):
    from ragsift import config

    if not args.judge_url and not args.judge_model:
        return None
    if not (args.judge_url and args.judge_model):
        raise ConfigError("--judge-url and --judge-model go together: name the endpoint and the model it serves")
    from ragsift.eval.judge import JudgeConfig

    return JudgeConfig(
        base_url=args.judge_url,
        model=args.judge_model,
        api_key=config.get("credentials.judge"),
        contexts=args.context_k,
        concurrency=args.judge_concurrency,
        timeout=args.judge_timeout,
        on_error=args.judge_on_error,
    )


def _eval_command(args) -> str:
    """The command line that reproduces this evaluation (options that differ from their defaults)."""
    import shlex

    parts = ["ragsift", "eval"]
    for action in args._eval_actions:
        value = getattr(args, action.dest)
        if value == action.default or value is None:
            continue
        flag = action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.option_strings[0]
        if action.nargs == 0:
            parts.append(flag)
        elif isinstance(value, (list, tuple)):
            parts += [flag, *map(str, value)]
        else:
            parts += [flag, str(value)]
    return shlex.join(parts)


def _parse_interpolate(value: str | None) -> float | str | None:
    if value is None or value == "auto":
        return value
    try:
        return _parse_weight(value)
    except ConfigError:
        raise ConfigError(f"--interpolate {value!r}: expected a weight between 0 and 1, 'auto' or 'none'") from None


def _split_rerankers(value: str) -> list[str]:
    specs = [s.strip() for s in value.split(",") if s.strip()]
    return specs if "none" in specs else ["none", *specs]  # a baseline always runs


# ---------------------------------------------------------------------- info
def _add_info(sub) -> None:
    p = sub.add_parser("info", help="show a collection's manifest and statistics")
    p.add_argument("collection", metavar="COLLECTION", help="a collection directory or milvus://HOST:PORT/NAME")
    p.set_defaults(func=cmd_info)


def cmd_info(args) -> int:
    from ragsift.index.backends import is_remote, open_collection
    from ragsift.index.collection import MANIFEST

    coll = open_collection(args.collection)  # validates
    if is_remote(args.collection):
        print(json.dumps({"backend": "milvus", "collection": str(coll.path), "config": coll.config.to_dict(),
                          "stats": coll.stats()}, indent=2))
        return 0
    print((Path(args.collection) / MANIFEST).read_text(encoding="utf-8"))
    return 0


def _add_repair(sub) -> None:
    p = sub.add_parser(
        "repair",
        help="restore a collection whose manifest.json is missing or unreadable",
        description="Look at the collection's generations newest first and make the newest one that opens "
        "completely the live one again. Prints what it found first; deletes nothing. A valid collection is left "
        "alone.",
    )
    p.add_argument("collection", metavar="DIR")
    _add_lock_timeout(p)
    p.set_defaults(func=cmd_repair)


def cmd_repair(args) -> int:
    from ragsift.index.repair import repair

    report = repair(args.collection, lock_timeout=args.lock_timeout)
    for line in report.findings:
        print(f"  {line}")
    print(report.summary())
    return 0


# ---------------------------------------------------------------------- serve
def _add_serve(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="serve NIM-, Cohere- and TEI-compatible reranking (and /v1/search over a collection) over HTTP",
        description="Start the ragsift service (FastAPI + uvicorn). Settings come from --config (TOML, [service] "
        "table), then RAGSIFT_* / RERANKER_* environment variables, then these options. API keys are read from "
        "RAGSIFT_API_KEYS (comma-separated) or the config file, never from the command line. "
        "Needs pip install 'ragsift[serve]'.",
    )
    p.add_argument("--config", metavar="FILE", help="TOML file with a [service] table")
    p.add_argument("--collection", metavar="COLLECTION",
                   help="collection served by /v1/search and /v1/documents: a directory or milvus://HOST:PORT/NAME")
    p.add_argument("--embedder", metavar="TYPE[=MODEL]",
                   help="embedder of /v1/embeddings and /embed when the collection has none (default: bundled "
                   "all-MiniLM-L6-v2); a served collection's own embedder always wins")
    p.add_argument("--reranker-type", help="reranker kind (default: cross-encoder)")
    p.add_argument(
        "--reranker-model",
        metavar="NAME_OR_PATH",
        help="reranker model; for cross-encoder default: $RERANKER_MODEL, the last model trained by ragsift, the hub default",
    )
    p.add_argument("--host", help="bind address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: 8000)")
    p.add_argument("--max-length", type=int, help="tokens per (query, passage) pair (default: the model's recorded max_length, else 512)")
    _add_backend_option(p)
    p.add_argument("--queue-max", type=int, help="waiting requests before 429 (default: 64)")
    p.add_argument(
        "--cache", help="rerank score cache: off, memory, sqlite:PATH or redis://HOST:PORT/DB (default: off)"
    )
    p.add_argument("--no-micro-batching", action="store_true", help="run each request alone")
    p.add_argument("--llm-url", metavar="URL",
                   help="OpenAI-compatible endpoint of POST /v1/answer (default: $RAGSIFT_LLM_URL; none: no /v1/answer)")
    p.add_argument("--llm-model", metavar="NAME", help="the model it serves (default: $RAGSIFT_LLM_MODEL)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    from ragsift._lazy import require

    require("fastapi", extra="serve")
    from ragsift.config import resolve_reranker_model
    from ragsift.service import ServiceSettings, run

    settings = ServiceSettings.load(
        args.config,
        collection=args.collection,
        embedder=args.embedder,
        reranker_type=args.reranker_type,
        reranker_model=args.reranker_model,
        host=args.host,
        port=args.port,
        max_length=args.max_length,
        reranker_backend=args.reranker_backend,
        queue_max=args.queue_max,
        cache=args.cache,
        micro_batching=False if args.no_micro_batching else None,
        llm_url=args.llm_url,
        llm_model=args.llm_model,
    )
    if settings.reranker_type == "cross-encoder" and not settings.reranker_model:
        corpus = None
        if settings.collection is not None:
            from ragsift.index.backends import open_collection

            corpus = _collection_fingerprint(open_collection(settings.collection))
        model, source = resolve_reranker_model(corpus=corpus)
        print(f"reranker: {model} ({source})", file=sys.stderr)
        settings = settings.model_copy(update={"reranker_model": model})
    run(settings)
    return 0


# ---------------------------------------------------------------------- quickstart
def _add_quickstart(sub) -> None:
    p = sub.add_parser(
        "quickstart",
        help="index ragsift's own guide and compare BM25, dense and hybrid search on it",
        description="Self-contained demo (no network, no external data): builds a collection from the user guide "
        "shipped inside the package and prints the results of a few questions in each mode side by side.",
    )
    p.add_argument("--workdir", metavar="DIR", help="where to build the demo collection (default: a temporary directory)")
    p.add_argument("-k", type=int, default=3, help="results per mode (default: 3)")
    p.add_argument("--reranker-model", metavar="NAME_OR_PATH", help="cross-encoder for the fourth column")
    p.set_defaults(func=cmd_quickstart)


def cmd_quickstart(args) -> int:
    from ragsift.quickstart import run_quickstart

    run_quickstart(workdir=args.workdir, k=args.k, reranker_model=args.reranker_model)
    return 0


# ---------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except RagsiftError as exc:
        print(f"ragsift {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the collection on disk is unchanged unless a write completed", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
