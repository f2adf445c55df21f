"""ServiceSettings: TOML file < environment < explicit arguments; errors name setting, value and source."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragsift import config
from ragsift.config import CacheKind, CacheSpec
from ragsift.errors import ConfigError
from ragsift.service import ServiceSettings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ragsift.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults():
    s = ServiceSettings.load(environ={})
    # max_length None: the served model's recorded max_length, else 512 (see build_reranker)
    assert (s.host, s.port, s.max_length, s.max_passages, s.queue_max) == ("127.0.0.1", 8000, None, 1000, 64)
    assert s.max_body_bytes == 10 * 1024 * 1024 and s.micro_batching and s.cache == CacheSpec() and s.api_keys == ()


def test_file_then_environment_then_arguments(tmp_path):
    config = write(tmp_path, '[service]\nport = 9000\nqueue_max = 5\nreranker_model = "from-file"\ncache = "memory"\n')
    env = {"RAGSIFT_PORT": "9100", "RERANKER_MODEL": "from-env", "RAGSIFT_MICRO_BATCHING": "false"}
    s = ServiceSettings.load(config, environ=env, queue_max=7, port=None)
    assert s.port == 9100  # env beats file; port=None means "not given"
    assert s.queue_max == 7  # argument beats file
    assert s.reranker_model == "from-env" and s.cache == CacheSpec(CacheKind.MEMORY) and s.micro_batching is False


def test_config_file_from_environment_and_ragsift_variables_win(tmp_path):
    config = write(tmp_path, "[service]\nmax_passages = 10\n")
    env = {"RAGSIFT_CONFIG": str(config), "RERANKER_TYPE": "nim", "RAGSIFT_RERANKER_TYPE": "cohere"}
    s = ServiceSettings.load(environ=env)
    assert s.max_passages == 10 and s.reranker_type == "cohere"


def test_bad_environment_value_names_setting_value_and_variable():
    with pytest.raises(ConfigError) as err:
        ServiceSettings.load(environ={"RAGSIFT_PORT": "eighty"})
    message = str(err.value)
    assert "port='eighty'" in message and "RAGSIFT_PORT" in message and "integer" in message


def test_bad_file_value_names_the_file(tmp_path):
    config = write(tmp_path, "[service]\nbatch_max_size = 0\n")
    expected = r"batch_max_size=0 from .*ragsift.toml \[service\].*greater than or equal to 1"
    with pytest.raises(ConfigError, match=expected):
        ServiceSettings.load(config, environ={})


def test_bad_argument_names_the_argument():
    with pytest.raises(ConfigError, match=r"cache='redis' from argument cache=.*'sqlite:PATH' or 'redis://HOST"):
        ServiceSettings.load(environ={}, cache="redis")


def test_unknown_keys_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown key.*prot"):
        ServiceSettings.load(write(tmp_path, "[service]\nprot = 1\n"), environ={})
    with pytest.raises(ConfigError, match="unknown service setting.*colour"):
        ServiceSettings.load(environ={}, colour="blue")
    with pytest.raises(ConfigError, match="does not exist"):
        ServiceSettings.load(tmp_path / "missing.toml", environ={})


def test_api_keys_are_secret():
    s = ServiceSettings.load(environ={"RAGSIFT_API_KEYS": "alpha-key, beta-key"})
    assert [k.get_secret_value() for k in s.api_keys] == ["alpha-key", "beta-key"]
    assert "alpha-key" not in repr(s) and "alpha-key" not in str(s.describe())
    with pytest.raises(ConfigError) as err:
        ServiceSettings.load(environ={}, api_keys=["good-key", " spaced "])
    assert "spaced" not in str(err.value) and "api_keys=<hidden>" in str(err.value)


@pytest.mark.parametrize("spec", ["off", "memory", "MEMORY", "sqlite:/tmp/x.db"])
def test_cache_specs(spec):
    """The cache setting is parsed once, into a CacheSpec; logs show it as text."""
    settings = ServiceSettings(cache=spec)
    assert settings.cache == CacheSpec.parse(spec)
    assert settings.describe()["cache"] == str(settings.cache) and str(settings.cache).lower() == spec.lower()


def test_reranker_model_of_another_type_is_not_the_service_model():
    """RERANKER_MODEL belongs to RERANKER_TYPE: a Cohere model id never becomes the cross-encoder."""
    env = {"RERANKER_TYPE": "cohere", "RERANKER_MODEL": "rerank-v3.5"}
    assert ServiceSettings.load(environ=env).reranker_model == "rerank-v3.5"  # type from the same place
    assert ServiceSettings.load(environ=env, reranker_type="cross-encoder").reranker_model is None
    ragsift_env = {**env, "RAGSIFT_RERANKER_MODEL": "my/ce"}
    assert ServiceSettings.load(environ=ragsift_env, reranker_type="cross-encoder").reranker_model == "my/ce"


def test_every_setting_is_a_row_of_the_config_table():
    for name, info in ServiceSettings.model_fields.items():
        row = config.SETTINGS[config.service_row(name)]  # service.NAME, or a row shared with the CLI (llm_*)
        default = str(info.default) if name == "cache" else info.default
        assert row.default == default, name


def test_settings_are_immutable():
    s = ServiceSettings()
    with pytest.raises(Exception):
        s.port = 1  # type: ignore[misc]


def test_the_llm_settings_are_shared_with_the_cli_rows():
    env = {"RAGSIFT_LLM_URL": "http://llm:8001/v1", "RAGSIFT_LLM_MODEL": "m", "OPENAI_API_KEY": "sk-openai-1",
           "RAGSIFT_LLM_TIMEOUT_S": "12.5"}
    s = ServiceSettings.load(environ=env)
    assert (s.llm_url, s.llm_model, s.llm_timeout_s) == ("http://llm:8001/v1", "m", 12.5)
    assert s.llm_api_key.get_secret_value() == "sk-openai-1"
    assert ServiceSettings.load(environ={**env, "RAGSIFT_LLM_API_KEY": "sk-llm-2"}).llm_api_key.get_secret_value() == "sk-llm-2"
    assert config.get("llm.url", env) == s.llm_url and config.get("credentials.llm", env) == "sk-openai-1"
    assert "sk-openai-1" not in str(s.describe())
    with pytest.raises(ConfigError, match="llm_timeout_s.*RAGSIFT_LLM_TIMEOUT_S"):
        ServiceSettings.load(environ={"RAGSIFT_LLM_TIMEOUT_S": "0"})
