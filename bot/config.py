"""Settings, read from the environment and an optional ``.env`` file.

The variable names are a contract with operators and tests (see the README's table);
secrets are ``SecretStr`` so they never show up in a repr, a log line or a traceback.
"""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.capabilities import ModelCapability
from bot.errors import ConfigError
from bot.governance._prices import PriceEntry
from bot.governance._refunds import RefundKind

Dialect = Literal["v2", "sora", "unified", "openai", "video-create"]
DIALECTS: tuple[Dialect, ...] = ("v2", "sora", "unified", "openai", "video-create")


DEFAULT_PROVIDER = "default"


class ProviderConfig(BaseModel):
    """One configured provider (an entry of ``SORA_PROVIDERS``), or the single
    ``default`` one made from ``SORA_API_URL``/``SORA_API_KEY``/``SORA_API_DIALECT``.

    ``url`` and ``key`` are None only for the default provider while no key is
    set: the built-in simulator serves then. ``models`` narrows or renames the
    dialect's models (``sent_as`` is the relay's own name); ``priority`` orders
    the providers (lower first; ties keep the list order).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    dialect: Dialect
    url: str | None = None
    key: SecretStr | None = None
    models: tuple[ModelCapability, ...] | None = Field(default=None, min_length=1)
    watermark: bool | None = None
    priority: int = 0

    @field_validator("url", mode="after")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


def parse_providers(
    raw: str, source: str, *, toml: bool = False
) -> tuple[ProviderConfig, ...]:
    """``SORA_PROVIDERS`` (JSON) or a providers file (JSON or TOML), in priority
    order. Raises ``ConfigError`` naming the entry and field; never the input
    (it holds keys).

    A TOML file lists them as ``[[providers]]`` tables; a JSON file may be the
    list itself or ``{"providers": [...]}``.
    """
    try:
        data: Any = tomllib.loads(raw) if toml else json.loads(raw)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if toml else "JSON"
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ConfigError(f"{source} is not valid {kind}{where}.") from None
    if isinstance(data, dict) and "providers" in data:
        data = data["providers"]
    if not isinstance(data, list) or not data:
        raise ConfigError(
            f"{source} must be a non-empty list of providers, each with name, "
            "dialect, url and key."
        )
    entries: list[ProviderConfig] = []
    for number, item in enumerate(data, start=1):
        label = f"{source} entry {number}"
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            label += f" ({item['name']!r})"
        try:
            entry = ProviderConfig.model_validate(item)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg']}"
                for err in exc.errors(include_input=False)
            )
            raise ConfigError(f"{label}: {problems}.") from None
        missing = [f for f in ("url", "key") if getattr(entry, f) is None]
        if missing:
            raise ConfigError(f"{label}: {' and '.join(missing)} missing.")
        if entry.key is not None and not entry.key.get_secret_value().strip():
            raise ConfigError(f"{label}: key is empty.")
        entries.append(entry)
    names = [e.name for e in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{source}: the name {twice[0]!r} is used twice.")
    # sorted() is stable: equal priorities keep the order they were listed in.
    return tuple(sorted(entries, key=lambda e: e.priority))


class Settings(BaseSettings):
    """Everything an operator can set; defaults run on SQLite and the simulator."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Provider
    sora_api_url: str | None = Field(default=None, alias="SORA_API_URL")
    sora_api_key: SecretStr | None = Field(default=None, alias="SORA_API_KEY")
    sora_api_dialect: Dialect = Field(default="openai", alias="SORA_API_DIALECT")
    # Unset: the provider's first model (``turbo`` on ``sora``, else ``sora-2``).
    sora_model: str | None = Field(default=None, alias="SORA_MODEL")
    # Unset: every model the dialect's document has; else narrows and renames them.
    sora_models: tuple[ModelCapability, ...] | None = Field(
        default=None, alias="SORA_MODELS"
    )
    sora_webhook_secret: SecretStr | None = Field(
        default=None, alias="SORA_WEBHOOK_SECRET"
    )
    # Several providers with failover (a JSON list, or a JSON/TOML file of them).
    sora_providers: Annotated[str | None, NoDecode] = Field(
        default=None, alias="SORA_PROVIDERS", repr=False
    )
    sora_providers_file: Path | None = Field(default=None, alias="SORA_PROVIDERS_FILE")
    # Seconds a create is given in all before the member is told.
    sora_create_timeout: float = Field(default=60.0, gt=0, alias="SORA_CREATE_TIMEOUT")
    # Simulator speed: seconds a simulated task takes from queued to completed.
    simulator_duration: float = Field(default=4.0, alias="SIMULATOR_DURATION")

    # Storage and the bot's own HTTP server
    database_url: str = Field(default="sqlite:///sorabot.db", alias="DATABASE_URL")
    media_dir: Path = Field(default=Path("media"), alias="MEDIA_DIR")
    # A finished video larger than this is not downloaded (the disk is finite).
    max_video_mb: int = Field(default=1024, gt=0, alias="MAX_VIDEO_MB")
    public_url: str | None = Field(default=None, alias="PUBLIC_URL")
    http_host: str = Field(default="127.0.0.1", alias="HTTP_HOST")
    http_port: int = Field(default=8080, alias="HTTP_PORT")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    # How long a video too large for the platform stays linked at PUBLIC_URL/media.
    video_link_days: int = Field(default=7, ge=1, alias="VIDEO_LINK_DAYS")
    # json: one object per line for log pipelines; text stays readable for people.
    log_format: Literal["text", "json"] = Field(default="text", alias="LOG_FORMAT")

    # Tracking
    poll_interval: float = Field(default=10.0, gt=0, alias="POLL_INTERVAL")
    task_deadline: float = Field(default=3600.0, gt=0, alias="TASK_DEADLINE")
    # Replicas on one PostgreSQL database: a replica that stops renewing its
    # leases for this long loses its tasks to the others (bot.tracking.leases).
    lease_time: float = Field(default=30.0, gt=0, alias="LEASE_TIME")
    # This process's name in the leases table and logs; unset: host-pid-random.
    replica_id: str | None = Field(default=None, min_length=1, alias="REPLICA_ID")
    user_concurrency_limit: int = Field(default=3, ge=1, alias="USER_CONCURRENCY_LIMIT")
    # Over the running limits a request waits in line rather than being refused.
    user_queue_limit: int = Field(default=5, ge=0, alias="USER_QUEUE_LIMIT")
    server_concurrency_limit: int | None = Field(
        default=None, ge=1, alias="SERVER_CONCURRENCY_LIMIT"
    )

    # Quotas, budgets and blocked words (bot/governance; unset = no limit)
    user_daily_videos: int | None = Field(default=None, ge=0, alias="USER_DAILY_VIDEOS")
    server_daily_videos: int | None = Field(
        default=None, ge=0, alias="SERVER_DAILY_VIDEOS"
    )
    server_daily_budget: Decimal | None = Field(
        default=None, ge=0, alias="SERVER_DAILY_BUDGET"
    )
    server_monthly_budget: Decimal | None = Field(
        default=None, ge=0, alias="SERVER_MONTHLY_BUDGET"
    )
    sora_prices: tuple[PriceEntry, ...] = Field(default=(), alias="SORA_PRICES")
    currency: str = Field(default="USD", alias="CURRENCY")
    refund_on: Annotated[frozenset[RefundKind], NoDecode] = Field(
        default=frozenset(RefundKind), alias="REFUND_ON"
    )
    blocked_words: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), alias="BLOCKED_WORDS"
    )

    # Discord
    discord_token: SecretStr | None = Field(default=None, alias="DISCORD_TOKEN")
    # Only for the invite link; by default read from the token.
    discord_application_id: int | None = Field(
        default=None, gt=0, alias="DISCORD_APPLICATION_ID"
    )
    discord_api_url: str | None = Field(default=None, alias="DISCORD_API_URL")
    discord_gateway_url: str | None = Field(default=None, alias="DISCORD_GATEWAY_URL")
    # Sharding: how many shards the bot has (None: Discord's recommendation) and
    # which of them this process runs (empty: all).
    discord_shard_count: int | None = Field(
        default=None, ge=1, alias="DISCORD_SHARD_COUNT"
    )
    discord_shard_ids: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(), alias="DISCORD_SHARD_IDS"
    )

    # Slack
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, alias="SLACK_SIGNING_SECRET"
    )
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(default=None, alias="SLACK_API_URL")
    # NoDecode: the variable is a comma-separated list, not JSON.
    slack_admin_users: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), alias="SLACK_ADMIN_USERS"
    )
    # chat.update is Tier 3 (about 50 a minute per workspace); 40 leaves a margin.
    slack_updates_per_minute: float = Field(
        default=40.0, gt=0, alias="SLACK_UPDATES_PER_MINUTE"
    )

    _providers: tuple[ProviderConfig, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _read_providers(self) -> Settings:
        if self.sora_providers and self.sora_providers_file is not None:
            raise ConfigError("Set SORA_PROVIDERS or SORA_PROVIDERS_FILE, not both.")
        if self.sora_providers:
            self._providers = parse_providers(self.sora_providers, "SORA_PROVIDERS")
        elif self.sora_providers_file is not None:
            path = self.sora_providers_file
            try:
                raw = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"SORA_PROVIDERS_FILE: cannot read {path} ({exc.strerror})."
                ) from None
            self._providers = parse_providers(
                raw, f"SORA_PROVIDERS_FILE {path.name}", toml=path.suffix == ".toml"
            )
        return self

    @property
    def providers(self) -> tuple[ProviderConfig, ...]:
        """The configured providers in priority order.

        Without ``SORA_PROVIDERS``/``SORA_PROVIDERS_FILE``: one named ``default``
        from ``SORA_API_URL``/``SORA_API_KEY``/``SORA_API_DIALECT`` (no URL and key
        while no key is set: the built-in simulator serves).
        """
        if self._providers:
            return self._providers
        return (
            ProviderConfig(
                name=DEFAULT_PROVIDER,
                dialect=self.sora_api_dialect,
                url=self.sora_api_url if self.sora_api_key is not None else None,
                key=self.sora_api_key,
                models=self.sora_models,
            ),
        )

    @field_validator("slack_admin_users", "blocked_words", mode="before")
    @classmethod
    def _split_users(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(u.strip() for u in value.split(",") if u.strip())
        return value

    @field_validator("sora_prices", mode="before")
    @classmethod
    def _json_list(cls, value: object) -> object:
        # From the environment pydantic-settings decodes JSON itself; as a keyword
        # (tests, a composition root) the same text must work.
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("refund_on", mode="before")
    @classmethod
    def _split_kinds(cls, value: object) -> object:
        if isinstance(value, str):
            kinds = {k.strip().lower() for k in value.split(",")} - {"", "none"}
            return frozenset(kinds)
        return value

    @field_validator("discord_shard_ids", mode="before")
    @classmethod
    def _parse_shard_ids(cls, value: object) -> object:
        return parse_shard_ids(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _shard_ids_within_count(self) -> Self:
        count = self.discord_shard_count
        beyond = [i for i in self.discord_shard_ids if count is not None and i >= count]
        if beyond:
            raise ValueError(
                f"DISCORD_SHARD_IDS names shard {beyond[0]}, but DISCORD_SHARD_COUNT "
                f"is {count} (shards 0 to {count - 1 if count else 0})"
            )
        return self

    @field_validator("public_url", "sora_api_url", mode="after")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @property
    def use_simulator(self) -> bool:
        """No key means no bill: run against the built-in simulator."""
        return not self._providers and self.sora_api_key is None

    @property
    def discord_enabled(self) -> bool:
        return self.discord_token is not None

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None and (
            self.slack_signing_secret is not None or self.slack_app_token is not None
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value set, so log output can mask them wherever they occur."""
        values = (getattr(self, name) for name in type(self).model_fields)
        return tuple(
            v.get_secret_value()
            for v in values
            if isinstance(v, SecretStr) and v.get_secret_value()
        )


def parse_shard_ids(text: str) -> tuple[int, ...]:
    """``0,1`` or ``0-3`` or ``0-3,8``: the shard ids, sorted, each once.

    Raises ``ValueError`` (pydantic reports it against DISCORD_SHARD_IDS).
    """
    ids: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        first, dash, last = part.partition("-")
        try:
            low, high = int(first), int(last if dash else first)
        except ValueError:
            raise ValueError(
                f"{part!r} is not a shard id or a range like 0-3"
            ) from None
        if low < 0 or high < low:
            raise ValueError(f"{part!r} is not a shard id or a range like 0-3")
        ids.update(range(low, high + 1))
    return tuple(sorted(ids))
