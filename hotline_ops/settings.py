"""Settings: ``hotline-ops.yaml`` + ``HOTLINE_OPS_*`` env overrides -> a frozen Settings.

Env overrides use ``__`` for nesting (``HOTLINE_OPS_SITE__NAME``). Any override may instead
name a file with the ``_FILE`` suffix (``HOTLINE_OPS_DATABASE_URL_FILE``), the usual way
container secrets arrive. Secrets proper come only from ``HOTLINE_OPS_SECRET_<NAME>`` or
``HOTLINE_OPS_SECRET_<NAME>_FILE``: never from the YAML, which lives in git.
"""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from hotline_ops import yamlfile
from hotline_ops.errors import ConfigError

ENV_PREFIX = "HOTLINE_OPS_"
SECRET_PREFIX = "HOTLINE_OPS_SECRET_"
# Variables that steer the CLI itself rather than override a settings field.
RESERVED_ENV = {"HOTLINE_OPS_CONFIG"}
DEFAULT_CONFIG = "hotline-ops.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Site(_Strict):
    name: str = Field(min_length=1)
    code: str = "wuzhou-12345"


class Paths(_Strict):
    probes: Path = Path("probes")
    incidents: Path = Path("incidents")
    reports: Path = Path("reports")
    runbooks: Path = Path("runbooks")
    playbooks: Path = Path("playbooks")
    tickets: Path = Path("tickets")


class Daemon(_Strict):
    timer_poll_s: float = Field(0.5, gt=0, le=60)
    outbox_poll_s: float = Field(1.0, gt=0, le=60)
    outbox_batch: int = Field(50, ge=1, le=10_000)
    outbox_max_attempts: int = Field(12, ge=1, le=1000)
    backoff_base_s: float = Field(2.0, gt=0)
    backoff_max_s: float = Field(300.0, gt=0)
    claim_lease_s: float = Field(60.0, gt=0)
    # journal: a POST of alerts answers once they are durably journaled and the daemon's
    # consumer opens the incidents; direct: the request opens them before answering.
    alert_ingest: Literal["journal", "direct"] = "journal"
    journal_poll_s: float = Field(1.0, gt=0, le=60)
    journal_batch: int = Field(100, ge=1, le=100_000)
    # How long the journal consumer lets a burst of requests go first (then it catches up).
    journal_defer_s: float = Field(1.0, ge=0, le=60)
    # A new alert's "opened" notice leaves from the request that received it, when it
    # surely opens an incident (services.first_notice); false: it waits for the consumer.
    first_notice: bool = True


class ApiToken(_Strict):
    """A bearer token for the HTTP API; ``secret`` names a secret (never the token itself)."""

    name: str = Field(min_length=1, max_length=100)
    role: Literal["viewer", "ingest", "operator", "admin"]
    secret: str = Field(min_length=1)


class Api(_Strict):
    tokens: list[ApiToken] = Field(default_factory=list)
    public_metrics: bool = True  # false: /metrics needs a viewer token

    @field_validator("tokens")
    @classmethod
    def _unique_names(cls, value: list[ApiToken]) -> list[ApiToken]:
        names = [t.name for t in value]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise ValueError(f"token name '{dup}' is used twice")
        return value


class Routing(_Strict):
    """Signed acknowledgement links in pages (issue [4/7]); no secret, no links."""

    ack_secret: str = "ack"  # HOTLINE_OPS_SECRET_ACK signs the links (HMAC-SHA256)
    public_url: str | None = None  # how on-call phones reach the server; default http://listen
    ack_ttl_s: float = Field(86400.0, gt=0, le=30 * 86400)


class Watchdog(_Strict):
    """Dead-man heartbeat (healthchecks.io style) and `hotline-ops selfcheck`."""

    heartbeat_url_secret: str | None = None  # a secret: such URLs are bearer credentials
    heartbeat_every_s: float = Field(60.0, ge=5, le=3600)
    heartbeat_method: Literal["GET", "POST"] = "POST"
    timeout_s: float = Field(10.0, gt=0, le=60)
    stall_after_s: float = Field(120.0, ge=5)  # a loop older than this has stalled
    alert_channel: str | None = None  # selfcheck alerts through it


