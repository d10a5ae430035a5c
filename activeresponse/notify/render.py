"""Messages in English or Japanese: one event, or a digest of several.

Every time is shown twice and labelled: in UTC and in the admin's time zone
(``notify_timezone``, or the system's). Text from the alert (log line, user names, rule
description) is escaped to one printable line and cut to a bounded length; the subject
holds only the host name, a validated IP address, a sanitised rule id and the prefix
from the config.
"""

from __future__ import annotations

import shlex
from datetime import datetime, timezone

from ..arlog import escape
from .settings import Settings

LOG_SHOW = 2000  # characters of the log line shown
FIELD_SHOW = 200  # characters of any other alert field shown
DIGEST_RULES_SHOWN = 10

_RULE_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")


class Message:
    """A rendered message: what every channel sends."""

    __slots__ = ("kind", "payload", "subject", "text", "time")

    def __init__(self, kind: str, subject: str, text: str, payload: dict, time: float) -> None:
        self.kind = kind  # "event" or "digest"
        self.subject = subject
        self.text = text
        self.payload = payload  # the JSON object a command receives
        self.time = time

    @property
    def events(self) -> list[dict]:
        return self.payload["events"]


LABELS = {
    "en": {
        "attacker": "Attacker",
        "source": "Address from",
        "victim": "Victim host",
        "agent": "Agent",
        "time": "Time",
        "action": "Action",
        "until": "Blocked until",
        "repeat": "Repeat",
        "rule": "Rule",
        "groups": "Groups",
        "location": "Log file",
        "user": "User name tried",
        "alert": "Alert id",
        "log": "Log line",
        "undo": "To undo",
        "removed": "Ended by",
        "level": "level",
        "permanent": "permanent (until an admin lifts it)",
        "none": "-",
        "cut": "cut; {n} characters in all",
        "digest_intro": "{n} events on {host} from {first} to {last}:",
        "digest_counts": "blocked {blocked}, extended {extended}, unblocked {unblocked}, "
        "expired {expired}",
        "digest_rules": "By rule",
        "digest_list": "Events (oldest first)",
        "digest_undo": "Each block is undone with: activeresponse unblock <address>",
        "sample": "TEST: a sample from `activeresponse notify test`; nothing was blocked.",
        "sample_subject": "TEST ",
        "footer": "Sent by activeresponse on {host}. Times: UTC, and {zone}.",
    },
    "ja": {
        "attacker": "攻撃元",
        "source": "攻撃元アドレスの取得元",
        "victim": "攻撃を受けたホスト",
        "agent": "エージェント",
        "time": "日時",
        "action": "対処",
        "until": "遮断期限",
        "repeat": "繰り返し",
        "rule": "検出ルール",
        "groups": "検出グループ",
        "location": "検出元ログ",
        "user": "試行されたユーザー名",
        "alert": "アラート ID",
        "log": "ログ内容",
        "undo": "解除方法",
        "removed": "終了の理由",
        "level": "レベル",
        "permanent": "無期限（管理者が解除するまで）",
        "none": "-",
        "cut": "省略あり。全 {n} 文字",
        "digest_intro": "{host} で {first} から {last} までに {n} 件のイベントがありました。",
        "digest_counts": "遮断 {blocked} 件、延長 {extended} 件、解除 {unblocked} 件、"
        "期限切れ {expired} 件",
        "digest_rules": "ルール別",
        "digest_list": "イベント一覧（古い順）",
        "digest_undo": "遮断の解除は activeresponse unblock <アドレス> で行えます。",
        "sample": "テスト: activeresponse notify test によるサンプルです。実際の遮断は"
        "行われていません。",
        "sample_subject": "テスト ",
        "footer": "このメールは {host} の activeresponse が送信しました。"
        "日時は UTC と {zone} です。",
    },
}

TITLES = {
    "en": {
        "blocked": "activeresponse blocked {address} on {host}.",
        "extended": "activeresponse extended the block of {address} on {host}: it attacked again.",
        "unblocked": "The block of {address} on {host} was lifted.",
        "expired": "The block of {address} on {host} ended on time.",
        "digest": "activeresponse on {host}: {n} events.",
    },
    "ja": {
        "blocked": "{host} で {address} からの通信を遮断しました。",
        "extended": "{host} で {address} の遮断を延長しました（再度の攻撃）。",
        "unblocked": "{host} で {address} の遮断を解除しました。",
        "expired": "{host} で {address} の遮断が期限どおり終了しました。",
        "digest": "{host} の activeresponse: {n} 件のイベント",
    },
}

