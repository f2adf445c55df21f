"""What the adapters share: rerankers named like the CLI names them, lazy framework imports, metadata."""

from __future__ import annotations

import subprocess
import sys

import pytest
from _frameworks import QUERY, OverlapReranker

from ragsift.errors import ConfigError
from ragsift.integrations._common import (
    HIT_KEYS,
    SearchPlan,
    build_reranker,
    hit_metadata,
    rerank_metadata,
    rerank_options,
    search_options,
)
from ragsift.pipeline.rerank import RerankOptions
from ragsift.pipeline.search import Searcher
from ragsift.types import Hit


def test_a_spec_builds_the_reranker_the_cli_would(tiny_cross_encoder, monkeypatch):
    from ragsift.rerank.cross_encoder import CrossEncoderReranker
    from ragsift.rerank.fallback import FallbackReranker
    from ragsift.rerank.identity import FirstStageReranker

    monkeypatch.setenv("RERANKER_BACKEND", "torch")  # a RERANKER_* variable fills what the spec leaves unset
    built = build_reranker(f"cross-encoder={tiny_cross_encoder}")
    assert isinstance(built, CrossEncoderReranker) and built.backend.value == "torch"
    assert built.option_sources["backend"] == "RERANKER_BACKEND"
    assert isinstance(build_reranker(str(tiny_cross_encoder)), CrossEncoderReranker)  # a bare path is a cross-encoder
    assert isinstance(build_reranker("none"), FirstStageReranker)

    chain = build_reranker(f"cross-encoder={tiny_cross_encoder},none", options={"batch_size": 4})
    assert isinstance(chain, FallbackReranker) and chain.labels == [str(tiny_cross_encoder), "none"]
    assert chain.chain[0].batch_size == 4

    given = OverlapReranker()
    assert build_reranker(given) is given and build_reranker(None) is None
    with pytest.raises(ConfigError, match="not accepted"):
        build_reranker("none", options={"backend": "torch"})
    with pytest.raises(ConfigError, match="not valid"):
        build_reranker(3.5)


def test_a_cross_encoder_without_model_is_the_one_trained_on_the_collection(
    tmp_path, monkeypatch, collection, tiny_cross_encoder
):
    import shutil

    from ragsift.config import record_trained
    from ragsift.rerank.settings import ModelSettings, write_model_settings
    from ragsift.train.data import corpus_fingerprint

    monkeypatch.setenv("RAGSIFT_HOME", str(tmp_path / "home"))
    model = tmp_path / "trained"
    shutil.copytree(tiny_cross_encoder, model)
    fingerprint = corpus_fingerprint(list(collection.documents.values()))
    write_model_settings(model, ModelSettings(trained_on={"corpus_fingerprint": fingerprint}))
    record_trained(model)

    built = build_reranker("cross-encoder", collection=collection, options={"backend": "torch"})
    assert str(built.model_path) == str(model.resolve())


def test_metadata_keeps_the_documents_own_keys_and_adds_ragsift_s():
    hit = Hit("d1#0", "d1", 0.5, "text", "Title", {"bm25": 2.0}, {"year": 2020, "score": "A+"})
    meta = hit_metadata(hit)
    assert meta == {
        "year": 2020, "id": "d1#0", "doc_id": "d1", "title": "Title", "score": 0.5, "source_scores": {"bm25": 2.0},
    }  # ragsift's keys win over the document's (its "score" here)
    assert set(meta) - {"year"} <= set(HIT_KEYS)
    assert rerank_metadata(hit) == {}  # not reranked
    reranked = Hit("d1#0", "d1", 3.0, source_scores={"rerank": 3.0, "rerank_relevance": 0.9})
    assert hit_metadata(reranked)["relevance_score"] == 0.9


def test_plan_overrides_are_per_call(collection):
    searcher = Searcher(collection, OverlapReranker())
    plan = SearchPlan(search_options(mode="bm25", k=4, filters=["year>=2020"]))
    assert len(plan.run(searcher, QUERY)) == 4
    assert len(plan.run(searcher, QUERY, k=2, parents=False)) == 2
    assert plan.options.k == 4  # unchanged
    reranking = SearchPlan(plan.options, RerankOptions(candidates=6, top_n=3))
    assert len(reranking.run(searcher, QUERY)) == 3
    assert len(reranking.run(searcher, QUERY, k=5)) == 5  # k is top_n when reranking
    with pytest.raises(ConfigError, match="pass them as the arguments"):
        search_options(options={"k": 3})


def test_import_ragsift_and_integrations_loads_no_framework():
    code = (
        "import sys, ragsift, ragsift.integrations, ragsift.integrations._common;"
        "loaded = [m for m in ('langchain_core', 'llama_index', 'haystack', 'torch') if m in sys.modules];"
        "print(','.join(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    "module, blocked, extra",
    [("langchain", "langchain_core", "langchain"), ("llamaindex", "llama_index", "llamaindex"), ("haystack", "haystack", "haystack")],
)
def test_a_missing_framework_names_the_extra_to_install(module, blocked, extra):
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "from ragsift.errors import MissingDependencyError\n"
        "try:\n"
        f"    import ragsift.integrations.{module}\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert f"pip install 'ragsift[{extra}]'" in out.stdout


def test_rerank_options_as_a_mapping_keep_k_hits_unless_told():
    reranker = OverlapReranker()
    assert rerank_options({"candidates": 30}, reranker=reranker, k=10).top_n == 10
    assert rerank_options({"candidates": 30, "top_n": 3}, reranker=reranker, k=10).top_n == 3
    assert rerank_options(None, reranker=reranker, k=7).top_n == 7
