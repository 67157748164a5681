"""Configuration: defaults, an optional TOML file, then `CALLGATE_*` environment variables (which win).

Every setting is declared once in `SETTINGS`; a value that does not parse, or a key nobody declared,
stops start-up with a `ConfigError` naming the key.
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from callgate.calls.ids import ACCOUNT_RE
from callgate.calls.options import CallOptionsError, parse_metadata
from callgate.inbound.routes import InboundRoute
from callgate.listen.options import ListenOptions, OptionsError, parse_listen
from callgate.media.audiofile import read_audio_file
from callgate.telephony.simulated.scripts import (
    DEFAULT_SCRIPTS,
    CalleeScript,
    ScriptError,
    scripts_from_config,
)
from callgate.telephony.siptrunk.settings import SipTrunkSettings
from callgate.webhooks.settings import DEFAULT_EVENTS as WEBHOOK_EVENTS
from callgate.webhooks.settings import WebhookSettings

ENV_PREFIX = "CALLGATE_"
# A caller ID becomes the From user of an INVITE: RFC 3261's unreserved and user-unreserved.
CALLER_ID_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/]{1,64}")
# Variables with the prefix that are not settings (read by the test suite or the launcher).
# CALLGATE_URL and CALLGATE_TOKEN tell the client commands (`callgate call`, `cdr`) where to go.
ENV_NOT_SETTINGS = frozenset(
    {"CALLGATE_CONFIG", "CALLGATE_REQUIRE_PEERS", "CALLGATE_URL", "CALLGATE_TOKEN"}
)


class ConfigError(ValueError):
    """A bad setting; the message starts with the key's name."""


@dataclass(frozen=True, slots=True)
class AccountSettings:
    name: str
    caller_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: SQLite in data_dir
    jwt_secret: str = ""  # empty: generated once into data_dir
    trunk: str = "simulated"
    node_id: str = field(default_factory=socket.gethostname)
    redis_url: str = ""  # empty: one process, nothing shared; else nodes share leases through it
    ring_timeout_s: float = 60.0
    max_call_duration_s: float = 4 * 3600.0
    max_concurrent_calls: int = 1000  # per account
    calls_per_second: float = 100.0  # per account, sustained
    calls_burst: int = 200  # per account, calls allowed at once above the sustained rate
    no_client_grace_s: float = 60.0  # 0: never hang up for want of a client
    playout_max_s: float = 60.0
    hangup_drain_cap_s: float = 60.0
    playout_prebuffer_ms: int = 20
    cdr_default_limit: int = 100
    cdr_max_limit: int = 1000
    call_record_timeout_s: float = 2.0  # POST /pbx/call answers 503 (and never dials) past this
    cdr_query_budget_s: float = 2.0  # database time one CDR listing may use
    cdr_queries_per_account: int = 2  # CDR listings one account may run at once
    cdr_queries_total: int = 6  # CDR listings running at once, all accounts
    log_level: str = "info"
    log_format: str = "text"  # text, or json: one JSON object per line
    metrics_token: str = ""  # empty: /metrics answers loopback clients only
    inbound_url: str = (
        "ws://127.0.0.1:4143"  # where inbound calls go when no [[inbound.route]] matches
    )
    inbound_account: str = "default"
    inbound_connect_timeout_s: float = 5.0
    inbound_answer_timeout_s: float = 30.0
    record_calls: bool = (
        False  # record calls that do not say (POST /pbx/call's `record`, a route's)
    )
    recordings_dir: Path | None = None  # None: <data_dir>/recordings
    recording_retention_days: int = 0  # recordings older are deleted; 0: kept until removed by hand
    simulator_scripts: tuple[CalleeScript, ...] = DEFAULT_SCRIPTS
    inbound_routes: tuple[InboundRoute, ...] = ()
    sip_table: tuple[tuple[str, Any], ...] = ()  # the TOML [sip] table, applied over `trunk`'s URI
    webhooks: tuple[WebhookSettings, ...] = ()  # the TOML [[webhook]] tables
    # The TOML [accounts.<name>] tables: the caller IDs each account may present (callerId).
    accounts: tuple[AccountSettings, ...] = ()
    # Not settings: set by `serve --workers` for each worker (callgate/nodes/workers.py).
    recordings_also: tuple[Path, ...] = ()  # the other workers' recordings, served here too

    def caller_ids(self) -> dict[str, frozenset[str]]:
        """Account -> the caller IDs POST /pbx/call's `callerId` may name for it."""
        return {account.name: frozenset(account.caller_ids) for account in self.accounts}

    @property
    def sip(self) -> SipTrunkSettings | None:
        """The SIP trunk's settings, or None on the simulated carrier."""
        if self.trunk == "simulated":
            return None
        return _sip_settings(self.trunk, dict(self.sip_table))

    @property
    def all_inbound_routes(self) -> tuple[InboundRoute, ...]:
        """The configured routes, then the catch-all to `inbound_url` for `inbound_account`."""
        return (*self.inbound_routes, InboundRoute(".*", self.inbound_url, self.inbound_account))

    @property
    def effective_recordings_dir(self) -> Path:
        return self.recordings_dir or self.data_dir / "recordings"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'callgate.db'}"


