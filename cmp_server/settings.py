"""The one settings object. Everything configurable is here, read once from ``CMP_*``.

>>> Settings(database_url="sqlite://:memory:").database_url
'sqlite://:memory:'
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["DEV_SECRET_KEY", "Settings"]

DEV_SECRET_KEY = "dev-insecure-change-me"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_PROXIES_FORM = "give addresses or networks comma-separated, like 10.0.0.0/8, 192.168.1.1"


class Settings(BaseSettings):
    # hide_input_in_errors: a failed check must not print the settings it saw, the secret key
    # among them.
    model_config = SettingsConfigDict(
        env_prefix="CMP_", frozen=True, extra="forbid", hide_input_in_errors=True
    )

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("var")
    # Empty means a SQLite file in ``data_dir``; see ``resolved_database_url``.
    database_url: str = ""
    # A SecretStr: shown as '**********' in reprs, dumps and validation errors.
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    public_base_url: str = "http://127.0.0.1:8000"
    # Only these peers may tell us the client's address in X-Forwarded-For. From the
    # environment as the README writes it, comma-separated ("10.0.0.0/8, 192.168.1.1"), or a
    # JSON list: NoDecode keeps pydantic-settings from reading it as JSON first.
    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = ()
    max_body_bytes: int = Field(default=16 * 1024, ge=1024)
    # Any admin request's body (every form, the sign-in form included): refused above it.
    admin_max_body_bytes: int = Field(default=1024 * 1024, ge=64 * 1024)
    # A request body that has not fully arrived by then is refused (408): a client sending it
    # a byte at a time must not hold a connection and a task for long.
    body_timeout_seconds: float = Field(default=10.0, gt=0)
    # `cmp-server serve`'s connections (``cmp_server/_serving.py``): a request's line and
    # headers must all arrive within ``header_timeout_seconds`` of the connection opening (or
    # of its first byte, for a later request on a kept-alive connection) and within
    # ``max_header_bytes``, else the connection is closed (slowloris); an idle kept-alive
    # connection is closed after ``keep_alive_seconds``; past ``max_connections`` open
    # connections and running requests, a request is answered 503 at once.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    max_header_bytes: int = Field(default=64 * 1024, ge=8 * 1024)
    keep_alive_seconds: int = Field(default=5, ge=1)
    max_connections: int = Field(default=1000, ge=10)
    # Group commit: the most receipts one transaction takes.
    receipt_batch_max: int = Field(default=512, ge=1)
    # Group-commit writers side by side on PostgreSQL (each visitor always in the same one).
    # One: while a batch commits the next fills, and batches grow with the load. More lanes
    # mean smaller batches and more round trips per receipt (bench/server_bench.py, 3-round
    # runs within the hour: 1 lane 1.20x and 1.21x the probe, 2 lanes 1.09x and 1.21x, 4
    # lanes 1.04x; PostgreSQL's CPU per receipt 28-29 us with 1 lane, 33-41 with 2).
    receipt_writer_lanes: int = Field(default=1, ge=1, le=32)
    # How long a served config may be reused before the newest version is looked up again.
    config_cache_seconds: float = Field(default=2.0, ge=0)
    purge_interval_seconds: float = Field(default=6 * 3600, gt=0)
    # Signed checkpoints (issue 21): how often new receipts are appended to their site's tree
    # and a checkpoint signed; the private key's file (default: signing-key.pem in data_dir).
    checkpoint_interval_seconds: float = Field(default=600, gt=0)
    # Whether `cmp-server serve` takes the checkpoints itself. By default the worker process
    # serve starts (CMP_RUN_WORKER) takes them; with separate `cmp-server worker` processes
    # they do. Either way the server's receipt writer keeps its CPU (BENCHMARKS.md, issue 21).
    checkpoints_in_server: bool | None = None
    signing_key_file: Path | None = None
    # Where each new checkpoint is POSTed (comma-separated http(s) URLs, or a JSON list), and
    # a file that always holds each site's latest checkpoint (services/witness.py).
    witness_urls: Annotated[tuple[str, ...], NoDecode] = ()
    checkpoint_file: Path | None = None
    run_worker: bool = True
    # A staff session ends after this long without a request.
    admin_session_idle_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    # Requests per API token and minute (the JSON admin API, per server process).
    api_requests_per_minute: int = Field(default=600, ge=1)
    allow_private_scan_targets: bool = False
    # Bounds on what a scanned site controls (scanner.ScanLimits); a scan's report says which
    # it reached and how much each left out. Cookies and storage names kept per pass,
    # storage names per origin and pass, characters of a name or URL, the stored report's
    # JSON, requests recorded per pass.
    scan_max_items_per_pass: int = Field(default=1000, ge=1)
    scan_max_storage_keys_per_origin: int = Field(default=200, ge=1)
    scan_max_value_chars: int = Field(default=1000, ge=64)
    scan_max_report_bytes: int = Field(default=4_000_000, ge=64 * 1024)
    scan_max_requests_per_pass: int = Field(default=5000, ge=1)
    chromium: str | None = None
    # Mail (notifications): unset host, no mail; the admin says so and mail events are
    # given up at once instead of waiting for ever. Security: "starttls" (port 587),
    # "tls" (implicit TLS, port 465) or "none" (a relay on the same host only).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "cmp-server@localhost"
    smtp_timeout_seconds: float = Field(default=20.0, gt=0)
    # How long a worker holds the deliveries it claimed: one that dies (killed, its host
    # gone) leaves them to another worker this long after it took them. Longer than a batch
    # takes (webhooks 10 s each, ten at a time, 50 a batch).
    delivery_lease_seconds: float = Field(default=600, ge=5, le=86400)

    @property
    def server_checkpoints(self) -> bool:
        """Whether ``serve`` takes checkpoints (``checkpoints_in_server``, else ``run_worker``)."""
        return self.run_worker if self.checkpoints_in_server is None else self.checkpoints_in_server

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            parts: object = [p.strip() for p in value.split(",") if p.strip()]
            if value.strip().startswith("["):
                try:
                    parts = json.loads(value)
                except ValueError:
                    parts = None
            if not isinstance(parts, list):
                raise ValueError(_PROXIES_FORM)
            value = parts
        if isinstance(value, list | tuple):
            networks = []
            for part in value:
                try:
                    networks.append(ipaddress.ip_network(part))
                except (ValueError, TypeError):
                    raise ValueError(f"{part!r} is not a network: {_PROXIES_FORM}") from None
            return tuple(networks)
        return value

    @field_validator("witness_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            try:
                value = json.loads(text) if text.startswith("[") else [
                    u.strip() for u in text.split(",") if u.strip()]
            except ValueError:
                raise ValueError("give URLs comma-separated, or a JSON list") from None
        if isinstance(value, list | tuple):
            for url in value:
                if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                    raise ValueError(f"{url!r} is not an http(s) URL")
            return tuple(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if value and scheme not in ("sqlite", "postgres", "postgresql", "asyncpg"):
            raise ValueError("use sqlite://PATH or postgres://USER@HOST/DB")
        return value

    @model_validator(mode="after")
    def _refuse_dev_secret(self) -> Settings:
        secret = self.secret_key.get_secret_value()
        if self.environment != "development" and secret == DEV_SECRET_KEY:
            raise ValueError(
                f"CMP_SECRET_KEY must be set to a random value outside development "
                f"(CMP_ENVIRONMENT={self.environment})"
            )
        if self.environment == "production" and len(secret) < 32:
            raise ValueError("CMP_SECRET_KEY must be at least 32 characters in production")
        return self

    @property
    def signing_key_path(self) -> Path:
        return self.signing_key_file or self.data_dir / "signing-key.pem"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite://{(self.data_dir / 'cmp.sqlite3').resolve()}"
