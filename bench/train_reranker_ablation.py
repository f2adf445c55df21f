"""Reranker recipe ablation on a dev hold-out of SciFact's *train* split (the test split is never read).

20 % of the train queries (seeded, ``ragsift.train.data.split_dev``) are held out as the dev set;
every ablation point trains on the other 80 % with the same number of groups (equal compute),
then reranks the dev queries' hybrid top ``--candidates`` (as ``ragsift eval`` does: RRF over
BM25 and dense top 100, the reranker sees ``Hit.text``) with ``CrossEncoderReranker`` loading
the saved folder. Reports NDCG@10 / MRR@10 of the first stage, pure reranking, and the best
interpolation weight on dev (``final = w·sigmoid(logit) + (1-w)·minmax(first stage)``).

Hard negatives are mined once for all points. Results go to ``bench/results/train_reranker_ablation.json``.

    HF_HUB_OFFLINE=1 python bench/train_reranker_ablation.py --data ../shared/data/beir/scifact \
        --collection /tmp/scifact_coll --work /tmp/abl --points G0,G,B,C
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ragsift.eval.metrics import evaluate
from ragsift.eval.runner import ranked_run, retriever_options
from ragsift.fusion.normalize import min_max
from ragsift.index.collection import Collection
from ragsift.ingest import load_beir
from ragsift.pipeline.search import Searcher
from ragsift.rerank.base import sigmoid
from ragsift.rerank.cross_encoder import CrossEncoderReranker
from ragsift.train.data import judged_queries, mine_candidates, split_dev, title_queries
from ragsift.train.loop import TrainLog, write_model_dir
from ragsift.train.models import freeze_bottom, load_base
from ragsift.train.reranker import RerankerTrainConfig, calibrate_head, fit_groups, make_groups

# Equal compute for every point: GROUPS groups of 1 positive + 3 negatives.
GROUPS = 500

POINTS = {
    # the naive recipe, scaled down: pointwise BCE, base pooler kept, one learning rate
    "A": dict(head="cls", loss="bce", pooler="keep", head_lr=3e-5, lr=3e-5, title_ratio=0.0),
    # listwise loss + identity pooler + fast head (1e-3) / encoder 5e-5 with warm-up
    "B": dict(head="cls", loss="listwise", pooler="identity", title_ratio=0.0),
    # B + unsupervised title -> body groups (half of the groups)
    "C": dict(head="cls", loss="listwise", pooler="identity", title_ratio=1.0),
    # B with pointwise BCE: isolates the loss
    "D": dict(head="cls", loss="bce", pooler="identity", title_ratio=0.0),
    # C with the [CLS] pooler kept as all-MiniLM ships it: isolates the pooler reset
    "E": dict(head="cls", loss="listwise", pooler="keep", title_ratio=1.0),
    # the cosine head (ragsift.rerank.cosine_head) untrained: what the joint encoding gives for free
    "G0": dict(head="cosine", loss="listwise", title_ratio=1.0, untrained=True),
    # C with the cosine head instead of [CLS]: isolates the head
    "G": dict(head="cosine", loss="listwise", title_ratio=1.0),
    # G without title groups
    "H": dict(head="cosine", loss="listwise", title_ratio=0.0),
}


def first_stage(searcher: Searcher, queries: dict[str, str], qids: list[str]):
    opts = retriever_options("hybrid", 100)
    opts.bm25_depth = opts.dense_depth = 100
    results = searcher.search_many([queries[q] for q in qids], opts)
    return {q: r.hits for q, r in zip(qids, results)}


def dev_metrics(model_dir: Path, hits, queries, qrels, candidates: int, max_length: int) -> dict:
    reranker = CrossEncoderReranker(str(model_dir), max_length=max_length, batch_size=32)
    reranker.warm_up()
    start = time.perf_counter()
    scored = {}
    for qid, hs in hits.items():
        head = hs[:candidates]
        scored[qid] = (head, reranker.score(queries[qid], [h.text for h in head]).raw)
    seconds = time.perf_counter() - start
    by_weight = {}
    for w in [round(0.1 * i, 1) for i in range(11)]:
        run = {}
        for qid, (head, raw) in scored.items():
            first = min_max([h.score for h in head])
            final = [w * sigmoid(x) + (1 - w) * float(f) for x, f in zip(raw, first)]
            order = sorted(range(len(head)), key=lambda i: (-final[i], i))
            run[qid] = [head[i] for i in order] + hits[qid][candidates:]
        by_weight[w] = evaluate(qrels, ranked_run(run), ["ndcg@10", "mrr@10"])
    best = max(by_weight, key=lambda w: (by_weight[w]["ndcg@10"], w))
    return {
        "pure": by_weight[1.0],
        "best_interpolation": {"weight": best, **by_weight[best]},
        "ndcg@10_by_weight": {w: round(m["ndcg@10"], 4) for w, m in by_weight.items()},
        "score_seconds": round(seconds, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--collection", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--points", default="B,C,D,A")
    ap.add_argument("--candidates", type=int, default=20)
    ap.add_argument("--eval-max-length", type=int, default=256)
    ap.add_argument("--groups", type=int, default=GROUPS, help="groups per point (equal compute)")
    ap.add_argument("--max-dev", type=int, help="smoke runs: only the first N dev queries")
    ap.add_argument("--eval-model", metavar="DIR", help="only evaluate this trained folder on the dev set (no training)")
    ap.add_argument("--label", help="name of the --eval-model entry in the results")
    ap.add_argument("--out", default="bench/results/train_reranker_ablation.json")
    args = ap.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    data = load_beir(args.data, split="train")
    train_ids, dev_ids = split_dev(data.qrels, 0.2, seed=0)
    dev_ids = dev_ids[: args.max_dev] if args.max_dev else dev_ids
    judged = judged_queries(data.queries, data.qrels, exclude=dev_ids)
    judged = judged[: args.groups] if args.max_dev else judged  # smoke runs: mine less
    titles = title_queries(data.corpus, limit=args.groups, seed=0)
    texts = {d.id: d.text for d in data.corpus}
    searcher = Searcher(Collection.open(args.collection))
    if args.eval_model:
        hits = first_stage(searcher, data.queries, dev_ids)
        dev_qrels = {q: data.qrels[q] for q in dev_ids}
        manifest = json.loads((Path(args.eval_model) / "ragsift_train.json").read_text())
        assert sorted(manifest["data"]["heldout_query_ids"]) == sorted(dev_ids), "the model was trained on dev queries"
        metrics = dev_metrics(Path(args.eval_model), hits, data.queries, dev_qrels, args.candidates, args.eval_max_length)
        results[args.label or args.eval_model] = {
            "recipe": manifest["recipe"], "data": {k: v for k, v in manifest["data"].items() if k != "heldout_query_ids"},
            "train_seconds": manifest["training"]["seconds"], "total_seconds": manifest["total_seconds"],
            "loss_curve": manifest["training"]["loss_curve"], "calibration": manifest["calibration"], **metrics,
        }
        print(args.label, json.dumps({k: results[args.label or args.eval_model][k] for k in ("pure", "best_interpolation")}))
        out.write_text(json.dumps(results, indent=1) + "\n")
        return
    start = time.perf_counter()
    mine_candidates(searcher, judged + titles, depth=30)
    mining_s = time.perf_counter() - start
    hits = first_stage(searcher, data.queries, dev_ids)
    dev_qrels = {q: data.qrels[q] for q in dev_ids}
    results["_setup"] = {
        "dev_queries": len(dev_ids),
        "train_queries": len(judged),
        "groups_per_point": args.groups,
        "candidates": args.candidates,
        "eval_max_length": args.eval_max_length,
        "mining_seconds": round(mining_s, 1),
        "first_stage_dev": evaluate(dev_qrels, ranked_run(hits), ["ndcg@10", "mrr@10", f"recall@{args.candidates}"]),
    }
    print(json.dumps(results["_setup"], indent=1), flush=True)
    n_pairs = sum(len(q.positives) for q in judged)
    for name in args.points.split(","):
        point = dict(POINTS[name])
        untrained = point.pop("untrained", False)
        ratio = point["title_ratio"]
        epochs = args.groups / (1 + ratio) / n_pairs
        cfg = RerankerTrainConfig(data_dir=args.data, out_dir=work / name, epochs=epochs, max_minutes=None, **point)
        groups = make_groups(judged, titles, texts, epochs=cfg.epochs, title_ratio=cfg.title_ratio,
                             negatives=cfg.negatives, negative_pool=cfg.negative_pool, seed=cfg.seed)
        base = load_base(None, pooler=cfg.pooler, head=cfg.head, seed=cfg.seed)
        freeze_bottom(base.model, cfg.freeze_layers)
        t0 = time.perf_counter()
        log = TrainLog(every=1) if untrained else fit_groups(base.model, base.tokenizer, groups, cfg)
        train_s = time.perf_counter() - t0
        calibration = None if untrained else calibrate_head(base.model, base.tokenizer, groups, cfg)
        write_model_dir(cfg.out_dir, lambda d: (base.model.save_pretrained(d), base.tokenizer.save_pretrained(d)),
                        "ragsift_train.json", {"recipe": cfg.recipe(), "calibration": calibration})
        metrics = dev_metrics(cfg.out_dir, hits, data.queries, dev_qrels, args.candidates, args.eval_max_length)
        results[name] = {
            "recipe": {k: v for k, v in cfg.recipe().items() if k not in ("split", "base", "max_minutes")},
            "groups": 0 if untrained else len(groups),
            "title_groups": sum(g.source == "title" for g in groups),
            "train_seconds": round(train_s, 1),
            "loss_curve": log.summary()["loss_curve"],
            "calibration": calibration,
            **metrics,
        }
        print(name, json.dumps({k: results[name][k] for k in ("pure", "best_interpolation", "train_seconds")}), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