def _positive_int(key: str, raw: Any) -> int:
    value = _int(key, raw)
    if value < 1:
        raise ConfigError(f"{key}: must be at least 1, got {value}")
    return value


def _int(key: str, raw: Any) -> int:
    if isinstance(raw, bool):
        raise ConfigError(f"{key}: expected a whole number, got {raw!r}")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected a whole number, got {raw!r}") from None


def _non_negative_int(key: str, raw: Any) -> int:
    value = _int(key, raw)
    if value < 0:
        raise ConfigError(f"{key}: must be 0 or more, got {value}")
    return value


def _bool(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"{key}: expected true or false, got {raw!r}")


def _route_record(key: str, item: dict[str, Any]) -> bool | None:
    if "record" not in item:
        return None  # the record_calls default
    if not isinstance(item["record"], bool):
        raise ConfigError(f"{key}: expected true or false, got {item['record']!r}")
    return bool(item["record"])


def _optional_path(key: str, raw: Any) -> Path | None:
    value = _text(key, raw)
    return Path(value) if value else None


def _positive_float(key: str, raw: Any) -> float:
    if isinstance(raw, bool):
        raise ConfigError(f"{key}: expected a number, got {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected a number, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{key}: must be a positive number, got {raw!r}")
    return value


def _non_negative_float(key: str, raw: Any) -> float:
    if raw in (0, "0", 0.0):
        return 0.0
    return _positive_float(key, raw)


def _prebuffer_ms(key: str, raw: Any) -> int:
    value = _int(key, raw)
    if value < 0 or value > 200 or value % 20:
        raise ConfigError(f"{key}: a multiple of 20 from 0 to 200, got {value}")
    return value


def _port(key: str, raw: Any) -> int:
    value = _int(key, raw)
    if not 0 <= value <= 65535:
        raise ConfigError(f"{key}: must be a port number 0-65535, got {value}")
    return value


def _text(key: str, raw: Any) -> str:
    if not isinstance(raw, str):
        raise ConfigError(f"{key}: expected a string, got {raw!r}")
    return raw


def _trunk(key: str, raw: Any) -> str:
    value = _text(key, raw).strip()
    if value == "simulated" or value == "sip":
        return value
    if not value.lower().startswith("sip:"):
        raise ConfigError(
            f"{key}: 'simulated', 'sip' (settings in the [sip] table) or a URI such as "
            f"sip:user:secret@carrier.example:5060;transport=udp; got {value!r}"
        )
    try:
        SipTrunkSettings.from_uri(value)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    return value


def _sip_settings(trunk: str, table: dict[str, Any]) -> SipTrunkSettings:
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    try:
        if trunk == "sip":
            return SipTrunkSettings(**values)
        return SipTrunkSettings.from_uri(trunk, **values)
    except TypeError as exc:  # a missing or unknown field
        raise ConfigError(f"sip: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"sip.{exc}") from None


def _log_level(key: str, raw: Any) -> str:
    value = _text(key, raw).lower()
    if value not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"{key}: one of debug, info, warning, error; got {raw!r}")
    return value


def _log_format(key: str, raw: Any) -> str:
    value = _text(key, raw).lower()
    if value not in ("text", "json"):
        raise ConfigError(f"{key}: text or json; got {raw!r}")
    return value


def _metrics_token(key: str, raw: Any) -> str:
    value = _text(key, raw)
    if value and len(value) < 16:
        raise ConfigError(f"{key}: use at least 16 characters (it guards the metrics), or empty")
    return value


def _database_url(key: str, raw: Any) -> str:
    value = _text(key, raw)
    if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError(
            f"{key}: use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB, got {value!r}"
        )
    return value


