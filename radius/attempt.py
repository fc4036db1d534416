"""What the policy's steps share about one request (:class:`Attempt`), how a step ends
(:class:`Outcome`), and the Reply-Messages a person may read (translated where sent)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from accounts.vouchercodes import VoucherState
from radius.events import DropReason, RadiusRequest
from radius.methods import Method
from radius.passpoint import NONE, Facts
from radius.store import AccountView


def _(message: str) -> str:
    """Marks a Reply-Message for extraction (babel.cfg): :class:`ReplyTexts` translates it when sent."""
    return message


MSG_BAD_CREDENTIALS = _("Unknown user or wrong password")
MSG_DISABLED = _("This account is disabled")
MSG_LOCKED = _("This account is locked: contact support")
MSG_UNVERIFIED = _("Confirm your email address first")
MSG_FOREIGN_REALM = _("This network does not serve that realm")
MSG_NO_CREDENTIALS = _("No credentials in the request")
MSG_TOO_MANY = _("Too many failed attempts: try again in a few minutes")
MSG_UNKNOWN_DEVICE = _("This device is not remembered")
MSG_EAP = _("EAP is not configured on this server")
MSG_TOO_MANY_DEVICES = _("Too many devices connected with this account: disconnect one first")
MSG_DAILY_TIME = _("Daily connection time used up here: come back tomorrow")
MSG_DAILY_VOLUME = _("Daily data allowance used up here: come back tomorrow")
MSG_VOUCHER_NOT_YET = _("This voucher is not valid yet")
MSG_VOUCHER_EXPIRED = _("This voucher has expired")
MSG_VOUCHER_PLACE = _("This voucher does not work here")
MSG_VOUCHER_VOLUME = _("This voucher's data allowance is used up")
#: a voucher's refusal (accounts.vouchercodes.judge) → its Reply-Message
VOUCHER_MESSAGES = {
    "voucher_revoked": MSG_VOUCHER_EXPIRED,
    "voucher_not_yet_valid": MSG_VOUCHER_NOT_YET,
    "voucher_expired": MSG_VOUCHER_EXPIRED,
    "voucher_wrong_place": MSG_VOUCHER_PLACE,
    "voucher_devices": MSG_TOO_MANY_DEVICES,
    "voucher_volume": MSG_VOUCHER_VOLUME,
}


class ReplyTexts(Protocol):
    """The Reply-Message of a refusal in a language: ``language`` is the account's (None: unknown or
    not to be told, then the region's first language). Given by the composition root, from the
    portal's catalogs; the protocol core holds only the English source strings."""

    def __call__(self, message: str, language: str | None) -> str: ...


def english(message: str, language: str | None) -> str:
    """The source strings as they are (tests, and a pipeline built without catalogs)."""
    return message


class Outcome(enum.StrEnum):
    OK = "ok"
    REJECT = "reject"
    CHALLENGE = "challenge"  # an EAP conversation goes on: Access-Challenge, nothing decided yet


@dataclass(slots=True, kw_only=True)
class Attempt:
    """What the steps learn about one request as they go."""

    request: RadiusRequest
    now: datetime
    user_name: str = ""
    username: str = ""
    realm: str = ""
    method: Method = Method.NONE
    #: the method as recorded, when more precise than ``method`` (EAP: "peap/mschapv2", …)
    method_label: str = ""
    password: bytes = b""
    account: AccountView | None = None
    #: a guest's voucher, when the account is one (its rules apply in post-auth)
    voucher: VoucherState | None = None
    reason: str = ""
    message: str = ""
    reply: list[tuple[str, Any]] = field(default_factory=list)
    class_: bytes | None = None
    secret_reply: list[tuple[str, Any]] = field(default_factory=list)
    raw: bytes = b""
    #: EAP: the inner identity, the EAP packet to send back, the State of a challenge, and why a
    #: round is left unanswered
    identity: str = ""
    eap_reply: bytes = b""
    state: bytes = b""
    discard: DropReason | None = None
    #: what the request says about Passpoint and the visited network (read once it is decided)
    passpoint: Facts = NONE

    def reject(self, reason: str, message: str) -> Outcome:
        self.reason, self.message = reason, message
        return Outcome.REJECT

    @property
    def recorded_method(self) -> str:
        return self.method_label or self.method.value
