"""Kannel's HTTP ``sendsms`` interface as an SMS gateway (issue 19; docs/sms.md).

Kannel (https://www.kannel.org, Debian ``kannel``) is the open-source SMS gateway operators and
aggregators speak to over SMPP, UCP/EMI or a modem; its ``smsbox`` takes messages to send over
HTTP: ``GET /cgi-bin/sendsms?username=…&password=…&from=…&to=…&text=…&charset=UTF-8``, answering
``202 0: Accepted for delivery`` (or ``Queued for later delivery``), ``403`` for wrong credentials
and ``4xx``/``5xx`` with a reason otherwise. With ``method="POST"`` the credentials and the
addresses travel as ``X-Kannel-*`` headers and the text as the body, so neither the password nor a
code lands in a proxy's access log.

The URL is an admin setting that receives citizens' numbers and codes: it passes the rule of every
such address (:func:`accounts.weburl.web_target`: ``https://``, or ``http://`` only to a private
IP literal such as the loopback where smsbox usually listens). Requests have a timeout, never
follow redirects, and every failure is an :class:`~portal.sms.SmsError` of a kind the metric counts.
"""

from __future__ import annotations

import httpx

from accounts.weburl import web_target
from portal.sms import Sms, SmsError

ACCEPTED = (200, 202)
#: what Kannel's body starts with when it took the message ("0: Accepted…", "3: Queued…")
ACCEPTED_STATUSES = ("0:", "3:")


def sendsms_url(value: str) -> str:
    """The ``sendsms`` URL if SMS may be sent there (see the module), else ``InvalidInput``."""
    return web_target(value, what="the Kannel sendsms URL")


class KannelGateway:
    def __init__(
        self,
        *,
        url: str,
        username: str,
        password: str,
        sender: str,
        method: str = "GET",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = sendsms_url(url)
        self.username, self._password, self.sender = username, password, sender
        if method not in ("GET", "POST"):
            raise ValueError("method must be GET or POST")
        self.method = method
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), follow_redirects=False, transport=transport, trust_env=False
        )

    async def send(self, sms: Sms) -> None:
        try:
            if self.method == "GET":
                params = {
                    "username": self.username, "password": self._password, "from": self.sender,
                    "to": sms.to, "text": sms.text, "charset": "UTF-8", "coding": "0",
                }  # fmt: skip
                response = await self._client.get(self.url, params=params)
            else:
                headers = {
                    "X-Kannel-Username": self.username, "X-Kannel-Password": self._password,
                    "X-Kannel-From": self.sender, "X-Kannel-To": sms.to,
                    "Content-Type": "text/plain; charset=UTF-8",
                }  # fmt: skip
                response = await self._client.post(self.url, headers=headers, content=sms.text.encode())
        except httpx.TimeoutException:
            raise SmsError("Kannel did not answer in time", kind="timeout") from None
        except httpx.HTTPError as exc:
            raise SmsError(f"cannot reach Kannel: {type(exc).__name__}", kind="unreachable") from None
        body = response.text[:200].strip()
        if response.status_code not in ACCEPTED or not body.startswith(ACCEPTED_STATUSES):
            kind = "forbidden" if response.status_code == 403 else "refused"
            raise SmsError(f"Kannel refused the SMS: HTTP {response.status_code} {body!r}", kind=kind)

    async def aclose(self) -> None:
        await self._client.aclose()
