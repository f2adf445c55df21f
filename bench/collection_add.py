"""Add / delete latency of a BM25 collection at 100k documents vs rebuilding bm25s from scratch.

bm25s cannot add to an index; the naive alternative is to re-tokenize and re-index everything.
ragsift keeps token counts and recomputes only the derived score matrix, then commits a new
generation atomically. This measures both, side by side, on SciFact documents replicated to N.

    .venv/bin/python bench/collection_add.py --data ../shared/data/beir/scifact --docs 100000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="BEIR directory whose corpus is replicated")
    ap.add_argument("--docs", type=int, default=100_000)
    args = ap.parse_args()

    import bm25s
    import Stemmer

    from ragsift.index.collection import Collection, CollectionConfig
    from ragsift.index.sparse import SparseIndex
    from ragsift.index.analyzers import get_analyzer
    from ragsift.ingest import ChunkingConfig, load_beir_corpus
    from ragsift.types import Document

    base = load_beir_corpus(args.data)
    docs = [
        Document(f"{d.id}-{i // len(base)}", d.text, d.title)
        for i, d in ((i, base[i % len(base)]) for i in range(args.docs))
    ]
    extra = [Document(f"new-{i}", d.text, d.title) for i, d in enumerate(base[:1000])]
    config = CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        coll = Collection.create(Path(tmp) / "c", config)
        t_build = timed(lambda: coll.add(docs))
        rows.append(("initial build (collection, incl. commit)", args.docs, t_build))
        for n in (1, 100, 1000):
            batch = extra[:n]
            t = timed(lambda: coll.add(batch))
            rows.append((f"add {n} docs at {args.docs:,} (collection, incl. commit)", n, t))
            coll.delete([d.id for d in batch])
        ids = [d.id for d in docs[:100]]
        rows.append((f"delete 100 docs at {args.docs:,} (collection, incl. commit)", 100, timed(lambda: coll.delete(ids))))
        index = SparseIndex(get_analyzer("en"))
        index.add([Collection.index_text(c) for c in coll.chunks])
        t_refresh = timed(lambda: index.add(["one more document about cells"]))
        rows.append((f"add 1 doc at {args.docs:,} (BM25 index only, no commit)", 1, t_refresh))

    texts = [f"{d.title}\n{d.text}" for d in docs]
    stemmer = Stemmer.Stemmer("english")

    def rebuild():
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)

    t_rebuild = timed(rebuild)
    rows.append((f"bm25s: re-tokenize + re-index all {args.docs:,} (the naive add)", args.docs, t_rebuild))

    header = "| operation | docs | seconds |\n|---|---|---|"
    table = "\n".join([header] + [f"| {name} | {n:,} | {t:.2f} |" for name, n, t in rows])
    add1 = next(t for name, _, t in rows if name.startswith("add 1 docs"))
    summary = f"adding 1 document at {args.docs:,}: {add1:.2f} s with commit vs {t_rebuild:.1f} s naive rebuild ({t_rebuild / add1:.0f}× faster)"
    print(table)
    print(summary)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "collection_add.json").write_text(
        json.dumps({"docs": args.docs, "rows": [{"operation": a, "docs": n, "seconds": t} for a, n, t in rows]}, indent=2)
    )
    (RESULTS / "collection_add.md").write_text(f"{table}\n\n{summary}\n")


if __name__ == "__main__":
    main()
