"""Shared helpers of the notification tests: configs and spooled events."""

from __future__ import annotations

import ipaddress
import json
import time
from pathlib import Path

from activeresponse.config import Config
from activeresponse.model import Block
from activeresponse.notify import event
from activeresponse.notify.spool import Spool


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # TOML basic strings take JSON's escapes
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def write_config(root: Path, **values: object) -> Path:
    """A config file (mode 0600) with state under ``root`` and notifications on."""
    settings: dict[str, object] = {
        "state_dir": str(root / "state"),
        "lock_file": str(root / "run" / "lock"),
        "log_file": str(root / "log" / "activeresponse.log"),
        "notify_enabled": True,
        "notify_background": False,
        "notify_gather_seconds": 0,
    }
    settings.update(values)
    path = root / "config.toml"
    path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in settings.items()))
    path.chmod(0o600)
    return path


def load(path: Path) -> Config:
    from activeresponse import config

    return config.load(str(path))


def wazuh_alert(**over: object) -> dict:
    alert: dict = {
        "timestamp": "2024-05-03T15:04:18.123+0000",
        "id": "1714748658.12345",
        "rule": {
            "level": 10,
            "description": "sshd: brute force trying to get access to the system.",
            "id": "5712",
            "groups": ["syslog", "sshd", "authentication_failures"],
        },
        "agent": {"id": "001", "name": "web1", "ip": "192.0.2.1"},
        "location": "/var/log/secure",
        "full_log": "May  3 15:04:18 web1 sshd[811]: Failed password for root from "
        "203.0.113.9 port 52814 ssh2",
        "data": {"srcip": "203.0.113.9", "dstuser": "root"},
    }
    alert.update(over)
    return alert


def block(address: str, *, now: float | None = None, hits: int = 1, **over: object) -> Block:
    now = time.time() if now is None else now
    values: dict = dict(
        created=now,
        expires=now + 600,
        origin="wazuh",
        alert_id="1714748658.12345",
        rule_id="5712",
        user="root",
        reason="/var/log/secure",
        id=1,
        hits=hits,
    )
    values.update(over)
    return Block(ipaddress.ip_network(address), **values)


def spool_events(
    config: Config,
    addresses: list[str],
    *,
    now: float | None = None,
    alert: dict | None = None,
    channels: tuple[str, ...] = ("email",),
) -> list[int]:
    """Spool one block event per address, as firewall-drop does."""
    now = time.time() if now is None else now
    host = {"host": "web1", "host_addresses": ["192.0.2.1", "2001:db8:1::1"]}
    events = [
        event.build(
            "block",
            block(a, now=now),
            now=now,
            notice={"alert": alert or wazuh_alert(), "source": "agent"},
            host=host,
            config_path=config.source,
        )
        for a in addresses
    ]
    with Spool(config.notify_spool_path) as spool:
        return spool.add(events, list(channels))