def _redis_url(key: str, raw: Any) -> str:
    value = _text(key, raw)
    if value and not value.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{key}: expected redis://host:port/db, rediss://... or unix://...")
    return value


def _secret(key: str, raw: Any) -> str:
    value = _text(key, raw)
    if value and len(value.encode()) < 32:
        raise ConfigError(f"{key}: must be at least 32 bytes (HS256 needs a 256-bit key), or empty")
    return value


def _ws_url(key: str, raw: Any) -> str:
    value = _text(key, raw)
    if not value.startswith(("ws://", "wss://")):
        raise ConfigError(f"{key}: must be a ws:// or wss:// URL, got {value!r}")
    return value


def _account(key: str, raw: Any) -> str:
    value = _text(key, raw)
    if not ACCOUNT_RE.fullmatch(value):
        raise ConfigError(f"{key}: not a valid account name: {value!r}")
    return value


Parser = Callable[[str, Any], Any]
SETTINGS: dict[str, Parser] = {
    "host": _text,
    "port": _port,
    "data_dir": lambda key, raw: Path(_text(key, raw)),
    "database_url": _database_url,
    "jwt_secret": _secret,
    "trunk": _trunk,
    "node_id": _text,
    "redis_url": _redis_url,
    "ring_timeout_s": _positive_float,
    "max_call_duration_s": _positive_float,
    "max_concurrent_calls": _positive_int,
    "calls_per_second": _positive_float,
    "calls_burst": _positive_int,
    "no_client_grace_s": _non_negative_float,
    "playout_max_s": _positive_float,
    "hangup_drain_cap_s": _positive_float,
    "playout_prebuffer_ms": _prebuffer_ms,
    "cdr_default_limit": _positive_int,
    "cdr_max_limit": _positive_int,
    "call_record_timeout_s": _positive_float,
    "cdr_query_budget_s": _positive_float,
    "cdr_queries_per_account": _positive_int,
    "cdr_queries_total": _positive_int,
    "log_level": _log_level,
    "log_format": _log_format,
    "metrics_token": _metrics_token,
    "inbound_url": _ws_url,
    "inbound_account": _account,
    "inbound_connect_timeout_s": _positive_float,
    "inbound_answer_timeout_s": _positive_float,
    "record_calls": _bool,
    "recordings_dir": _optional_path,
    "recording_retention_days": _non_negative_int,
}
# Set only from the TOML file's tables.
TABLES = {"simulator_scripts", "inbound_routes", "sip_table", "webhooks", "accounts"}
DERIVED = {"recordings_also"}  # set by `serve --workers` for its workers, never configured
assert set(SETTINGS) | TABLES | DERIVED == {f.name for f in fields(Config)}


