"""Token counting with the bundled model's tokenizer (tokenizers library, no torch)."""

from __future__ import annotations

import json

import pytest

from ragsift.errors import ModelNotFoundError
from ragsift.ingest import RecursiveSplitter, default_model_path, token_length_function

TEXT = (
    "Dense retrievers embed queries and passages independently; cross-encoders read them together. "
    "Tokenization splits unbelievably long words into word-pieces, so token counts exceed word counts. "
) * 12


@pytest.fixture(scope="module")
def count():
    return token_length_function()


def test_counts_without_special_tokens(count):
    assert count("") == 0
    assert count("hello world") == 2
    assert count("Hello, World!") == 4  # lower-cased word pieces plus punctuation


def test_long_text_is_not_truncated_or_padded(count):
    # tokenizer.json of the bundled model truncates and pads to 128: both must be off.
    assert count("word " * 1000) == 1000
    assert count("short") == 1


def test_default_path_and_cache(count):
    assert (default_model_path() / "tokenizer.json").is_file()
    assert token_length_function(default_model_path()) is token_length_function(str(default_model_path()))
    assert token_length_function(default_model_path() / "tokenizer.json")("hello world") == 2


@pytest.mark.parametrize("size,overlap", [(32, 0), (64, 16), (128, 20)])
def test_token_chunks_fit(count, size, overlap):
    chunks = RecursiveSplitter(size, overlap, length_function=count).split(TEXT)
    assert len(chunks) > 1
    assert all(count(c) <= size for c in chunks)


def test_character_level_cuts_stay_within_size(count):
    text = "pneumonoultramicroscopicsilicovolcanoconiosis" * 20  # no separator applies
    chunks = RecursiveSplitter(12, 0, length_function=count).split(text)
    assert all(count(c) <= 12 for c in chunks)
    assert "".join(chunks) == text


def test_broken_tokenizer_file(tmp_path):
    (tmp_path / "tokenizer.json").write_text(json.dumps({"not": "a tokenizer"}), encoding="utf-8")
    with pytest.raises(ModelNotFoundError, match="cannot read tokenizer file"):
        token_length_function(tmp_path)


def test_unknown_model_name_offline(tmp_path):
    with pytest.raises(ModelNotFoundError, match="pass a local model folder that contains tokenizer.json"):
        token_length_function(str(tmp_path / "no-such-model"))


def test_transformers_fallback_matches_fast_path(tmp_path, count):
    """A folder without tokenizer.json goes through transformers.AutoTokenizer; counts agree."""
    import shutil

    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "config.json"):
        shutil.copy(default_model_path() / name, tmp_path / name)
    slow_count = token_length_function(tmp_path)
    for text in ("hello world", TEXT, "word " * 600):
        assert slow_count(text) == count(text)
