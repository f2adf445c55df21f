"""CrossEncoderReranker on a tiny real cross-encoder (no mocks), plus the offline builder."""

from __future__ import annotations

import json
import os
import random
import time

import numpy as np
import pytest

from ragsift.errors import ConfigError, ModelNotFoundError, PassageTooLongError
from ragsift.rerank.base import sigmoid
from ragsift.rerank.cross_encoder import CrossEncoderReranker, Truncate, plan_batches

QUERY = "what do cats eat"
# Mixed lengths, deliberately not sorted; the 4th and 6th are far over the tiny model's 128 tokens.
DOCS = [
    "cats eat fish and mice",
    "the stock market fell sharply on monday after the announcement " * 3,
    "a",
    "the cat sat on the mat and ate its dinner slowly " * 40,
    "dogs are loyal animals",
    "quantum physics of black holes " * 300,
    "kittens drink milk; adult cats are obligate carnivores that need meat",
]
# Words that the uncased WordPiece vocabulary keeps as single tokens.
WORDS = "cat dog sun moon tree house car book water fire river stone bird fish road city".split()


@pytest.fixture(scope="module")
def tiny_ce(tmp_path_factory):
    from _rerank_models import build_tiny_cross_encoder

    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce"))


@pytest.fixture(scope="module")
def reranker(tiny_ce):
    r = CrossEncoderReranker(tiny_ce, batch_size=3, backend="torch")
    r.warm_up()
    return r


