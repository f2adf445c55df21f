"""Markdown-aware chunking: heading paths, tables kept whole, code fences respected."""

from __future__ import annotations

import re

from ragsift.ingest import RecursiveSplitter, split_markdown
from ragsift.ingest.markdown import markdown_sections
from ragsift.ingest.markdown_syntax import parse_atx_heading

GUIDE = """Preamble before any heading.

# Guide

Welcome to the guide.

## Install

### Linux

Run the installer with apt.

### macOS

Use brew.

## Usage

```python
# this is a comment, not a heading
print("hi")
```

Call the tool.
"""

TABLE = "\n".join(["| model | ndcg | latency |", "|---|---|---|"] + [f"| m{i} | 0.{i:02d} | {i}ms |" for i in range(30)])


def paths(pairs):
    return [path for path, _ in pairs]


def test_heading_paths_and_prefix_lines():
    pairs = split_markdown(GUIDE, RecursiveSplitter(500, 0))
    assert paths(pairs) == [(), ("Guide",), ("Guide", "Install", "Linux"), ("Guide", "Install", "macOS"), ("Guide", "Usage")]
    texts = dict(pairs)
    assert texts[()] == "Preamble before any heading."
    assert texts[("Guide", "Install", "Linux")] == "Guide > Install > Linux\nRun the installer with apt."
    assert texts[("Guide", "Usage")].startswith("Guide > Usage\n```python\n# this is a comment")


def test_heading_inside_code_fence_is_ignored():
    pairs = split_markdown(GUIDE, RecursiveSplitter(500, 0))
    assert all("this is a comment, not a heading" not in p for path in paths(pairs) for p in path)
    tilde = "# A\n~~~\n# not heading\n~~~~\ntext after\n## B\nb"
    assert paths(split_markdown(tilde, RecursiveSplitter(500, 0))) == [("A",), ("A", "B")]


def test_without_prefix_the_heading_lines_stay():
    pairs = split_markdown(GUIDE, RecursiveSplitter(500, 0), heading_prefix=False)
    texts = dict(pairs)
    # "## Install" has no text of its own: its heading line moves into the Linux section.
    assert texts[("Guide", "Install", "Linux")] == "## Install\n\n### Linux\n\nRun the installer with apt."
    joined = "\n".join(t for _, t in pairs)
    for line in GUIDE.splitlines():
        assert line.strip() in joined


def test_long_section_is_split_and_every_chunk_carries_the_path():
    body = " ".join(f"Sentence number {i} talks about reranking." for i in range(40))
    pairs = split_markdown(f"# Guide\n## Rerank\n{body}", RecursiveSplitter(120, 20))
    assert len(pairs) > 3
    for path, text in pairs:
        assert path == ("Guide", "Rerank")
        assert text.startswith("Guide > Rerank\n")
        assert len(text) <= 120  # the prefix counts toward the size


def test_table_is_never_split_even_when_larger_than_size():
    text = f"# Results\nIntro sentence.\n\n{TABLE}\n\nClosing remark."
    size = 200
    assert len(TABLE) > size
    pairs = split_markdown(text, RecursiveSplitter(size, 20))
    table_chunks = [t for _, t in pairs if "| m0 |" in t]
    assert len(table_chunks) == 1
    assert TABLE in table_chunks[0]
    assert all(len(re.findall(r"\| m\d", t)) in (0, 30) for _, t in pairs)
    others = [t for _, t in pairs if "| m0 |" not in t]
    assert all(len(t) <= size for t in others)


def test_small_table_is_packed_with_its_text():
    small = "| a | b |\n|---|---|\n| 1 | 2 |"
    pairs = split_markdown(f"# T\nSee the table:\n{small}\nDone.", RecursiveSplitter(200, 0))
    assert pairs == [(("T",), f"T\nSee the table:\n{small}\nDone.")]


def test_code_block_kept_whole_when_it_fits():
    code = "```python\n" + "\n".join(f"x{i} = {i}" for i in range(8)) + "\n```"
    text = "# Code\n" + "Lead paragraph. " * 6 + "\n\n" + code + "\n\nAfter."
    pairs = split_markdown(text, RecursiveSplitter(110, 10))
    assert any(code in t for _, t in pairs)


def test_oversized_code_block_is_split_at_lines():
    code = "```\n" + "\n".join(f"line_{i} = compute({i})" for i in range(40)) + "\n```"
    pairs = split_markdown("# Big\n" + code, RecursiveSplitter(150, 0))
    assert len(pairs) > 1
    assert all(len(t) <= 150 for _, t in pairs)
    assert all(not t.endswith("compute(") for _, t in pairs)


def test_long_prefix_is_shortened():
    deep = "# " + "A" * 40 + "\n## " + "B" * 40 + "\ncontent"
    [(path, text)] = split_markdown(deep, RecursiveSplitter(100, 0))
    assert path == ("A" * 40, "B" * 40)
    assert text == "B" * 40 + "\ncontent"


def test_japanese_markdown():
    text = "# 概要\nリランキングは精度を高める。" * 1 + "候補を読み直す。" * 20
    pairs = split_markdown(text, RecursiveSplitter(60, 0))
    assert all(t.startswith("概要\n") and len(t) <= 60 for _, t in pairs)
    assert all(t.endswith("。") for _, t in pairs)


def test_atx_heading_syntax():
    assert parse_atx_heading("## Install ##") == (2, "Install")
    assert parse_atx_heading("   ###### Deep") == (6, "Deep")
    assert parse_atx_heading("#hashtag") is None
    assert parse_atx_heading("    # indented code") is None
    assert parse_atx_heading("####### seven") is None
    assert parse_atx_heading("# C#") == (1, "C#")


def test_sections_reset_deeper_levels():
    text = "# A\n### A3\nx\n## B\ny\n# C\nz"
    assert [p for p, _ in markdown_sections(text, keep_heading_lines=False)] == [("A", "A3"), ("A", "B"), ("C",)]
