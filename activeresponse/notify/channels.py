"""Where messages go: e-mail (smtplib) and a command (the message as JSON on stdin).

Headers are built with the ``email`` package's structured API from the config's
addresses and the rendered subject only; the SMTP envelope (MAIL FROM, RCPT TO) is given
explicitly from the config and never read from the message, so nothing in an alert can
add a recipient or a header.
"""

from __future__ import annotations

from ..logsetup import get_logger
from .render import Message
from .settings import Settings

log = get_logger(__name__)


class Channel:
    name = "base"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: Message) -> str:
        """Deliver ``message``; return an id for the record. Raise on failure."""
        raise NotImplementedError


def build_email(message: Message, settings: Settings):
    """The EmailMessage for ``message`` (From/To/Cc from the config only)."""
    from email.headerregistry import Address
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    msg = EmailMessage()
    msg["Subject"] = message.subject
    msg["From"] = Address(addr_spec=settings.sender)
    msg["To"] = [Address(addr_spec=a) for a in settings.to]
    if settings.cc:
        msg["Cc"] = [Address(addr_spec=a) for a in settings.cc]
    msg["Date"] = formatdate(message.time, usegmt=True)
    # domain= given: make_msgid would otherwise resolve our FQDN (DNS, may hang).
    msg["Message-ID"] = make_msgid("activeresponse", domain=settings.sender_domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    msg.set_content(message.text)
    return msg


class EmailChannel(Channel):
    name = "email"

    def send(self, message: Message) -> str:
        import smtplib
        import ssl

        s = self.settings
        msg = build_email(message, s)
        context = ssl.create_default_context(cafile=s.smtp_ca_file or None)
        kwargs = {"timeout": s.timeout, "local_hostname": s.host}
        if s.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, context=context, **kwargs)
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, **kwargs)
        with smtp:
            if s.smtp_security == "starttls":
                # Fails (SMTPNotSupportedError) rather than sending in clear text.
                smtp.starttls(context=context)
            if s.smtp_user:
                smtp.login(s.smtp_user, s.password())
            refused = smtp.send_message(msg, from_addr=s.sender, to_addrs=[*s.to, *s.cc])
        if refused:
            log.warning("mail server refused some recipients: %s", ", ".join(sorted(refused)))
        return str(msg["Message-ID"])


class CommandChannel(Channel):
    name = "command"

    def send(self, message: Message) -> str:
        import json

        from ..runner import run

        run(
            self.settings.command,
            input=json.dumps(message.payload, ensure_ascii=False),
            timeout=self.settings.timeout,
        )
        return f"command:{message.kind}"


def channel(name: str, settings: Settings) -> Channel:
    return {"email": EmailChannel, "command": CommandChannel}[name](settings)
