"""SMS to citizens (issue 19): the codes that verify a mobile number or reset a password.

A gateway is anything with ``async def send(sms)`` (:class:`SmsGateway`): the one shipped speaks
Kannel's HTTP ``sendsms`` (:mod:`portal.kannel`); docs/sms.md says how to write one for an
operator's own HTTP API. Without a gateway (development, tests) :class:`OutboxGateway` writes each
SMS to a folder.

As for mail (:mod:`portal.mail`), sending is never awaited by the request: :meth:`Courier.post`
queues it on a background task, so a page answers in the same time whether or not a number is
known, and a slow gateway never holds a page. A failure is logged (never the text: it holds a
code) and counted (``sesame_sms_sent{result}``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Protocol

from accounts.phones import PhoneRules
from accounts.smsbudget import Budget
from portal.metrics import SMS_SENT

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsConfig:
    """Sign-up and recovery by SMS, when the region offers them (``PortalConfig.sms``): the numbers
    accepted and the daily budgets; the throttles are the portal's (``sms_*`` limits)."""

    rules: PhoneRules
    budget: Budget


@dataclass(frozen=True, slots=True, kw_only=True)
class Sms:
    to: str  # E.164
    text: str


class SmsError(Exception):
    """The gateway did not take the SMS; ``kind`` is the metric's label (``timeout``, ``refused``…)."""

    def __init__(self, message: str, *, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


class SmsGateway(Protocol):
    async def send(self, sms: Sms) -> None:
        """Hand one SMS to the operator, or raise :class:`SmsError`."""
        ...


class OutboxGateway:
    """Writes each SMS to ``folder`` as ``<n>.sms`` (``To: …``, a blank line, the text): development
    and the tests."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._numbers = count(1)

    async def send(self, sms: Sms) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            path = self.folder / f"{next(self._numbers):06d}.sms"
            if not path.exists():
                break
        path.write_text(f"To: {sms.to}\n\n{sms.text}\n", encoding="utf-8")
        log.info("sms: message written to %s (no SMS gateway configured)", path)


class Courier:
    """Queues SMS for a background task over a gateway."""

    def __init__(self, gateway: SmsGateway) -> None:
        self.gateway = gateway
        self._pending: set[asyncio.Task[None]] = set()

    def post(self, sms: Sms) -> None:
        task = asyncio.get_running_loop().create_task(self._send(sms))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, sms: Sms) -> None:
        try:
            await self.gateway.send(sms)
        except SmsError as exc:
            SMS_SENT.labels(exc.kind).inc()
            log.error("sms: the gateway did not take an SMS to %s: %s", sms.to[:-4] + "••••", exc)
            return
        except Exception:  # a gateway's bug must not end the worker
            SMS_SENT.labels("error").inc()
            log.exception("sms: the gateway failed on an SMS to %s", sms.to[:-4] + "••••")
            return
        SMS_SENT.labels("sent").inc()

    async def drain(self) -> None:
        """Wait for queued SMS (shutdown, tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
