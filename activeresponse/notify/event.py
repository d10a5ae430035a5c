"""One notification event: plain data (str, int, float, None, lists), built on the agent's
path from the block, the agent's request and its alert. Everything from the alert is
attacker-influenced: it is kept as text, cut to a bounded size, and escaped only where
it is shown (render.py)."""

from __future__ import annotations

import os

from ..model import Block

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from ..addresses import IPAddress

EVENT_VERSION = 1
# Bounds on what an alert may put into the spool.
LOG_KEEP = 8192
FIELD_KEEP = 512
GROUPS_KEEP = 32


def _text(value: object, limit: int = FIELD_KEEP) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    return value[:limit] if isinstance(value, str) else ""


def _dict(obj: object, key: str) -> dict:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def alert_fields(alert: object) -> dict:
    """What a Wazuh alert tells about why the block happened (absent fields: empty)."""
    rule, data, agent = _dict(alert, "rule"), _dict(alert, "data"), _dict(alert, "agent")
    groups = rule.get("groups")
    full_log = alert.get("full_log") if isinstance(alert, dict) else None
    return {
        "rule_description": _text(rule.get("description")),
        "rule_level": _text(rule.get("level"), 8),
        "groups": [_text(g, 64) for g in groups[:GROUPS_KEEP] if isinstance(g, str)]
        if isinstance(groups, list)
        else [],
        "log": _text(full_log, LOG_KEEP),
        "log_length": len(full_log) if isinstance(full_log, str) else 0,
        "srcuser": _text(data.get("srcuser")),
        "dstuser": _text(data.get("dstuser")),
        "agent_name": _text(agent.get("name"), 128),
        "agent_ip": _text(agent.get("ip"), 64),
        "alert_time": _text(alert.get("timestamp"), 64) if isinstance(alert, dict) else "",
    }


def host_fields(interfaces: tuple[set[IPAddress], set[IPAddress]] | None) -> dict:
    """This host: its name and the addresses worth showing (no loopback, no link-local)."""
    shown: list[str] = []
    if interfaces is not None:
        own = [a for a in interfaces[0] if not (a.is_loopback or a.is_link_local)]
        shown = [str(a) for a in sorted(own, key=lambda a: (a.version, a))]
    return {"host": os.uname().nodename, "host_addresses": shown}


def build(
    kind: str,
    block: Block,
    *,
    now: float,
    new: bool = True,
    notice: dict | None = None,
    history: tuple[int, float | None] = (1, None),
    host: dict | None = None,
    config_path: str = "",
) -> dict:
    """The event dict stored in the spool and rendered later."""
    notice = notice or {}
    if kind == "block":
        action = "blocked" if new else "extended"
    else:
        action = "expired" if kind == "expire" else "unblocked"
    event = {
        "v": EVENT_VERSION,
        "kind": kind,
        "action": action,
        "time": now,
        "address": block.address,
        "block_id": block.id,
        "created": block.created,
        "expires": block.expires,
        "hits": block.hits,
        "origin": block.origin,
        "alert_id": block.alert_id,
        "rule_id": block.rule_id,
        "user": block.user,
        "location": block.reason,
        "history": history[0],
        "first_seen": history[1],
        "removed_by": _text(notice.get("removed_by"), 64),
        "source": _text(notice.get("source"), 16)
        or ("agent" if block.origin in ("ossec", "wazuh") else block.origin),
        "source_pattern": _text(notice.get("source_pattern"), 32),
        "source_reason": _text(notice.get("source_reason"), 16),
        "agent_srcip": _text(notice.get("agent_srcip"), 64),
        "config_path": config_path,
    }
    event.update(alert_fields(notice.get("alert")))
    event.update(host or host_fields(None))
    return event
