"""``ragsift quickstart`` answers questions about ragsift from its own bundled guide, offline."""

from __future__ import annotations

import contextlib
import io

import pytest

from ragsift.cli import main
from ragsift.index.collection import Collection
from ragsift.pipeline.search import Searcher
from ragsift.quickstart import QUESTIONS, guide_dir


def test_guide_is_packaged():
    pages = sorted(p.name for p in guide_dir().glob("*.md"))
    assert len(pages) >= 5


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("qs")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["quickstart", "--workdir", str(workdir)])
    return code, workdir, buffer.getvalue()


def test_quickstart_prints_every_question_in_every_mode(quickstart_run):
    code, _, out = quickstart_run
    assert code == 0
    for question in QUESTIONS:
        assert question in out
    for mode in ("bm25", "dense", "hybrid"):
        assert mode in out


@pytest.mark.parametrize(
    "question, section",
    [
        (QUESTIONS[0], "Removing documents"),
        (QUESTIONS[1], "Crash safety"),
        (QUESTIONS[2], "Japanese"),
    ],
)
def test_quickstart_finds_the_right_section(quickstart_run, question, section):
    _, workdir, _ = quickstart_run
    searcher = Searcher(Collection.open(workdir / "guide-collection"))
    for mode in ("bm25", "dense", "hybrid"):
        top = searcher.search(question, mode=mode, k=3).hits
        assert any(section in " ".join(h.metadata.get("headings", [])) for h in top), (mode, [h.id for h in top])


def test_quickstart_says_plainly_when_no_reranker_can_be_loaded(quickstart_run):
    _, _, out = quickstart_run
    flat = " ".join(out.split())
    assert "No reranker" in flat and "ragsift train-reranker" in flat
    assert "hybrid+rerank" not in out


def test_load_reranker_uses_an_explicit_model(tiny_cross_encoder):
    from ragsift.quickstart import load_reranker

    reranker, message = load_reranker(str(tiny_cross_encoder))
    assert reranker is not None and str(tiny_cross_encoder) in message
