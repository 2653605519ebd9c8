"""Process configuration: one settings object read from the environment at start-up."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULTS_DIR = PACKAGE_DIR / "defaults"
MIN_SECRET_BYTES = 32


class PubSubMode(StrEnum):
    DIRECT = "direct"
    DAPR = "dapr"


class LogFormat(StrEnum):
    CONSOLE = "console"
    JSON = "json"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class Settings(BaseSettings):
    """Every setting has a working default for the embedded, single-process mode."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///./todostream.db"
    database_pool_size: Annotated[int, Field(ge=1, le=200)] = 20
    pubsub_component: Path = DEFAULTS_DIR / "pubsub-in-memory.yaml"
    pubsub_mode: PubSubMode = PubSubMode.DIRECT
    dapr_http_port: Annotated[int, Field(ge=1, le=65535)] = 3500
    constitution_file: Path = DEFAULTS_DIR / "constitution.yaml"
    auth_jwt_secret: SecretStr | None = None
    auth_anonymous: bool = True
    local_user_id: Annotated[str, Field(min_length=1, max_length=255)] = "local"
    cors_allow_origins: str = "*"
    log_format: LogFormat = LogFormat.CONSOLE
    log_level: LogLevel = LogLevel.INFO
    relay_enabled: bool = True
    relay_poll_interval_ms: Annotated[int, Field(ge=10, le=60_000)] = 500
    relay_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 200
    relay_max_backoff_ms: Annotated[int, Field(ge=100, le=600_000)] = 30_000
    outbox_retention_hours: Annotated[float, Field(ge=0, le=24 * 366)] = 24.0
    consumer_max_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    consumer_retry_backoff_ms: Annotated[int, Field(ge=0, le=600_000)] = 200
    consumer_gap_wait_ms: Annotated[int, Field(ge=0, le=600_000)] = 5_000

    @field_validator("auth_jwt_secret", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("auth_jwt_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes for HS256")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("pubsub_component", "constitution_file")
    @classmethod
    def _file_must_exist(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")
        return value


class ConfigurationError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{name}: {error['msg']}")
        one_line = " ".join("; ".join(problems).split())
        raise ConfigurationError(f"invalid configuration: {one_line}") from None
