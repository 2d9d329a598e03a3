"""The one settings object every anbu process loads.

Precedence, lowest first: defaults < a TOML file < environment variables (``ANBU_`` prefix,
``__`` between levels, e.g. ``ANBU_KAFKA__BOOTSTRAP_SERVERS``) < command-line flags.
"""

from __future__ import annotations

import os
import re
import secrets
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from config.exceptions import ConfigError
from config.infra import InfluxSettings, KafkaSettings, MqttSettings, StackSettings
from config.sections import (
    AlertSettings,
    DetectorSettings,
    IngestSettings,
    RegistrySettings,
    SeriesSettings,
    WebSettings,
)

_toml_file: ContextVar[Path | None] = ContextVar("anbu_toml_file", default=None)

DEFAULT_CONFIG_FILE = Path("anbu.toml")


class Settings(BaseSettings):
    """All of anbu's settings, one section per component."""

    model_config = SettingsConfigDict(
        env_prefix="ANBU_",
        env_nested_delimiter="__",
        # docker-compose passes unset optional secrets as empty strings: treat them as unset.
        env_ignore_empty=True,
        frozen=True,
        extra="forbid",
    )

    mqtt: MqttSettings = MqttSettings()
    kafka: KafkaSettings = KafkaSettings()
    influx: InfluxSettings = InfluxSettings()
    stack: StackSettings = StackSettings()
    ingest: IngestSettings = IngestSettings()
    detectors: DetectorSettings = DetectorSettings()
    alerts: AlertSettings = AlertSettings()
    registry: RegistrySettings = RegistrySettings()
    web: WebSettings = WebSettings()
    series: SeriesSettings = SeriesSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the sources: flags (init) > environment > TOML file > defaults."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _toml_file.get()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def data_dir(self) -> Path:
        """The data directory, absolute."""
        return self.stack.data_dir.resolve()

    def mqtt_password(self) -> str:
        """The MQTT service account's password (generated once if not configured)."""
        if self.mqtt.password is not None:
            return self.mqtt.password.get_secret_value()
        return _generated_secret(self.data_dir / "secrets" / "mqtt-service")

    def admin_token(self) -> str:
        """The registry's bootstrap admin API token (generated once if not configured)."""
        if self.registry.admin_token is not None:
            return self.registry.admin_token.get_secret_value()
        return _generated_secret(self.data_dir / "secrets" / "admin-token")

    def registry_url(self) -> str:
        """The registry's SQLAlchemy URL."""
        return self.registry.database_url or f"sqlite:///{self.data_dir / 'registry.sqlite3'}"


def _generated_secret(path: Path) -> str:
    """Read a secret from ``path``, creating it (mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def _nest(overrides: dict[str, Any]) -> dict[str, Any]:
    """Turn ``{"kafka.bootstrap_servers": x}`` into ``{"kafka": {"bootstrap_servers": x}}``."""
    nested: dict[str, Any] = {}
    for dotted, value in overrides.items():
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _merge_env_sections(nested: dict[str, Any]) -> dict[str, Any]:
    """Let flags override single fields without discarding the environment's other fields.

    pydantic-settings replaces a whole nested section when init kwargs name it, so the
    environment's values for the same section are merged in underneath first.
    """
    prefix = "ANBU_"
    for key, value in os.environ.items():
        if not key.startswith(prefix):
            continue
        parts = key[len(prefix) :].lower().split("__")
        if len(parts) < 2 or parts[0] not in nested:
            continue
        node = nested
        for part in parts[:-1]:
            existing = node.get(part)
            if not isinstance(existing, dict):
                existing = node.setdefault(part, {}) if existing is None else None
            if existing is None:
                break
            node = existing
        else:
            node.setdefault(parts[-1], value)
    return nested


def describe_validation_error(error: ValidationError) -> ConfigError:
    """Turn pydantic's error into a :class:`ConfigError` naming the first bad setting."""
    first = error.errors()[0]
    setting = ".".join(str(part) for part in first["loc"] if not isinstance(part, int))
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "no such setting"
    return ConfigError(setting or "settings", message)


def load_settings(
    config_file: Path | str | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Load settings from defaults, a TOML file, the environment and flags.

    Args:
        config_file: TOML file; unset: ``$ANBU_CONFIG``, else ``./anbu.toml`` if present.
        overrides: flag values by dotted name (``{"web.port": 9000}``), highest precedence.

    Returns:
        The validated, frozen settings.

    Raises:
        ConfigError: a setting is invalid, or the named config file does not exist.
    """
    path: Path | None
    if config_file is not None:
        path = Path(config_file)
    elif os.environ.get("ANBU_CONFIG"):
        path = Path(os.environ["ANBU_CONFIG"])
    else:
        path = DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.exists() else None
    if path is not None and not path.is_file():
        raise ConfigError("config", f"config file {str(path)!r} does not exist")
    token = _toml_file.set(path)
    try:
        init = _merge_env_sections(_nest(overrides or {}))
        return Settings(**init)
    except ValidationError as exc:
        raise describe_validation_error(exc) from None
    except ValueError as exc:
        # pydantic-settings raises a plain ValueError for env values that are not valid JSON.
        match = re.search(r'field "([^"]+)"', str(exc))
        field = match.group(1) if match else "settings"
        raise ConfigError(field, f"cannot parse the environment's value: {exc}") from None
    finally:
        _toml_file.reset(token)


__all__ = ["ConfigDict", "ConfigError", "Settings", "load_settings"]