SUBJECTS = {
    "en": {
        "blocked": "blocked {address}",
        "extended": "block of {address} extended",
        "unblocked": "unblocked {address}",
        "expired": "block of {address} expired",
        "rule": " (rule {rule})",
        "digest": "{n} events: {counts}",
    },
    "ja": {
        "blocked": "{address} を遮断",
        "extended": "{address} の遮断を延長",
        "unblocked": "{address} の遮断を解除",
        "expired": "{address} の遮断が期限切れ",
        "rule": " (ルール {rule})",
        "digest": "{n} 件のイベント: {counts}",
    },
}

ACTIONS = {
    "en": {
        "blocked": "all traffic from {address} is dropped (DROP on INPUT and FORWARD)",
        "extended": "the existing block of {address} was extended",
        "unblocked": "the block of {address} was lifted",
        "expired": "the block of {address} ended on time",
    },
    "ja": {
        "blocked": "{address} からの全通信を破棄（INPUT と FORWARD で DROP）",
        "extended": "{address} の既存の遮断を延長",
        "unblocked": "{address} の遮断を解除",
        "expired": "{address} の遮断が期限どおり終了",
    },
}


def _clean(value: object, limit: int = FIELD_SHOW) -> str:
    """One printable line of untrusted text, cut to ``limit`` characters."""
    text = escape(value if isinstance(value, str) else str(value))
    return text if len(text) <= limit else text[:limit] + "..."


def _rule_id(value: object) -> str:
    return "".join(c for c in str(value) if c in _RULE_ID_CHARS)[:20]


