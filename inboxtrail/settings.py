"""Typed settings, read once from `INBOXTRAIL_*` environment variables and an optional TOML file.

Precedence: environment variable > file (`INBOXTRAIL_CONFIG`, keys are the field names) > default.
No other module reads `os.environ`; everything receives a `Settings`.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

ENV_PREFIX = "INBOXTRAIL_"


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable and what is expected."""


@dataclass(frozen=True, slots=True)
class Settings:
    state_dir: Path = Path(".inboxtrail")

    # Kafka (local KRaft node managed by `inboxtrail up`, or any cluster)
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_controller_port: int = 19093
    kafka_version: str = "4.4.0"
    kafka_heap: str = "768m"
    events_topic: str = "mailflow.events"
    dlq_topic: str = "mailflow.events.dlq"
    commands_topic: str = "mailflow.commands"
    partitions: int = 6

    # ClickHouse server (native protocol)
    clickhouse_host: str = "127.0.0.1"
    clickhouse_port: int = 19000
    clickhouse_http_port: int = 18123
    clickhouse_database: str = "inboxtrail"
    clickhouse_user: str = "default"
    clickhouse_password: str = ""

    # Which store the worker and the read side use: "clickhouse" (server) or "chdb" (embedded)
    store: str = "chdb"

    # Worker
    worker_id: str = "inboxtrail-worker"
    consumer_group: str = "inboxtrail-projections"
    batch_size: int = 2000
    batch_window_s: float = 0.2
    worker_web_port: int = 6066
    # Faust table store for per-copy state: "rocksdb://" (rocksdict, on disk under <state>/faust:
    # memory levels off, see BENCHMARKS.md) or "memory://" (~1 KB per copy held in RAM; rebuilt
    # from the changelog on every start — what the tests use)
    table_store: str = "rocksdb://"
    # how soon the group notices a dead worker and hands its partitions to the others
    consumer_session_timeout_s: float = 10.0

    # Remediation: requests over this many copies need a second person's approval
    remediation_approval_threshold: int = 1000

    # Explorer API
    api_host: str = "127.0.0.1"
    api_port: int = 8470
    # bearer token the CLI uses to read through a running `inboxtrail run` (embedded store)
    api_token: str = ""

    @property
    def kafka_host(self) -> str:
        return self.kafka_bootstrap.split(",")[0].rsplit(":", 1)[0]

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])

    def with_overrides(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) }


def _convert(name: str, raw, source: str):
    target = _FIELDS[name].type
    try:
        if target in ("int", int):
            return int(raw)
        if target in ("float", float):
            return float(raw)
        if target in ("Path", Path):
            return Path(str(raw)).expanduser()
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{source}: {raw!r} is not a valid {target} for setting {name!r}") from exc


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    config_file = env.get(ENV_PREFIX + "CONFIG")
    if config_file:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise SettingsError(f"INBOXTRAIL_CONFIG points to {path}, which does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML ({exc})") from None
        for key, raw in data.items():
            if key not in _FIELDS:
                raise SettingsError(f"{path}: unknown setting {key!r}; known: {', '.join(sorted(_FIELDS))}")
            values[key] = _convert(key, raw, str(path))
    for name in _FIELDS:
        var = ENV_PREFIX + name.upper()
        if var in env:
            values[name] = _convert(name, env[var], var)
    settings = Settings(**values)
    if settings.store not in ("clickhouse", "chdb"):
        raise SettingsError(f"INBOXTRAIL_STORE must be 'clickhouse' or 'chdb', not {settings.store!r}")
    if settings.partitions < 1:
        raise SettingsError("INBOXTRAIL_PARTITIONS must be at least 1")
    return settings