def load_config(
    path: Path | None = None, environ: Mapping[str, str] | None = None, **overrides: Any
) -> Config:
    """Defaults < TOML file (`path` or $CALLGATE_CONFIG) < environment < explicit overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = path or (Path(env["CALLGATE_CONFIG"]) if env.get("CALLGATE_CONFIG") else None)
    if path is not None:
        values.update(_read_toml(path))
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_SETTINGS:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in SETTINGS:
            raise ConfigError(f"{name}: unknown setting (known: {', '.join(sorted(SETTINGS))})")
        values[key] = SETTINGS[key](name, raw)
    for key, raw in overrides.items():
        if raw is not None:
            values[key] = SETTINGS[key](key, raw)
    config = Config(**values)
    if config.cdr_default_limit > config.cdr_max_limit:
        raise ConfigError("cdr_default_limit: must not exceed cdr_max_limit")
    sip = config.sip  # a bad [sip] table stops start-up here, naming the setting
    if sip is not None and sip.hold_music is not None:
        try:  # decoded now too, so a file that is not audio stops start-up with its reason
            read_audio_file(sip.hold_music)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"sip.hold_music: {exc}") from None
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, item in raw.items():
        if key == "simulator":
            values["simulator_scripts"] = _simulator(item)
            continue
        if key == "inbound":
            values["inbound_routes"] = _inbound(item)
            continue
        if key == "webhook":
            values["webhooks"] = _webhooks(item)
            continue
        if key == "accounts":
            values["accounts"] = _accounts(item)
            continue
        if key == "sip":
            if not isinstance(item, dict):
                raise ConfigError("sip: expected a table")
            values["sip_table"] = tuple(item.items())
            continue
        if key not in SETTINGS:
            raise ConfigError(f"{key}: unknown setting in {path}")
        values[key] = SETTINGS[key](key, item)
    return values


def _simulator(raw: Any) -> tuple[CalleeScript, ...]:
    if not isinstance(raw, dict):
        raise ConfigError("simulator: expected a table")
    unknown = set(raw) - {"callee"}
    if unknown:
        raise ConfigError(f"simulator.{sorted(unknown)[0]}: unknown key")
    try:
        return scripts_from_config(raw.get("callee"))
    except ScriptError as exc:
        raise ConfigError(str(exc)) from None


def _inbound(raw: Any) -> tuple[InboundRoute, ...]:
    if not isinstance(raw, dict):
        raise ConfigError("inbound: expected a table")
    unknown = set(raw) - {"route"}
    if unknown:
        raise ConfigError(f"inbound.{sorted(unknown)[0]}: unknown key")
    items = raw.get("route", [])
    if not isinstance(items, list):
        raise ConfigError("inbound.route: expected an array of tables ([[inbound.route]])")
    routes = []
    for index, item in enumerate(items):
        where = f"inbound.route[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a table")
        unknown = set(item) - {
            "pattern",
            "url",
            "account",
            "headers",
            "record",
            "listen",
            "metadata",
        }
        if unknown:
            raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown key")
        pattern = _text(f"{where}.pattern", item.get("pattern", ".*"))
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{where}.pattern: invalid regular expression: {exc}") from None
        headers = item.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ConfigError(f"{where}.headers: expected a table of strings")
        routes.append(
            InboundRoute(
                pattern=pattern,
                url=_ws_url(f"{where}.url", item.get("url")),
                account=_account(f"{where}.account", item.get("account", "default")),
                headers=tuple((str(k), v) for k, v in headers.items()),
                record=_route_record(f"{where}.record", item),
                listen=_route_listen(f"{where}.listen", item),
                metadata=_route_metadata(f"{where}.metadata", item),
            )
        )
    return tuple(routes)


def _route_metadata(key: str, item: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A route's `metadata` table: the JSON object its calls carry (the limits of POST /pbx/call's)."""
    if "metadata" not in item:
        return ()
    try:
        return tuple(parse_metadata(item["metadata"], key).items())
    except CallOptionsError as exc:
        raise ConfigError(str(exc)) from None


def _route_listen(key: str, item: dict[str, Any]) -> ListenOptions | None:
    """A route's `listen` table (the options object of docs/listen.md, in TOML); absent: none."""
    if "listen" not in item:
        return None
    try:
        return parse_listen(item["listen"], key)
    except OptionsError as exc:
        raise ConfigError(str(exc)) from None


def _webhooks(raw: Any) -> tuple[WebhookSettings, ...]:
    if not isinstance(raw, list):
        raise ConfigError("webhook: expected an array of tables ([[webhook]])")
    hooks = []
    for index, item in enumerate(raw):
        where = f"webhook[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a table")
        unknown = set(item) - {"account", "url", "secret", "events"}
        if unknown:
            raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown key")
        events = item.get("events", list(WEBHOOK_EVENTS))
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise ConfigError(f"{where}.events: expected a list of event names")
        account = _account(f"{where}.account", item.get("account", "default"))
        url = _text(f"{where}.url", item.get("url"))
        secret = _text(f"{where}.secret", item.get("secret"))
        try:
            hooks.append(WebhookSettings(account, url, secret, tuple(events)))
        except ValueError as exc:
            raise ConfigError(f"{where}.{exc}") from None
    return tuple(hooks)


def _accounts(raw: Any) -> tuple[AccountSettings, ...]:
    """`[accounts.<name>]` tables: `caller_ids = ["+622150001111", ...]`."""
    if not isinstance(raw, dict):
        raise ConfigError("accounts: expected tables, e.g. [accounts.acme]")
    accounts = []
    for name, item in raw.items():
        where = f"accounts.{name}"
        _account(where, name)
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a table")
        unknown = set(item) - {"caller_ids"}
        if unknown:
            raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown key")
        ids = item.get("caller_ids", [])
        if not isinstance(ids, list) or not all(
            isinstance(i, str) and CALLER_ID_RE.fullmatch(i) for i in ids
        ):
            raise ConfigError(
                f"{where}.caller_ids: expected a list of caller IDs (digits with an optional"
                " leading +, or a SIP user part)"
            )
        accounts.append(AccountSettings(name, tuple(ids)))
    return tuple(accounts)