def test_scores_match_cross_encoder_predict_in_input_order(tiny_ce, reranker):
    import torch
    from sentence_transformers import CrossEncoder

    ce = CrossEncoder(str(tiny_ce), max_length=128, local_files_only=True)
    expected = ce.predict([(QUERY, d) for d in DOCS], batch_size=32, activation_fn=torch.nn.Identity())
    scores = reranker.score(QUERY, DOCS)
    assert reranker.effective_max_length == 128  # 512 capped to the model's positions
    assert np.ptp(expected) > 0.1  # the comparison below is not vacuous
    np.testing.assert_allclose(scores.raw, expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(scores.relevance, [sigmoid(x) for x in scores.raw], atol=1e-12)


def test_rerank_sorts_cuts_and_thresholds(reranker):
    raw = reranker.score(QUERY, DOCS).raw
    order = sorted(range(len(DOCS)), key=lambda i: -raw[i])
    top = reranker.rerank(QUERY, DOCS, top_n=3, return_documents=True)
    assert [r.index for r in top] == order[:3]
    assert [r.document for r in top] == [DOCS[i] for i in order[:3]]
    cut = sigmoid(raw[order[2]])
    kept = reranker.rerank(QUERY, DOCS, threshold=cut)
    assert [r.index for r in kept] == order[:3]
    assert all(r.relevance >= cut for r in kept)
    assert reranker.rerank(QUERY, []) == []


def test_truncate_end_cuts_only_the_passage(reranker):
    far_over = " ".join(WORDS * 400)  # ~6,400 tokens for a 128-token model
    just_over = " ".join(WORDS * 10)
    a, b = reranker.score(QUERY, [far_over, just_over]).raw
    assert a == pytest.approx(b, abs=1e-5)  # both cut to the same first passage tokens


def test_truncate_none_raises_for_first_long_passage(tiny_ce):
    r = CrossEncoderReranker(tiny_ce, truncate="NONE", backend="torch")
    r.warm_up()
    with pytest.raises(PassageTooLongError) as info:
        r.score(QUERY, DOCS)
    err = info.value
    assert (err.index, err.limit) == (3, 128)
    assert err.tokens > 128 and "documents[3]" in str(err)
    assert r.score(QUERY, [DOCS[0], DOCS[4]]).raw  # short passages still score


def test_long_query_is_cut_to_half_the_window_under_end(tiny_ce):
    """Under END a query longer than MAX_QUERY_SHARE of the window is cut there (and counted); passages keep the rest."""
    from ragsift.rerank.cross_encoder import MAX_QUERY_SHARE

    r = CrossEncoderReranker(tiny_ce, max_length=128, backend="torch")
    r.warm_up()
    long_query = " ".join(WORDS * 10)  # 160 single-token words
    share = int(MAX_QUERY_SHARE * (128 - 3))
    cut = " ".join((WORDS * 10)[:share])
    before = r.queries_truncated
    scores = r.score(long_query, ["short passage", "the cat sat on the mat " * 40])
    assert r.queries_truncated == before + 1
    assert scores.raw == pytest.approx(r.score(cut, ["short passage", "the cat sat on the mat " * 40]).raw, abs=1e-5)
    assert r.queries_truncated == before + 1  # the cut query fits: not counted again
    r.score("what do cats eat", ["short passage"])
    assert r.queries_truncated == before + 1


def test_long_query_under_none_raises_a_typed_error(tiny_ce):
    from ragsift.errors import BadInputError, QueryTooLongError

    r = CrossEncoderReranker(tiny_ce, truncate="NONE", backend="torch")
    with pytest.raises(QueryTooLongError, match="no room for the passage") as info:
        r.score(" ".join(WORDS * 10), ["short passage"])
    assert isinstance(info.value, BadInputError) and info.value.tokens == 160 and info.value.limit == 128


def test_max_length_comes_from_the_model_settings(tiny_ce, tmp_path):
    import shutil

    from ragsift.rerank.settings import ModelSettings, write_model_settings

    folder = tmp_path / "m"
    shutil.copytree(tiny_ce, folder)
    assert CrossEncoderReranker(folder).max_length == 512 and CrossEncoderReranker(folder).max_length_source == "default"
    write_model_settings(folder, ModelSettings(interpolate=0.4, candidates=20, max_length=96))
    r = CrossEncoderReranker(folder, backend="torch")
    assert (r.max_length, r.max_length_source) == (96, "model")
    assert r.model_settings.interpolate == 0.4 and r.model_settings.text_fields == ("title", "text")
    assert (CrossEncoderReranker(folder, max_length=64).max_length, CrossEncoderReranker(folder, max_length=64).max_length_source) == (64, "option")


def _window_texts(words: list[str], budget: int, step: int) -> list[str]:
    """The windows long_passages='window' scores: starts every ``step`` tokens, last one holds the tail."""
    starts = [0]
    while starts[-1] + budget < len(words):
        starts.append(starts[-1] + step)
    return [" ".join(words[s : s + budget]) for s in starts]


def test_window_scores_max_over_windows(tiny_ce, reranker):
    query = "cat"  # 1 token: budget = 128 - 1 - 3 special tokens
    budget, step = 124, 40
    windowed = CrossEncoderReranker(tiny_ce, long_passages="window", window_stride=step, backend="torch")
    windowed.warm_up()
    rng = random.Random(0)
    head = [rng.choice(WORDS) for _ in range(260)]
    # The "relevant" tail: among candidate endings, the one whose last window the model likes best.
    tails = [[rng.choice(WORDS) for _ in range(60)] for _ in range(8)]
    last_windows = [_window_texts(head + t, budget, step)[-1] for t in tails]
    tail_scores = reranker.score(query, last_windows).raw
    words = head + tails[int(np.argmax(tail_scores))]

    expected = max(reranker.score(query, _window_texts(words, budget, step)).raw)
    (got,) = windowed.score(query, [" ".join(words)]).raw
    (truncated,) = reranker.score(query, [" ".join(words)]).raw  # the head window only
    assert got == pytest.approx(expected, abs=1e-5)  # MaxP over the windows
    assert got >= max(tail_scores) - 1e-5  # the last (tail) window is one of them
    assert max(tail_scores) > truncated  # construction check: the end is what the model prefers
    assert got > truncated  # ... so windows beat truncation
    short = windowed.score(query, DOCS[:3]).raw  # short passages: one window, same as truncate
    np.testing.assert_allclose(short, reranker.score(query, DOCS[:3]).raw, atol=1e-5)


def test_onnx_fp32_and_int8_track_torch(tiny_ce, reranker, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    fp32 = CrossEncoderReranker(tiny_ce, backend="onnx", onnx_dir=tmp_path, batch_size=3)
    int8 = CrossEncoderReranker(tiny_ce, backend="onnx", quantize="int8", onnx_dir=tmp_path, batch_size=3)
    fp32.warm_up()
    int8.warm_up()
    torch_raw = np.array(reranker.score(QUERY, DOCS).raw)
    np.testing.assert_allclose(fp32.score(QUERY, DOCS).raw, torch_raw, atol=1e-4, rtol=0)
    np.testing.assert_allclose(int8.score(QUERY, DOCS).raw, torch_raw, atol=0.15, rtol=0)
    cases = [(QUERY, DOCS), ("stock market news", DOCS[:3]), ("black holes", DOCS[3:])]
    for query, docs in cases:
        best = reranker.rerank(query, docs, top_n=1)[0].index
        assert fp32.rerank(query, docs, top_n=1)[0].index == best
        assert int8.rerank(query, docs, top_n=1)[0].index == best
    meta = json.loads((tmp_path / "ragsift-fp32.json").read_text())
    assert meta["max_abs_diff_vs_torch"] <= 1e-4


def test_onnx_export_is_reused_until_weights_change(tiny_ce, tmp_path):
    pytest.importorskip("onnxruntime")
    first = CrossEncoderReranker(tiny_ce, backend="onnx", onnx_dir=tmp_path)
    first.warm_up()
    exported = tmp_path / "ragsift-fp32.onnx"
    stamp = exported.stat().st_mtime_ns
    CrossEncoderReranker(tiny_ce, backend="onnx", onnx_dir=tmp_path).warm_up()
    assert exported.stat().st_mtime_ns == stamp  # reused
    weights = tiny_ce / "model.safetensors"
    saved = weights.stat()
    os.utime(weights, (saved.st_atime, exported.stat().st_mtime + 1))  # weights newer than the export
    try:
        CrossEncoderReranker(tiny_ce, backend="onnx", onnx_dir=tmp_path).warm_up()
    finally:
        os.utime(weights, ns=(saved.st_atime_ns, saved.st_mtime_ns))
    assert exported.stat().st_mtime_ns != stamp  # re-exported


def test_hub_name_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = CrossEncoderReranker("ragsift-tests/no-such-cross-encoder")  # constructing loads nothing
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE"):
        r.warm_up()
    assert time.perf_counter() - start < 20


def test_encoder_only_folder_is_not_silently_given_a_random_head():
    from ragsift.index.embedder import default_model_path

    with pytest.raises(ModelNotFoundError, match="not a cross-encoder"):
        CrossEncoderReranker(default_model_path()).warm_up()


def test_missing_local_folder_fails_in_constructor(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no such directory"):
        CrossEncoderReranker(str(tmp_path / "nope"))


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"truncate": "START"}, "truncate"),
        ({"backend": "tensorrt"}, "backend"),
        ({"quantize": "int4", "backend": "onnx"}, "quantize"),
        ({"quantize": "int8"}, "quantize"),
        ({"long_passages": "chunks"}, "long_passages"),
        ({"activation": "softmax"}, "activation"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_length": 2}, "max_length"),
        ({"window_stride": 0}, "window_stride"),
        ({"backend": "onnx", "device": "cuda"}, "device"),
    ],
)
def test_bad_options_name_the_parameter(tiny_ce, kwargs, param):
    with pytest.raises(ConfigError, match=param):
        CrossEncoderReranker(tiny_ce, **kwargs)


