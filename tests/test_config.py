"""ragsift.config: the only reader of the environment; settings table, grammar, resolution, home, specs."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from ragsift import config
from ragsift.config import (
    HUB_DEFAULT,
    CacheKind,
    CacheSpec,
    EmbedderSpec,
    RerankerRef,
    RerankerType,
    format_reranker_ref,
    parse_reranker_list,
    parse_reranker_ref,
    reranker_spec,
)
from ragsift.errors import ConfigError

SRC = Path(config.__file__).resolve().parent


def test_only_the_config_module_reads_the_environment():
    readers = re.compile(r"os\.environ|getenv")
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "config.py" or path.parent != SRC
        if readers.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


# ----------------------------------------------------------------------------- the settings table


def test_settings_table_rows_are_complete():
    seen: dict[str, str] = {}
    for name, row in config.SETTINGS.items():
        assert name == row.name and row.section and row.key and row.doc, name
        assert row.env and all(re.fullmatch(r"[A-Z][A-Z0-9_]*", v) for v in row.env), name
        assert row.kind in (str, int, float, bool, Path), name
        for var in row.env:  # a variable means one thing, except the shared OPENAI/RERANKER fallbacks
            if var in seen and var not in ("OPENAI_API_KEY", "RERANKER_TYPE", "RERANKER_MODEL"):
                pytest.fail(f"{var} is read by {seen[var]} and {name}")
            seen.setdefault(var, name)


@pytest.mark.parametrize(
    ("name", "env", "value"),
    [
        ("reranker.timeout", {"RERANKER_TIMEOUT": " 2.5 "}, 2.5),
        ("reranker.max_retries", {"RERANKER_MAX_RETRIES": "4"}, 4),
        ("service.micro_batching", {"RAGSIFT_MICRO_BATCHING": "off"}, False),
        ("credentials.cohere", {"CO_API_KEY": "k2"}, "k2"),
        ("credentials.cohere", {"COHERE_API_KEY": "k1", "CO_API_KEY": "k2"}, "k1"),
        ("credentials.judge", {"OPENAI_API_KEY": "sk"}, "sk"),
        ("reranker.base_url", {"RERANKER_BASE_URL": "   "}, None),  # blank = unset
    ],
)
def test_get_reads_the_first_variable_and_converts(name, env, value):
    assert config.get(name, env) == value


def test_bad_values_name_the_variable_and_the_fix():
    with pytest.raises(ConfigError, match="RERANKER_TIMEOUT='10s' is not a number; set it to a number"):
        config.get("reranker.timeout", {"RERANKER_TIMEOUT": "10s"})
    with pytest.raises(ConfigError, match="RAGSIFT_LOG_JSON='maybe' is not a boolean"):
        config.get("service.log_json", {"RAGSIFT_LOG_JSON": "maybe"})
    with pytest.raises(ConfigError, match="unknown setting 'reranker.colour'"):
        config.get("reranker.colour")


# ----------------------------------------------------------------------------- home and hub


def test_one_home_for_registry_exports_and_mining(monkeypatch, tmp_path):
    from ragsift.rerank.onnx_backend import default_onnx_dir

    monkeypatch.setenv("RAGSIFT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RAGSIFT_CACHE_DIR", str(tmp_path / "old"))  # the alias never beats RAGSIFT_HOME
    assert config.home() == tmp_path / "home"
    assert default_onnx_dir("org/name", "org/name") == tmp_path / "home" / "onnx" / "org--name"
    assert config.record_trained(tmp_path).parent.parent == tmp_path / "home"


def test_ragsift_cache_dir_is_a_deprecated_alias(monkeypatch, tmp_path):
    monkeypatch.delenv("RAGSIFT_HOME")
    monkeypatch.setenv("RAGSIFT_CACHE_DIR", str(tmp_path))
    with pytest.warns(DeprecationWarning, match="RAGSIFT_CACHE_DIR is deprecated; set RAGSIFT_HOME"):
        assert config.home() == tmp_path
    monkeypatch.delenv("RAGSIFT_CACHE_DIR")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert config.home() == Path("~/.cache/ragsift").expanduser()


def test_hub_offline_from_either_variable():
    assert config.hub_offline({"TRANSFORMERS_OFFLINE": "1"})
    assert config.hub_offline({"HF_HUB_OFFLINE": "true", "TRANSFORMERS_OFFLINE": "0"})


# ----------------------------------------------------------------------------- grammar


@pytest.mark.parametrize(
    ("text", "rtype", "model"),
    [
        ("cohere", RerankerType.COHERE, None),
        (" Cross_Encoder ", RerankerType.CROSS_ENCODER, None),
        ("cohere=rerank-v3.5", RerankerType.COHERE, "rerank-v3.5"),
        ("llm=gpt-4o-mini", RerankerType.LLM, "gpt-4o-mini"),
        ("none", RerankerType.NONE, None),
        ("none=", RerankerType.NONE, None),
        ("BAAI/bge-reranker-base", RerankerType.CROSS_ENCODER, "BAAI/bge-reranker-base"),
        ("./models/ce", RerankerType.CROSS_ENCODER, "./models/ce"),
        ("runs/lr=1e-5/final", RerankerType.CROSS_ENCODER, "runs/lr=1e-5/final"),
        ("cross-encoder=local-name", RerankerType.CROSS_ENCODER, "local-name"),
        ("my_pkg.rerankers:Mine", "my_pkg.rerankers:Mine", None),
        ("my_pkg.rerankers:Mine=m1", "my_pkg.rerankers:Mine", "m1"),
    ],
)
def test_one_type_model_grammar(text, rtype, model):
    ref = parse_reranker_ref(text)
    assert (ref.type, ref.model) == (rtype, model)
    if text.strip() != "none=":
        assert parse_reranker_ref(str(ref)) == ref  # formatting reads back


def test_an_existing_folder_is_a_model_but_a_type_name_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mymodel").mkdir()
    (tmp_path / "cohere").mkdir()
    assert parse_reranker_ref("mymodel") == RerankerRef(RerankerType.CROSS_ENCODER, "mymodel", "reranker")
    assert parse_reranker_ref("cohere").type is RerankerType.COHERE
    assert parse_reranker_ref("./cohere").type is RerankerType.CROSS_ENCODER
    assert format_reranker_ref(RerankerType.CROSS_ENCODER, "cohere") == "cross-encoder=cohere"


@pytest.mark.parametrize("text", ["colbert", "colbert=x", ""])
def test_grammar_errors_list_the_types(text):
    with pytest.raises(ConfigError) as info:
        parse_reranker_ref(text, "--rerankers")
    assert "--rerankers=" in str(info.value)
    if text:
        assert all(repr(t.value) in str(info.value) for t in RerankerType)


def test_reranker_lists():
    assert parse_reranker_list("off", "RERANKER_FALLBACK") == []
    assert [str(r) for r in parse_reranker_list("cohere=rerank-v3.5, org/ce, none", "x")] == [
        "cohere=rerank-v3.5", "org/ce", "none",
    ]
    with pytest.raises(ConfigError, match="empty entry"):
        parse_reranker_list("none,,none", "x")


# ----------------------------------------------------------------------------- model resolution and specs


def test_env_model_belongs_to_the_env_type():
    env = {"RERANKER_TYPE": "cohere", "RERANKER_MODEL": "rerank-v3.5"}
    assert config.env_model_for("cohere", env) == ("rerank-v3.5", "RERANKER_MODEL")
    assert config.env_model_for("cross-encoder", env) is None
    assert config.env_model_for("cross-encoder", {"RERANKER_MODEL": "org/ce"}) == ("org/ce", "RERANKER_MODEL")
    assert config.resolve_reranker_model(environ=env) == (HUB_DEFAULT, "hub default")


def test_reranker_spec_names_flags_and_variables():
    env = {"RERANKER_TYPE": "cohere", "RERANKER_MODEL": "rerank-v3.5", "RERANKER_TIMEOUT": "7",
           "RERANKER_BACKEND": "onnx", "RERANKER_FALLBACK": "cross-encoder,none", "RERANKER_CACHE": "memory"}
    spec = reranker_spec(environ=env)
    assert (spec.type, spec.model, spec.primary.model_source) == (RerankerType.COHERE, "rerank-v3.5", "RERANKER_MODEL")
    assert spec.shared_options["timeout"] == (7.0, "RERANKER_TIMEOUT") and spec.backend == "onnx"
    assert [str(r) for r in spec.fallback] == [HUB_DEFAULT, "none"]  # a cross-encoder link gets a model
    assert spec.fallback[0].model_source == "hub default"
    assert spec.cache == CacheSpec(CacheKind.MEMORY)
    flagged = reranker_spec("cross-encoder", "org/ce", environ=env, model_source="--reranker-model")
    assert (flagged.model, flagged.primary.model_source) == ("org/ce", "--reranker-model")
    with pytest.raises(ConfigError, match="--reranker-type='colbert' is not valid"):
        reranker_spec("colbert", environ={}, type_source="--reranker-type")


def test_reranker_spec_without_environment():
    spec = reranker_spec("none", environ={"RERANKER_CACHE": "memory"}, read_env=False)
    assert spec.cache == CacheSpec() and spec.shared_options == {} and spec.fallback == ()


def test_cache_spec_is_parsed_once_with_its_sources():
    spec = config.cache_spec(None, None, 10, {"RERANKER_CACHE": "SQLite:/tmp/r.db", "RERANKER_CACHE_TTL": "5"})
    assert (spec.kind, spec.path, spec.ttl, spec.maxsize) == (CacheKind.SQLITE, Path("/tmp/r.db"), 5.0, 10)
    assert spec.sources == ("RERANKER_CACHE", "RERANKER_CACHE_TTL", "cache_maxsize")
    assert str(spec) == "sqlite:/tmp/r.db" and CacheSpec.parse(str(spec)).path == spec.path
    assert config.cache_spec("off", environ={"RERANKER_CACHE_TTL": "not a number"}) == CacheSpec()
    with pytest.raises(ConfigError, match="RERANKER_CACHE='redis' is not valid; choose 'off', .* or 'redis://"):
        config.cache_spec(environ={"RERANKER_CACHE": "redis"})


def test_embedder_spec():
    assert EmbedderSpec.parse(None).model == config.DEFAULT_EMBED_MODEL
    assert EmbedderSpec.parse(" org/embedder ", "--embed-model").model == "org/embedder"
    with pytest.raises(ConfigError, match="--embed-model='' is not valid"):
        EmbedderSpec.parse("", "--embed-model")


def test_embedder_grammar_and_spec_settings():
    from ragsift.config import EmbedderType, embedder_spec

    assert EmbedderSpec.parse("openai=text-embedding-3-large").type is EmbedderType.OPENAI
    nim = EmbedderSpec.parse("NIM", "--embedder")
    assert (nim.model, nim.query_input_type, nim.document_input_type, nim.truncate) == (
        "nvidia/nv-embedqa-e5-v5", "query", "passage", "END")
    assert EmbedderSpec.parse("st=org/e5").type is EmbedderType.SENTENCE_TRANSFORMERS
    assert EmbedderSpec.parse("./openai").model == "./openai"  # a folder named like a type
    assert EmbedderSpec.from_dict(nim.to_dict()) == nim and str(nim) == "nim=nvidia/nv-embedqa-e5-v5"
    assert embedder_spec() is None
    spec = embedder_spec("openai", "m", base_url="http://h:1/v1/", input_types="query,passage", dimensions=256)
    assert (spec.model, spec.base_url, spec.query_input_type, spec.dimensions) == ("m", "http://h:1/v1", "query", 256)
    assert spec.same_embeddings(embedder_spec("openai=m", base_url="http://other/v1", input_types="query,passage",
                                              dimensions=256))  # the URL is where, not what
    assert spec.differences(EmbedderSpec.parse("openai=m")) == ["dimensions", "query_input_type", "document_input_type"]
    with pytest.raises(ConfigError, match=r"truncate='middle' is not valid; choose one of NONE, START, END"):
        EmbedderSpec("m", type="cohere", truncate="middle")
    with pytest.raises(ConfigError, match="dimensions=8 given for the local model"):
        EmbedderSpec("org/model", dimensions=8)
    with pytest.raises(ConfigError, match=r"unknown embedder settings \['api_key'\]"):
        EmbedderSpec.from_dict({**nim.to_dict(), "api_key": "x"})


def test_every_variable_is_documented():
    from ragsift.quickstart import guide_dir
    from ragsift.service import settings

    docs = (guide_dir() / "09-configuration.md").read_text(encoding="utf-8") + (settings.__doc__ or "")
    missing = [var for row in config.SETTINGS.values() for var in row.env if var not in docs]
    assert missing == []
