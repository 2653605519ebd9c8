from pathlib import Path

import pytest

from todostream.config import (
    DEFAULTS_DIR,
    ConfigurationError,
    LogFormat,
    LogLevel,
    PubSubMode,
    Settings,
    load_settings,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings the machine running the tests happens to export must not leak in."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)


def refusal(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    return str(caught.value)


def test_every_setting_has_a_working_default() -> None:
    settings = load_settings()

    assert settings.database_url == "sqlite+aiosqlite:///./todostream.db"
    assert settings.pubsub_mode is PubSubMode.DIRECT
    assert settings.pubsub_component == DEFAULTS_DIR / "pubsub-in-memory.yaml"
    assert settings.pubsub_component.is_file()
    assert settings.constitution_file.is_file()
    assert settings.auth_jwt_secret is None
    assert settings.auth_anonymous is True
    assert settings.log_format is LogFormat.CONSOLE
    assert settings.log_level is LogLevel.INFO
    assert settings.relay_poll_interval_ms == 500


def test_settings_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    component = tmp_path / "kafka.yaml"
    component.write_text("kind: Component\n", encoding="utf-8")
    monkeypatch.setenv("PUBSUB_MODE", "dapr")
    monkeypatch.setenv("PUBSUB_COMPONENT", str(component))
    monkeypatch.setenv("RELAY_POLL_INTERVAL_MS", "20")
    monkeypatch.setenv("AUTH_ANONYMOUS", "false")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://todo@db/todostream")

    settings = load_settings()

    assert settings.pubsub_mode is PubSubMode.DAPR
    assert settings.pubsub_component == component
    assert settings.relay_poll_interval_ms == 20
    assert settings.auth_anonymous is False
    assert settings.database_url == "postgresql+asyncpg://todo@db/todostream"


def test_the_log_level_and_variable_names_are_read_in_any_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("log_level", "debug")

    assert load_settings().log_level is LogLevel.DEBUG


def test_keyword_overrides_win_over_the_defaults() -> None:
    assert load_settings(relay_batch_size=7).relay_batch_size == 7


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOG_LEVEL", "loud"),
        ("LOG_FORMAT", "xml"),
        ("PUBSUB_MODE", "carrier-pigeon"),
        ("DATABASE_URL", "mysql://x"),
        ("PUBSUB_COMPONENT", "/nonexistent.yaml"),
        ("CONSTITUTION_FILE", "/nonexistent/constitution.yaml"),
        ("RELAY_POLL_INTERVAL_MS", "-5"),
        ("RELAY_POLL_INTERVAL_MS", "soon"),
        ("DAPR_HTTP_PORT", "70000"),
        ("AUTH_ANONYMOUS", "maybe"),
        ("LOCAL_USER_ID", ""),
        ("OUTBOX_RETENTION_HOURS", "nan"),
    ],
)
def test_a_malformed_setting_is_refused_in_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    message = refusal(monkeypatch, **{variable: value})

    assert message.startswith(f"invalid configuration: {variable}: ")
    assert len(message.splitlines()) == 1


def test_a_directory_is_refused_where_a_file_is_needed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    message = refusal(monkeypatch, CONSTITUTION_FILE=str(tmp_path))

    assert message == (
        f"invalid configuration: CONSTITUTION_FILE: Value error, file {tmp_path} does not exist"
    )


def test_every_malformed_setting_is_named_on_the_same_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = refusal(monkeypatch, LOG_LEVEL="loud", PUBSUB_MODE="carrier-pigeon")

    assert "LOG_LEVEL: " in message
    assert "PUBSUB_MODE: " in message
    assert len(message.splitlines()) == 1


def test_the_refusal_hides_the_validation_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBSUB_MODE", "carrier-pigeon")

    with pytest.raises(ConfigurationError) as caught:
        load_settings()

    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_an_infinite_outbox_retention_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # timedelta(hours=inf) raises OverflowError when the runtime is built.
    message = refusal(monkeypatch, OUTBOX_RETENTION_HOURS="inf")

    assert "OUTBOX_RETENTION_HOURS" in message


def test_a_file_setting_with_a_line_break_is_still_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = refusal(monkeypatch, PUBSUB_COMPONENT="/nonexistent\n.yaml")

    assert "PUBSUB_COMPONENT" in message
    assert len(message.splitlines()) == 1