def test_truncate_enum_parses_case_insensitively(tiny_ce):
    assert CrossEncoderReranker(tiny_ce, truncate="none").truncate is Truncate.NONE


def test_plan_batches_covers_rows_and_separates_lengths():
    lengths = [100] * 30 + [500, 500]
    batches = plan_batches(lengths, batch_size=32)
    assert sorted(i for b in batches for i in b) == list(range(32))
    assert all(len(b) <= 32 for b in batches)
    assert batches[0] == [30, 31]  # the two long rows are not padded together with the short ones
    assert all(len(b) <= 4 for b in plan_batches([7] * 10, batch_size=4))


def test_build_from_bundled_minilm_keeps_first_layers(tmp_path):
    from safetensors.numpy import load_file
    from sentence_transformers import CrossEncoder

    from ragsift.index.embedder import default_model_path
    from ragsift.rerank.build import BUILD_MANIFEST, build_cross_encoder_from_encoder

    out = build_cross_encoder_from_encoder(None, tmp_path / "ce", num_layers=2)
    ce = CrossEncoder(str(out), local_files_only=True)
    assert ce.model.config.num_hidden_layers == 2 and ce.model.config.num_labels == 1
    assert len(ce.model.bert.encoder.layer) == 2
    source = load_file(os.path.join(default_model_path(), "model.safetensors"))
    key = "encoder.layer.1.attention.self.query.weight"
    np.testing.assert_array_equal(ce.model.bert.state_dict()[key].numpy(), source[key])
    assert json.loads((out / BUILD_MANIFEST).read_text())["num_layers"] == 2
    with pytest.raises(ConfigError, match="num_layers"):
        build_cross_encoder_from_encoder(None, tmp_path / "ce7", num_layers=7)