class Clock:
    """Formats Unix times in UTC and in the admin's time zone, both labelled."""

    def __init__(self, settings: Settings) -> None:
        self.tz = settings.tz
        self.name = settings.tz_name
        self.language = settings.language

    def local(self, ts: float) -> datetime:
        moment = datetime.fromtimestamp(ts, timezone.utc)
        return moment.astimezone(self.tz) if self.tz is not None else moment.astimezone()

    @property
    def zone(self) -> str:
        """The admin's time zone by name, for labels."""
        if self.name:
            return self.name
        return "このサーバーの時間帯" if self.language == "ja" else "this server's time zone"

    def utc_text(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")

    def local_text(self, ts: float) -> str:
        """``2024-05-04 00:04:18 JST (UTC+09:00)``."""
        local = self.local(ts)
        offset = local.strftime("%z")
        offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
        return f"{local.strftime('%Y-%m-%d %H:%M:%S')} {local.tzname()} ({offset})"

    def iso(self, ts: float | None) -> dict:
        if ts is None:
            return {"utc": None, "local": None}
        return {
            "utc": datetime.fromtimestamp(ts, timezone.utc).isoformat(),
            "local": self.local(ts).isoformat(),
        }


def undo_command(event: dict, settings: Settings) -> str:
    """The exact command that lifts this block."""
    words = ["activeresponse"]
    path = event.get("config_path") or settings.config_path
    if path and path != "/etc/activeresponse/config.toml":
        words += ["--config", path]
    words += ["unblock", str(event.get("address", ""))]
    return " ".join(shlex.quote(w) for w in words)


def _source_text(event: dict, lang: str) -> str:
    pattern = _clean(event.get("source_pattern", ""), 32)
    srcip = _clean(event.get("agent_srcip", ""), 64)
    source = event.get("source")
    if source == "log":
        if event.get("source_reason") == "own":
            if lang == "ja":
                return (
                    f"ログ行の {pattern}（エージェントの srcip {srcip} はこのホスト自身の"
                    "アドレスのため攻撃元ではありません）"
                )
            return (
                f"the log line ({pattern}); the agent's srcip {srcip} is this host's own "
                "address, not the attacker"
            )
        if lang == "ja":
            return f"ログ行の {pattern}（エージェントのアラートに srcip がありません）"
        return f"the log line ({pattern}); the agent's alert had no srcip"
    if source == "agent":
        field = "data.srcip" if event.get("origin") == "wazuh" else "srcip"
        if lang == "ja":
            return f"エージェントのアラート ({field})"
        return f"the agent's alert ({field})"
    if lang == "ja":
        return f"{_clean(source or '-', 32)}（管理者の操作）"
    return f"{_clean(source or '-', 32)} (an admin's command)"


def _repeat_text(event: dict, clock: Clock, lang: str) -> str:
    hits = event.get("hits") or 1
    history = event.get("history") or 1
    first = event.get("first_seen")
    first_text = clock.utc_text(first) if first else "-"
    if lang == "ja":
        return (
            f"この遮断への検出 {hits} 回目。このアドレスの遮断記録 {history} 件"
            f"（初回 {first_text}）"
        )
    hit_text = "1st hit" if hits == 1 else f"hit {hits}"
    noun = "block" if history == 1 else "blocks"
    return (
        f"{hit_text} of this block; {history} {noun} of this address on record since {first_text}"
    )


def _log_lines(event: dict, labels: dict) -> list[str]:
    text = event.get("log") or ""
    if not text:
        return []
    shown = escape(text)
    total = max(event.get("log_length") or 0, len(text))
    cut = len(shown) > LOG_SHOW or total > len(text)
    shown = shown[:LOG_SHOW]
    # One escaped line: long lines are the e-mail encoder's business (quoted-printable
    # soft breaks), and a reader can copy the line whole.
    lines = [f"{labels['log']}:", "  " + shown]
    if cut:
        lines.append("  (" + labels["cut"].format(n=total) + ")")
    return lines


def _format_fields(fields: list[tuple[str, str]], lang: str) -> list[str]:
    """``Label: value`` lines; aligned in English (Japanese labels have wide characters)."""
    if lang != "en":
        return [f"{label}: {value}" for label, value in fields]
    width = max(len(label) for label, _ in fields) + 2
    return [f"{label + ':':<{width}}{value}" for label, value in fields]


def event_text(event: dict, settings: Settings, clock: Clock) -> list[str]:
    """The body lines of one event."""
    lang = settings.language
    labels = LABELS[lang]
    address = event.get("address", "")
    action = event.get("action", "blocked")
    fields: list[tuple[str, str]] = []

    def field(label: str, value: str, qualifier: str = "") -> None:
        fields.append((labels[label] + (f" ({qualifier})" if qualifier else ""), value))

    field("attacker", address)
    field("source", _source_text(event, lang))
    host_addresses = ", ".join(_clean(a, 64) for a in event.get("host_addresses") or [])
    host = _clean(event.get("host") or settings.host, 64)
    field("victim", f"{host} ({host_addresses})" if host_addresses else host)
    if event.get("agent_name") or event.get("agent_ip"):
        agent = " ".join(
            _clean(x, 128) for x in (event.get("agent_name"), event.get("agent_ip")) if x
        )
        field("agent", agent)
    when = event["time"]
    field("time", clock.utc_text(when), "UTC")
    field("time", clock.local_text(when), clock.zone)
    field("action", ACTIONS[lang].get(action, action).format(address=address))
    if event.get("kind") == "block":
        expires = event.get("expires")
        if expires is None:
            field("until", labels["permanent"])
        else:
            field("until", clock.utc_text(expires), "UTC")
            field("until", clock.local_text(expires), clock.zone)
        field("repeat", _repeat_text(event, clock, lang))
    elif event.get("removed_by"):
        field("removed", _clean(event["removed_by"], 64))
    rule = _rule_id(event.get("rule_id", ""))
    if rule:
        text = rule
        if event.get("rule_level"):
            text += f" ({labels['level']} {_clean(event['rule_level'], 8)})"
        if event.get("rule_description"):
            text += f": {_clean(event['rule_description'])}"
        field("rule", text)
    if event.get("groups"):
        field("groups", ", ".join(_clean(g, 64) for g in event["groups"]))
    if event.get("location"):
        field("location", _clean(event["location"]))
    users: list[str] = []
    for key in ("user", "dstuser", "srcuser"):
        value = event.get(key)
        if value and _clean(value) not in users:
            users.append(_clean(value))
    if users:
        field("user", ", ".join(users))
    if event.get("alert_id"):
        field("alert", _clean(event["alert_id"], 64))
    title = TITLES[lang].get(action, "{address}").format(address=address, host=host)
    lines = [title, "", *_format_fields(fields, lang)]
    lines += _log_lines(event, labels)
    if event.get("kind") == "block":
        lines += ["", f"{labels['undo']}:", f"  {undo_command(event, settings)}"]
    return lines


def _subject_for(event: dict, settings: Settings) -> str:
    words = SUBJECTS[settings.language]
    action = event.get("action", "blocked")
    text = words.get(action, words["blocked"]).format(address=event.get("address", ""))
    rule = _rule_id(event.get("rule_id", ""))
    if rule:
        text += words["rule"].format(rule=rule)
    return text


def _subject(settings: Settings, text: str) -> str:
    prefix = f"{settings.subject_prefix} " if settings.subject_prefix else ""
    return f"{prefix}{settings.host}: {text}"[:200]


def _payload_event(event: dict, settings: Settings, clock: Clock) -> dict:
    out = {k: v for k, v in event.items() if k not in ("v", "config_path")}
    out["time_iso"] = clock.iso(event.get("time"))
    out["expires_iso"] = clock.iso(event.get("expires"))
    if event.get("kind") == "block":
        out["undo"] = undo_command(event, settings)
    return out


def _counts(events: list[dict]) -> dict[str, int]:
    counts = {"blocked": 0, "extended": 0, "unblocked": 0, "expired": 0}
    for event in events:
        action = event.get("action", "blocked")
        counts[action] = counts.get(action, 0) + 1
    return counts


def digest_text(events: list[dict], settings: Settings, clock: Clock) -> list[str]:
    lang = settings.language
    labels = LABELS[lang]
    first, last = events[0]["time"], events[-1]["time"]
    lines = [
        TITLES[lang]["digest"].format(host=settings.host, n=len(events)),
        "",
        labels["digest_intro"].format(
            n=len(events),
            host=settings.host,
            first=clock.utc_text(first),
            last=clock.utc_text(last),
        ),
        "  " + labels["digest_counts"].format(**_counts(events)),
        f"  {labels['time']} ({clock.zone}): {clock.local_text(first)} - {clock.local_text(last)}",
        "",
        f"{labels['digest_rules']}:",
    ]
    by_rule: dict[str, list] = {}
    for event in events:
        key = _rule_id(event.get("rule_id", "")) or "-"
        entry = by_rule.setdefault(key, [0, _clean(event.get("rule_description", ""), 80)])
        entry[0] += 1
    ranked = sorted(by_rule.items(), key=lambda kv: (-kv[1][0], kv[0]))
    for rule, (count, description) in ranked[:DIGEST_RULES_SHOWN]:
        lines.append(f"  {rule}: {count}" + (f"  {description}" if description else ""))
    if len(ranked) > DIGEST_RULES_SHOWN:
        lines.append(f"  ... (+{len(ranked) - DIGEST_RULES_SHOWN})")
    lines += ["", f"{labels['digest_list']}:"]
    width = len(str(len(events)))
    for n, event in enumerate(events, 1):
        address = event.get("address", "")
        action = event.get("action", "blocked")
        head = (
            f"{n:>{width}}. {clock.utc_text(event['time'])} "
            f"({clock.local(event['time']).strftime('%Y-%m-%d %H:%M:%S %Z')})  "
            f"{address}  {action}"
        )
        lines.append(head)
        pad = " " * (width + 2)
        detail = []
        rule = _rule_id(event.get("rule_id", ""))
        if rule:
            text = f"{labels['rule']} {rule}"
            if event.get("rule_description"):
                text += f": {_clean(event['rule_description'], 80)}"
            detail.append(text)
        if event.get("source") == "log":
            detail.append(f"{labels['source']}: {_source_text(event, lang)}")
        user = event.get("user") or event.get("dstuser") or event.get("srcuser")
        if user:
            detail.append(f"{labels['user']}: {_clean(user, 64)}")
        if event.get("location"):
            detail.append(f"{labels['location']}: {_clean(event['location'], 120)}")
        if event.get("kind") == "block":
            expires = event.get("expires")
            until = labels["permanent"] if expires is None else clock.utc_text(expires)
            detail.append(f"{labels['until']}: {until}; {labels['repeat']}: {event.get('hits', 1)}")
            detail.append(f"{labels['undo']}: {undo_command(event, settings)}")
        lines += [pad + d for d in detail]
    lines += ["", labels["digest_undo"]]
    return lines


def render(events: list[dict], settings: Settings, *, now: float) -> Message:
    """One message for ``events`` (oldest first): the event itself, or a digest."""
    clock = Clock(settings)
    labels = LABELS[settings.language]
    if len(events) == 1:
        kind = "event"
        body = event_text(events[0], settings, clock)
        subject = _subject_for(events[0], settings)
        if events[0].get("sample"):
            body[:0] = [labels["sample"], ""]
            subject = labels["sample_subject"] + subject
        subject = _subject(settings, subject)
    else:
        kind = "digest"
        body = digest_text(events, settings, clock)
        counts = _counts(events)
        words = SUBJECTS[settings.language]
        summary = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        if settings.language == "ja":
            names = {
                "blocked": "遮断",
                "extended": "延長",
                "unblocked": "解除",
                "expired": "期限切れ",
            }
            summary = "、".join(f"{names[k]} {v} 件" for k, v in counts.items() if v)
        subject = _subject(settings, words["digest"].format(n=len(events), counts=summary))
    body += ["", "-- ", labels["footer"].format(host=settings.host, zone=clock.zone)]
    text = "\n".join(body) + "\n"
    payload = {
        "version": 1,
        "type": kind,
        "host": settings.host,
        "language": settings.language,
        "subject": subject,
        "text": text,
        "events": [_payload_event(e, settings, clock) for e in events],
    }
    return Message(kind, subject, text, payload, now)
