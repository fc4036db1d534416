"""Email to citizens: verification and password-reset codes, and the warning sent to an address
someone tried to sign up with again.

Sending is never awaited by the request: :meth:`Postman.post` queues the message on a background
task, so a page answers in the same time whether or not an email went out (no account
enumeration by timing) and a slow mail server never holds a page. SMTP runs in a thread
(:mod:`smtplib`); without an SMTP host, messages are written as ``.eml`` files to an outbox
folder, which development and the tests read.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from itertools import count
from pathlib import Path
from typing import Protocol

from accounts.phones import has_mailbox

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Mail:
    to: str
    subject: str
    text: str


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver one message (blocking: called in a thread)."""
        ...


class OutboxMailer:
    """Writes each message to ``folder`` as ``<n>.eml`` (development and tests)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._numbers = count(1)

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            path = self.folder / f"{next(self._numbers):06d}.eml"
            if not path.exists():
                break
        path.write_bytes(bytes(message))
        log.info("mail: message to %s written to %s (no SMTP host configured)", message["To"], path)


class SmtpMailer:
    """Sends through an SMTP relay, with STARTTLS, implicit TLS or (a local relay) neither."""

    def __init__(
        self, *, host: str, port: int, security: str, username: str = "", password: str = ""
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self._username, self._password = username, password

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=30, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=30)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self._username:
                smtp.login(self._username, self._password)
            smtp.send_message(message)


class Postman:
    """Queues mail for a background task; failures are logged (never the message body: it
    holds codes)."""

    def __init__(self, mailer: Mailer, *, sender: str) -> None:
        self.mailer = mailer
        self.sender = sender
        self._pending: set[asyncio.Task[None]] = set()

    def post(self, mail: Mail) -> None:
        if not has_mailbox(mail.to):  # an account signed up by SMS (accounts.phones.placeholder_email)
            log.info("mail: nothing sent to %s, an address that receives no mail", mail.to)
            return
        task = asyncio.get_running_loop().create_task(self._send(mail))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, mail: Mail) -> None:
        await self.deliver(mail)

    async def deliver(self, mail: Mail) -> bool:
        """Send ``mail`` now (awaited: a batch job that must know it left); False when it did not."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="sesame.invalid")
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(mail.text)
        try:
            await asyncio.to_thread(self.mailer.send, message)
        except (OSError, smtplib.SMTPException) as exc:
            log.error("mail: could not send to %s: %s", mail.to, type(exc).__name__)
            return False
        return True

    async def drain(self) -> None:
        """Wait for queued messages (shutdown, tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