def test_backend_onnx_int8_alias_and_env(tiny_ce, monkeypatch):
    """`--reranker-backend onnx-int8` / RERANKER_BACKEND=onnx-int8 is ONNX Runtime with int8 weights."""
    from ragsift.rerank.cross_encoder import Backend, Quantize
    from ragsift.rerank.registry import get_reranker

    r = CrossEncoderReranker(tiny_ce, backend="onnx-int8")
    assert (r.backend, r.quantize, r.backend_source) == (Backend.ONNX, Quantize.INT8, "option")
    with pytest.raises(ConfigError, match="backend="):
        CrossEncoderReranker(tiny_ce, backend="tensorrt")
    monkeypatch.setenv("RERANKER_BACKEND", "onnx-int8")
    built = get_reranker("cross-encoder", str(tiny_ce))
    assert (built.backend, built.quantize) == (Backend.ONNX, Quantize.INT8)
    assert built.option_sources["backend"] == "RERANKER_BACKEND"


EPYC = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n"
XEON_AMX = "processor\t: 0\nmodel name\t: Intel Xeon\nflags\t\t: fpu avx2 fma avx512f avx512_vnni amx_bf16 amx_int8\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd\n"


def test_the_cpu_default_backend_follows_the_measurement():
    """ONNX int8 where it measured faster at equal quality (AVX2 without AVX-512); torch elsewhere."""
    from ragsift.rerank.cross_encoder import cpu_default_backend

    assert cpu_default_backend(EPYC) == "onnx-int8"
    assert cpu_default_backend(XEON_AMX) == "torch"
    assert cpu_default_backend(ARM) == "torch"
    assert cpu_default_backend("") == "torch"


def test_a_default_reranker_uses_the_cpu_default_and_ranks_like_torch(tiny_ce):
    from ragsift.rerank.cross_encoder import Backend, cpu_default_backend

    default = CrossEncoderReranker(tiny_ce)
    expected = cpu_default_backend()
    engine = default.backend.value + (f"-{default.quantize.value}" if default.quantize else "")
    assert engine == expected and default.backend_source == "default"
    docs = ["cats purr on the mat", "the stock market fell", "kittens are young cats", "dogs bark", "a cat sleeps"]
    got = default.score("where do cats sleep", docs).raw
    want = CrossEncoderReranker(tiny_ce, backend="torch").score("where do cats sleep", docs).raw
    if default.backend is Backend.TORCH:
        assert got == want
    else:  # int8 weights: the same order, scores within quantization error
        assert np.argsort(got).tolist() == np.argsort(want).tolist()
        np.testing.assert_allclose(got, want, atol=0.1 * (max(want) - min(want)) + 1e-3)
