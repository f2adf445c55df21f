"""ChunkingConfig validation and chunk_documents in every mode, parent–child included."""

from __future__ import annotations

import json

import pytest

from ragsift.errors import ConfigError
from ragsift.ingest import (
    ChunkedCorpus,
    ChunkingConfig,
    ChunkMode,
    LengthUnit,
    chunk_documents,
    length_function_for,
    token_length_function,
)
from ragsift.types import Document

LONG = " ".join(f"Sentence {i} explains how hybrid retrieval fuses rankings." for i in range(30))
GUIDE = "# Guide\nIntro text.\n## Install\n" + "Install step explained in detail. " * 12 + "\n## Use\nRun it."


def docs() -> list[Document]:
    return [
        Document(id="long", text=LONG, title="Long doc", metadata={"src": "a"}),
        Document(id="short", text="Tiny.", title="Short"),
        Document(id="titled", text="", title="Title only"),
    ]


# ---- config ---------------------------------------------------------------------------------


def test_config_defaults_and_enum_parsing():
    cfg = ChunkingConfig()
    assert (cfg.mode, cfg.unit, cfg.size, cfg.overlap, cfg.parent_size) == (
        ChunkMode.RECURSIVE, LengthUnit.TOKENS, 400, 50, None
    )
    parsed = ChunkingConfig(mode="Markdown", unit="CHARS")  # type: ignore[arg-type]
    assert parsed.mode is ChunkMode.MARKDOWN and parsed.unit is LengthUnit.CHARS


def test_config_round_trips_through_json():
    cfg = ChunkingConfig(mode=ChunkMode.MARKDOWN, unit=LengthUnit.CHARS, size=300, overlap=20,
                         separators=("\n\n", "。", ""), parent_size=1200, parent_overlap=100, heading_prefix=False)
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["mode"] == "markdown" and data["unit"] == "chars" and data["separators"] == ["\n\n", "。", ""]
    assert ChunkingConfig.from_dict(data) == cfg


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"mode": "sentences"}, "mode='sentences' is not valid; choose one of 'none', 'recursive', 'markdown'"),
        ({"unit": "words"}, "unit='words' is not valid; choose one of 'tokens', 'chars'"),
        ({"size": 0}, "size=0 must be > 0"),
        ({"size": 100, "overlap": 100}, "overlap=100 must be >= 0 and < size=100"),
        ({"size": 100, "overlap": -3}, "overlap=-3"),
        ({"size": "100"}, "size='100' must be an integer"),
        ({"separators": []}, "separators=[] must be a non-empty list"),
        ({"size": 100, "parent_size": 100}, "parent_size=100 must be larger than size=100"),
        ({"size": 100, "parent_size": 50}, "parent_size=50 must be larger than size=100"),
        ({"parent_size": 800, "parent_overlap": 800}, "parent_overlap=800 must be >= 0 and < parent_size=800"),
        ({"parent_size": 800.0}, "parent_size=800.0 must be an integer"),
        ({"mode": "none", "parent_size": 800}, "parent_size=800 needs mode 'recursive' or 'markdown'"),
        ({"heading_prefix": "yes"}, "heading_prefix='yes' must be true or false"),
    ],
)
def test_config_validation(kwargs, fragment):
    with pytest.raises(ConfigError) as info:
        ChunkingConfig(**kwargs)
    assert fragment in str(info.value)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match=r"unknown chunking setting\(s\) \['chunk_size'\]; valid keys are"):
        ChunkingConfig.from_dict({"chunk_size": 3})
    with pytest.raises(ConfigError, match="must be a mapping"):
        ChunkingConfig.from_dict([("size", 3)])  # type: ignore[arg-type]


# ---- chunk_documents ------------------------------------------------------------------------


def test_mode_none_keeps_whole_documents():
    corpus = chunk_documents(docs(), ChunkingConfig(mode="none", unit="chars"))  # type: ignore[arg-type]
    assert isinstance(corpus, ChunkedCorpus) and corpus.parents == []
    assert [(c.id, c.text) for c in corpus.chunks] == [("long#0", LONG), ("short#0", "Tiny."), ("titled#0", "")]


