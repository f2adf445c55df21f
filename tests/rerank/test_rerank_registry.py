"""get_reranker / fallback_chain: selection by environment and arguments, options, cache and fallback.

The built-in remote modules are written separately; these tests build ``none`` and small real
rerankers from a plugin module (``module:Class``) written to a temporary directory.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import textwrap

import pytest

from ragsift.errors import ConfigError, MissingDependencyError
from ragsift.rerank import (
    CachedReranker,
    FallbackReranker,
    FirstStageReranker,
    MemoryCache,
    Reranker,
    RerankerType,
    SQLiteCache,
    fallback_chain,
    get_reranker,
)
from ragsift.rerank.registry import ENV_OPTIONS, available_types

PLUGIN = "rerank_doubles"
PLUGIN_SOURCE = '''
from ragsift.errors import RemoteServerError
from ragsift.rerank import Reranker, Scores


class Overlap(Reranker):
    """Raw score = words shared with the query; remembers its options and calls."""

    model_option = "model"
    options = frozenset({"max_length", "timeout", "api_key"})

    def __init__(self, model="overlap-base", *, max_length=512, timeout=30.0, api_key=None):
        self.name = model
        self.max_length = max_length
        self.timeout = timeout
        self.api_key = api_key
        self.calls = 0

    def score(self, query, documents):
        self.calls += 1
        q = set(query.split())
        raw = [float(len(q & set(d.split()))) for d in documents]
        return Scores(raw=raw, relevance=[r / len(q) for r in raw])


class Down(Reranker):
    """A remote reranker whose service is down."""

    model_option = "model"
    options = frozenset({"base_url"})

    def __init__(self, model="down", *, base_url="http://localhost:9"):
        self.name = model
        self.base_url = base_url

    def score(self, query, documents):
        raise RemoteServerError(f"connection refused by {self.base_url}")


class NeedsProject(Reranker):
    name = "needs-project"
    options = frozenset({"project", "location"})
    required_options = frozenset({"project"})

    def __init__(self, *, project, location="us-central1"):
        self.project = project
        self.location = location

    def score(self, query, documents):
        return Scores(raw=[0.0] * len(documents), relevance=[0.0] * len(documents))


def _http_client(*, timeout=10.0, max_retries=3):
    return {"timeout": timeout, "max_retries": max_retries}


class Remoteish(Reranker):
    """Like the remote rerankers: named options, the rest forwarded to an HTTP client."""

    model_option = "model"
    options = frozenset({"base_url", "timeout", "max_retries"})

    def __init__(self, model="remoteish", *, base_url="http://localhost:9", **http_options):
        self.name = model
        self.base_url = base_url
        self.http = _http_client(**http_options)

    def score(self, query, documents):
        return Scores(raw=[0.0] * len(documents), relevance=[0.0] * len(documents))


class Undeclared(Reranker):
    """Declares no option: the registry passes it none, whatever its constructor takes."""

    def __init__(self, model="undeclared", *, max_length=512):
        self.name = model
        self.max_length = max_length

    def score(self, query, documents):
        return Scores(raw=[0.0] * len(documents), relevance=[0.0] * len(documents))


class NotAReranker:
    pass
'''
MISSING_DEP_SOURCE = "import ragsift_absent_dependency_xyz\n"

DOCS = ["a b", "b c", "c", "a"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No RERANKER_* variable leaks in from the machine running the tests."""
    for var in [v for v in os.environ if v.startswith("RERANKER_")]:
        monkeypatch.delenv(var)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The ``rerank_doubles`` module, importable for the duration of one test."""
    (tmp_path / f"{PLUGIN}.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    (tmp_path / "rerank_doubles_missing_dep.py").write_text(MISSING_DEP_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, PLUGIN, raising=False)
    return PLUGIN


# ----------------------------------------------------------------------------- selection


def test_reranker_type_values():
    assert [t.value for t in RerankerType] == [
        "cross-encoder", "llm", "nim", "cohere", "jina", "tei", "vertex", "bedrock", "late-interaction", "none",
    ]


def test_env_type_none(monkeypatch):
    monkeypatch.setenv("RERANKER_TYPE", "none")
    reranker = get_reranker()
    assert isinstance(reranker, FirstStageReranker)
    assert [r.index for r in reranker.rerank("q", DOCS)] == [0, 1, 2, 3]


def test_type_is_case_insensitive():
    assert isinstance(get_reranker(" None "), FirstStageReranker)
    assert isinstance(get_reranker(RerankerType.NONE), FirstStageReranker)


def test_env_selects_plugin_with_model_and_typed_options(plugin, monkeypatch):
    monkeypatch.setenv("RERANKER_TYPE", f"{plugin}:Overlap")
    monkeypatch.setenv("RERANKER_MODEL", "overlap-env")
    monkeypatch.setenv("RERANKER_MAX_LENGTH", "256")
    monkeypatch.setenv("RERANKER_TIMEOUT", "2.5")
    reranker = get_reranker()
    assert type(reranker).__name__ == "Overlap"
    assert reranker.name == "overlap-env"
    assert reranker.max_length == 256 and isinstance(reranker.max_length, int)
    assert reranker.timeout == 2.5 and isinstance(reranker.timeout, float)


@pytest.mark.parametrize(("var", "value"), [("RERANKER_MAX_LENGTH", "long"), ("RERANKER_TIMEOUT", "10s")])
def test_bad_typed_env_option_names_the_variable(plugin, monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=f"{var}='{value}'"):
        get_reranker(f"{plugin}:Overlap")


def test_explicit_arguments_win_over_env(plugin, monkeypatch):
    monkeypatch.setenv("RERANKER_TYPE", f"{plugin}:Overlap")
    monkeypatch.setenv("RERANKER_MODEL", "overlap-env")
    monkeypatch.setenv("RERANKER_MAX_LENGTH", "256")
    reranker = get_reranker(model="overlap-arg", max_length=64)
    assert (reranker.name, reranker.max_length) == ("overlap-arg", 64)
    assert isinstance(get_reranker("none"), FirstStageReranker)


def test_env_model_belongs_to_the_env_type(plugin, monkeypatch):
    monkeypatch.setenv("RERANKER_TYPE", f"{plugin}:Overlap")
    monkeypatch.setenv("RERANKER_MODEL", "overlap-env")
    assert get_reranker(f"{plugin}:Overlap").name == "overlap-env"  # same type: the env model applies
    assert get_reranker(f"{plugin}:Down").name == "down"  # another type: its own default


def test_env_model_is_ignored_by_a_type_without_model(monkeypatch):
    monkeypatch.setenv("RERANKER_TYPE", "none")
    monkeypatch.setenv("RERANKER_MODEL", "BAAI/bge-reranker-base")
    assert isinstance(get_reranker(), FirstStageReranker)


def test_explicit_model_for_a_type_without_model_is_an_error():
    with pytest.raises(ConfigError, match="takes no model.*'BAAI/bge-reranker-base'"):
        get_reranker("none", "BAAI/bge-reranker-base")


def test_class_can_be_passed_directly(plugin):
    module = importlib.import_module(plugin)
    reranker = get_reranker(module.Overlap, "direct", api_key="k")
    assert (reranker.name, reranker.api_key) == ("direct", "k")


@pytest.mark.parametrize(("setup", "param"), [("arg", "type"), ("env", "RERANKER_TYPE")])
def test_unknown_type_lists_the_valid_ones(monkeypatch, setup, param):
    if setup == "env":
        monkeypatch.setenv("RERANKER_TYPE", "colbert")
        call = get_reranker
    else:
        call = lambda: get_reranker("colbert")  # noqa: E731
    with pytest.raises(ConfigError) as info:
        call()
    message = str(info.value)
    assert f"{param}='colbert'" in message
    for rtype in RerankerType:
        assert repr(rtype.value) in message


def test_unknown_option_lists_the_accepted_ones(plugin):
    with pytest.raises(ConfigError) as info:
        get_reranker(f"{plugin}:Overlap", temperature=0.0, max_length=128)
    message = str(info.value)
    assert "'temperature'" in message
    for accepted in ("model", "max_length", "timeout", "api_key"):
        assert accepted in message


def test_unknown_option_for_none():
    with pytest.raises(ConfigError, match="'api_key' not accepted by reranker 'none'"):
        get_reranker("none", api_key="secret")


def test_env_options_go_only_where_accepted(plugin, monkeypatch):
    monkeypatch.setenv("RERANKER_API_KEY", "secret")
    monkeypatch.setenv("RERANKER_BASE_URL", "http://tei:8080")
    assert isinstance(get_reranker("none"), FirstStageReranker)
    assert get_reranker(f"{plugin}:Overlap").api_key == "secret"
    assert get_reranker(f"{plugin}:Down").base_url == "http://tei:8080"


def test_timeout_and_retries_reach_a_kwargs_constructor(plugin, monkeypatch):
    monkeypatch.setenv("RERANKER_TIMEOUT", "4")
    monkeypatch.setenv("RERANKER_MAX_RETRIES", "1")
    monkeypatch.setenv("RERANKER_MAX_LENGTH", "64")  # not a passthrough option: not forwarded
    reranker = get_reranker(f"{plugin}:Remoteish")
    assert reranker.http == {"timeout": 4.0, "max_retries": 1}


def test_option_not_declared_by_a_kwargs_constructor_is_config_error(plugin):
    """Options are declared, not discovered: a **kwargs constructor takes only what it declares."""
    expected = r"'retries' not accepted by reranker .*Remoteish.*base_url, max_retries, model, timeout"
    with pytest.raises(ConfigError, match=expected):
        get_reranker(f"{plugin}:Remoteish", retries=2)


def test_undeclared_options_are_never_passed(plugin, monkeypatch):
    monkeypatch.setenv("RERANKER_MAX_LENGTH", "64")
    assert get_reranker(f"{plugin}:Undeclared").max_length == 512  # the signature is not inspected
    with pytest.raises(ConfigError, match="'max_length' not accepted by reranker .*Undeclared.*: \\(none\\)"):
        get_reranker(f"{plugin}:Undeclared", max_length=64)
    with pytest.raises(ConfigError, match="takes no model"):
        get_reranker(f"{plugin}:Undeclared", "some-model")


def test_missing_required_option_names_the_variable(plugin, monkeypatch):
    with pytest.raises(ConfigError, match="needs 'project': set RERANKER_PROJECT or pass project="):
        get_reranker(f"{plugin}:NeedsProject")
    monkeypatch.setenv("RERANKER_PROJECT", "my-gcp-project")
    assert get_reranker(f"{plugin}:NeedsProject").project == "my-gcp-project"
    assert get_reranker(f"{plugin}:NeedsProject", project="explicit").project == "explicit"


def test_unimportable_plugin_module_is_config_error():
    with pytest.raises(ConfigError, match="'no_such_module_xyz' not found"):
        get_reranker("no_such_module_xyz:Reranker")


def test_missing_third_party_dependency_says_how_to_install(plugin):
    with pytest.raises(MissingDependencyError, match="pip install ragsift-absent-dependency-xyz"):
        get_reranker("rerank_doubles_missing_dep:Anything")


@pytest.mark.parametrize(("name", "match"), [("NotAReranker", "not a subclass"), ("Nope", "no attribute 'Nope'")])
def test_plugin_must_name_a_reranker_class(plugin, name, match):
    with pytest.raises(ConfigError, match=match):
        get_reranker(f"{plugin}:{name}")


def test_builtin_type_without_its_module_lists_the_available_ones():
    absent = [t for t in RerankerType if t not in available_types()]
    if not absent:
        pytest.skip("every built-in reranker module is present")
    with pytest.raises(ConfigError, match=f"type '{absent[0].value}' is not available.*'none'"):
        get_reranker(absent[0])


# ----------------------------------------------------------------------------- cache


def test_cache_from_env_wraps_and_hits(plugin, monkeypatch):
    monkeypatch.setenv("RERANKER_TYPE", f"{plugin}:Overlap")
    monkeypatch.setenv("RERANKER_CACHE", "memory")
    monkeypatch.setenv("RERANKER_CACHE_TTL", "5")
    monkeypatch.setenv("RERANKER_CACHE_MAXSIZE", "10")
    reranker = get_reranker()
    assert isinstance(reranker, CachedReranker) and isinstance(reranker.cache, MemoryCache)
    assert (reranker.cache.ttl, reranker.cache.maxsize) == (5.0, 10)
    first = reranker.rerank("a b", DOCS)
    assert reranker.rerank("a b", DOCS) == first
    assert reranker.inner.calls == 1
    assert reranker.cache.stats()["hits"] == 4


def test_sqlite_cache_from_env(plugin, monkeypatch, tmp_path):
    path = tmp_path / "cache" / "rerank.db"
    monkeypatch.setenv("RERANKER_CACHE", f"sqlite:{path}")
    reranker = get_reranker(f"{plugin}:Overlap")
    assert isinstance(reranker.cache, SQLiteCache)
    reranker.rerank("a", DOCS)
    assert path.is_file()
    again = get_reranker(f"{plugin}:Overlap")
    again.rerank("a", DOCS)
    assert again.inner.calls == 0  # scored by the first object, read back from the file


def test_explicit_cache_off_beats_env(plugin, monkeypatch):
    monkeypatch.setenv("RERANKER_CACHE", "memory")
    assert type(get_reranker(f"{plugin}:Overlap", cache="off")).__name__ == "Overlap"


def test_cache_object_can_be_shared(plugin):
    store = MemoryCache()
    reranker = get_reranker(f"{plugin}:Overlap", cache=store)
    assert reranker.cache is store


@pytest.mark.parametrize("spec", ["redis", "sqlite:", "disk"])
def test_bad_cache_spec_lists_the_choices(monkeypatch, spec):
    monkeypatch.setenv("RERANKER_CACHE", spec)
    with pytest.raises(ConfigError, match="RERANKER_CACHE=.*'off', 'memory', 'sqlite:PATH' or 'redis://HOST:PORT/DB'"):
        get_reranker("none")


def test_bad_redis_url_says_how_to_write_one(monkeypatch):
    monkeypatch.setenv("RERANKER_CACHE", "redis://localhost:port/0")
    with pytest.raises(ConfigError, match=r"RERANKER_CACHE=.*not a valid Redis URL; use redis://"):
        get_reranker("none")


def test_bad_cache_ttl_names_the_variable(plugin, monkeypatch):
    monkeypatch.setenv("RERANKER_CACHE", "memory")
    monkeypatch.setenv("RERANKER_CACHE_TTL", "-1")
    with pytest.raises(ConfigError, match="ttl=-1.0.*RERANKER_CACHE_TTL"):
        get_reranker(f"{plugin}:Overlap")


def test_first_stage_is_never_cached(monkeypatch):
    monkeypatch.setenv("RERANKER_TYPE", "none")
    monkeypatch.setenv("RERANKER_CACHE", "memory")
    assert isinstance(get_reranker(), FirstStageReranker)


# ----------------------------------------------------------------------------- fallback


def test_fallback_from_env(plugin, monkeypatch):
    monkeypatch.setenv("RERANKER_TYPE", f"{plugin}:Down")
    monkeypatch.setenv("RERANKER_FALLBACK", "none")
    reranker = get_reranker()
    assert isinstance(reranker, FallbackReranker)
    assert [r.index for r in reranker.rerank("a", DOCS)] == [0, 1, 2, 3]
    assert reranker.last_used == "none"
    assert reranker.stats["failed"] == {"down": 1, "none": 0}


def test_fallback_links_take_their_own_model_and_the_cache(plugin, monkeypatch):
    monkeypatch.setenv("RERANKER_TYPE", f"{plugin}:Down")
    monkeypatch.setenv("RERANKER_FALLBACK", f"{plugin}:Overlap=overlap-fallback, none")
    monkeypatch.setenv("RERANKER_CACHE", "memory")
    reranker = get_reranker()
    assert reranker.labels == ["down", "overlap-fallback", "none"]
    kinds = [type(link).__name__ for link in reranker.chain]
    assert kinds == ["CachedReranker", "CachedReranker", "FirstStageReranker"]
    reranker.rerank("a b", DOCS)
    reranker.rerank("a b", DOCS)
    assert reranker.last_used == "overlap-fallback"
    assert reranker.chain[1].inner.calls == 1


def test_explicit_fallback_off_beats_env(plugin, monkeypatch):
    monkeypatch.setenv("RERANKER_FALLBACK", "none")
    assert type(get_reranker(f"{plugin}:Down", fallback="off")).__name__ == "Down"


def test_fallback_chain_from_spec(plugin):
    chain = fallback_chain(f"{plugin}:Down, {plugin}:Overlap=ce-like, none", base_url="http://nim:8000")
    assert chain.labels == ["down", "ce-like", "none"]
    assert chain.chain[0].base_url == "http://nim:8000"  # each option goes where it is accepted
    assert chain.rerank("a b", DOCS)[0].index == 0
    assert chain.last_used == "ce-like"


def test_fallback_chain_reads_no_environment(plugin, monkeypatch):
    monkeypatch.setenv("RERANKER_BASE_URL", "http://from-env:1")
    monkeypatch.setenv("RERANKER_CACHE", "memory")
    chain = fallback_chain(f"{plugin}:Down,none")
    assert chain.chain[0].base_url == "http://localhost:9"
    assert type(chain.chain[0]).__name__ == "Down"


def test_fallback_chain_option_accepted_by_no_link(plugin):
    with pytest.raises(ConfigError, match="'temperature' not accepted by any reranker in the chain"):
        fallback_chain(f"{plugin}:Down,none", temperature=0.2)


@pytest.mark.parametrize(
    ("spec", "kwargs", "match"),
    [
        ("", {}, "names no reranker"),
        ("none,,none", {}, "empty entry"),
        ("none,colbert", {}, "'colbert' is not valid"),
        ("none", {"model": "x"}, "takes no model="),
        ("none=some-model", {}, "takes no model"),
    ],
)
def test_fallback_chain_spec_errors(spec, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        fallback_chain(spec, **kwargs)


# ----------------------------------------------------------------------------- concrete modules, lazily


def test_env_option_table_is_documented():
    import ragsift.rerank.registry as registry

    for var, _kind in ENV_OPTIONS.values():
        assert var in registry.__doc__
    for var in ("RERANKER_TYPE", "RERANKER_MODEL", "RERANKER_FALLBACK", "RERANKER_CACHE", "RERANKER_CACHE_TTL"):
        assert var in registry.__doc__


def test_llm_is_built_lazily_with_model_positional(monkeypatch):
    if importlib.util.find_spec("ragsift.rerank.llm") is None:
        pytest.skip("ragsift.rerank.llm is not written yet")
    monkeypatch.setenv("RERANKER_MAX_LENGTH", "128")  # not an LLM option: ignored there
    reranker = get_reranker("llm", "tiny-llm", base_url="http://localhost:1/v1", timeout=3.0)
    assert type(reranker).__name__ == "LLMReranker"
    assert isinstance(reranker, Reranker)
    assert "tiny-llm" in reranker.name
    with pytest.raises(ConfigError, match="needs 'model': set RERANKER_MODEL or pass model="):
        get_reranker("llm")


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not written yet")


def test_remote_types_take_model_and_env_options(monkeypatch):
    _need("ragsift.rerank.remote.cohere")
    monkeypatch.setenv("RERANKER_TYPE", "cohere")
    monkeypatch.setenv("RERANKER_MODEL", "rerank-english-v3.0")
    monkeypatch.setenv("RERANKER_API_KEY", "test-key")
    monkeypatch.setenv("RERANKER_TIMEOUT", "7")
    reranker = get_reranker()
    assert type(reranker).__name__ == "CohereReranker"
    assert "rerank-english-v3.0" in reranker.name


def test_remote_required_options_name_their_variables():
    _need("ragsift.rerank.remote.vertex")
    _need("ragsift.rerank.remote.bedrock")
    with pytest.raises(ConfigError, match="needs 'project': set RERANKER_PROJECT or pass project="):
        get_reranker("vertex")
    with pytest.raises(ConfigError, match="needs 'model_arn': set RERANKER_MODEL or pass model="):
        get_reranker("bedrock")


def test_tei_takes_no_model():
    _need("ragsift.rerank.remote.tei")
    with pytest.raises(ConfigError, match="'tei'.*takes no model"):
        get_reranker("tei", "BAAI/bge-reranker-base")


def test_cross_encoder_is_built_lazily_by_the_registry(monkeypatch):
    _need("ragsift.rerank.cross_encoder")
    monkeypatch.setenv("RERANKER_MODEL", "cross-encoder/ms-marco-MiniLM-L-6-v2")
    reranker = get_reranker()  # cross-encoder is the default type
    assert type(reranker).__name__ == "CrossEncoderReranker"
    assert isinstance(reranker, Reranker)


def test_env_option_aliases_reach_remote_clients(monkeypatch):
    """RERANKER_BATCH_SIZE fills max_batch and RERANKER_API_KEY fills Vertex's access_token."""
    pytest.importorskip("ragsift.rerank.remote.vertex")
    monkeypatch.setenv("RERANKER_BATCH_SIZE", "7")
    monkeypatch.setenv("RERANKER_API_KEY", "token-123")
    monkeypatch.setenv("RERANKER_PROJECT", "proj")
    monkeypatch.delenv("GOOGLE_ACCESS_TOKEN", raising=False)
    reranker = get_reranker("vertex")  # without the alias: "VertexReranker needs an OAuth access token"
    assert reranker.max_batch == 7