class Settings(_Strict):
    site: Site
    timezone: str = "Asia/Shanghai"
    data_dir: Path = Path("var")
    database_url: SecretStr | None = None
    listen: str = "127.0.0.1:8345"
    log_level: str = "INFO"
    paths: Paths = Paths()
    daemon: Daemon = Daemon()
    api: Api = Api()
    routing: Routing = Routing()
    watchdog: Watchdog = Watchdog()
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    root: Path = Path(".")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone '{value}'") from exc
        return value

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        split_listen(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return value.upper()

    def path(self, relative: Path) -> Path:
        """Resolve a content or data path against the root config file's folder."""
        return relative if relative.is_absolute() else (self.root / relative)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def db_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.path(self.data_dir) / 'hotline-ops.db'}"

    def secret(self, name: str) -> str | None:
        value = self.secrets.get(name)
        return value.get_secret_value() if value is not None else None

    def secret_values(self) -> list[str]:
        """Every secret string, for masking logs and messages (the DB URL's password too)."""
        values = [s.get_secret_value() for s in self.secrets.values()]
        password = _url_password(self.db_url())
        return [v for v in [*values, password] if v]


def split_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"'{value}' is not HOST:PORT")
    return host.strip("[]"), int(port)


def _url_password(url: str) -> str | None:
    rest = url.partition("://")[2]
    userinfo = rest.rpartition("@")[0] if "@" in rest else ""
    return userinfo.partition(":")[2] or None


def load_settings(config: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the root file, apply env overrides and secrets, validate. Raises ConfigError."""
    env = os.environ if env is None else env
    path = Path(config or env.get("HOTLINE_OPS_CONFIG") or DEFAULT_CONFIG)
    doc = yamlfile.load(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.where()}: the root file must be a mapping")
    data = dict(doc.data)
    sources = _apply_env(data, env)
    data["secrets"] = _secrets(env)
    data["root"] = path.resolve().parent
    for field in ("root", "secrets"):
        doc.lines.setdefault((field,), 1)
    return _validate(doc, data, sources)


def _validate(doc: yamlfile.YamlDoc, data: dict, sources: dict[tuple[str, ...], str]) -> Settings:
    try:
        return Settings.model_validate(data)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(str(p) for p in err["loc"])
        # Blame an env variable only for a field it set (or a section it replaced).
        for path, env_name in sources.items():
            if loc[: len(path)] == path:
                raise ConfigError(f"env {env_name}: {'.'.join(loc)}: {err['msg']}") from exc
        raise yamlfile.config_error(exc, doc) from exc


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """Merge HOTLINE_OPS_* overrides into ``data``; return {field path: env var name}."""
    sources: dict[tuple[str, ...], str] = {}
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name in RESERVED_ENV:
            continue
        if name.startswith(SECRET_PREFIX):
            continue
        key, value = _env_value(name, raw)
        parts = key.lower().split("__")
        _set_path(data, parts, value, name)
        sources[tuple(parts)] = name
    return sources


def _env_value(name: str, raw: str) -> tuple[str, Any]:
    key = name[len(ENV_PREFIX) :]
    if key.endswith("_FILE"):
        return key[: -len("_FILE")], _read_secret_file(name, raw)
    # Plain strings: pydantic's lax mode turns "0.5" or "true" into the field's type.
    return key, raw


def _set_path(data: dict[str, Any], parts: list[str], value: Any, env_name: str) -> None:
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"env {env_name}: '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def _secrets(env: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, raw in env.items():
        if not name.startswith(SECRET_PREFIX):
            continue
        key = name[len(SECRET_PREFIX) :]
        if key.endswith("_FILE"):
            found[key[: -len("_FILE")].lower()] = _read_secret_file(name, raw)
        else:
            found.setdefault(key.lower(), raw)
    return found


def _read_secret_file(env_name: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"env {env_name}: cannot read {path}: {exc.strerror}") from exc