def test_recursive_ids_positions_title_metadata():
    corpus = chunk_documents(docs(), ChunkingConfig(unit="chars", size=120, overlap=20), length_function=len)
    long = [c for c in corpus.chunks if c.doc_id == "long"]
    assert len(long) > 5
    assert [c.id for c in long] == [f"long#{n}" for n in range(len(long))]
    assert [c.position for c in long] == list(range(len(long)))
    assert all(len(c.text) <= 120 and c.title == "Long doc" and c.metadata == {"src": "a"} for c in long)
    assert all(c.parent_id is None and c.headings == () for c in corpus.chunks)
    assert [c.id for c in corpus.chunks if c.doc_id != "long"] == ["short#0", "titled#0"]
    assert long[0].metadata is not long[1].metadata  # each chunk owns its metadata


def test_unit_selects_the_length_function():
    assert length_function_for("chars") is len
    assert length_function_for(LengthUnit.TOKENS) is token_length_function()
    count = token_length_function()
    corpus = chunk_documents(docs(), ChunkingConfig(size=40, overlap=8))  # tokens of the bundled model
    assert len(corpus.chunks) > 4
    assert all(count(c.text) <= 40 for c in corpus.chunks)
    assert max(len(c.text) for c in corpus.chunks) > 40  # counted in tokens, not characters


def test_markdown_mode_sets_headings():
    doc = Document(id="guide.md", text=GUIDE, title="Guide")
    corpus = chunk_documents([doc], ChunkingConfig(mode="markdown", unit="chars", size=150, overlap=0))  # type: ignore[arg-type]
    heads = [c.headings for c in corpus.chunks]
    assert heads[0] == ("Guide",) and heads[-1] == ("Guide", "Use")
    assert ("Guide", "Install") in heads
    assert all(c.text.startswith(" > ".join(c.headings)) for c in corpus.chunks)
    assert all(len(c.text) <= 150 for c in corpus.chunks)


def test_parent_child_ids_and_links():
    cfg = ChunkingConfig(unit="chars", size=80, overlap=10, parent_size=300, parent_overlap=0)  # type: ignore[arg-type]
    corpus = chunk_documents(docs(), cfg)
    parents = {p.id: p for p in corpus.parents}
    long_parents = [p for p in corpus.parents if p.doc_id == "long"]
    assert [p.id for p in long_parents] == [f"long#p{n}" for n in range(len(long_parents))]
    assert all(len(p.text) <= 300 and p.parent_id is None for p in corpus.parents)
    long_children = [c for c in corpus.chunks if c.doc_id == "long"]
    assert [c.position for c in long_children] == list(range(len(long_children)))
    for child in corpus.chunks:
        parent = parents[child.parent_id]
        assert child.doc_id == parent.doc_id and child.title == parent.title
        assert child.text in parent.text
        assert len(child.text) <= 80
        pn = int(parent.id.rsplit("#p", 1)[1])
        assert child.id.startswith(f"{child.doc_id}#p{pn}c")
    first_children = [c.id for c in corpus.chunks if c.parent_id == "long#p0"]
    assert first_children == [f"long#p0c{n}" for n in range(len(first_children))] and len(first_children) > 2
    assert [c.id for c in corpus.chunks if c.doc_id == "titled"] == ["titled#p0c0"]


def test_parent_child_markdown_keeps_heading_path():
    doc = Document(id="g", text=GUIDE, title="Guide")
    cfg = ChunkingConfig(mode="markdown", unit="chars", size=90, overlap=0, parent_size=260)  # type: ignore[arg-type]
    corpus = chunk_documents([doc], cfg)
    parents = {p.id: p for p in corpus.parents}
    install = [c for c in corpus.chunks if c.headings == ("Guide", "Install")]
    assert len(install) > 2
    for child in corpus.chunks:
        assert child.headings == parents[child.parent_id].headings
        assert child.text.startswith(" > ".join(child.headings) + "\n")
        assert len(child.text) <= 90


def test_show_progress_and_generators(capsys):
    corpus = chunk_documents((d for d in docs()), ChunkingConfig(unit="chars", size=5000), show_progress=True)  # type: ignore[arg-type]
    assert len(corpus.chunks) == 3
    assert "chunking" in capsys.readouterr().err


def test_bad_arguments():
    with pytest.raises(ConfigError, match="config must be a ChunkingConfig"):
        chunk_documents(docs(), {"size": 3})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="docs must contain Document objects, got str"):
        chunk_documents(["text"], ChunkingConfig(unit="chars"))  # type: ignore[arg-type, list-item]
