"""Why an attempt was refused, in words support can read out on the phone: one sentence for
every reason code the RADIUS server writes in a decision record (``radpostauth.reason``).

The codes are the server's; the console may not import ``radius/`` (the dependency rule), so the
table is here and tests/portal/test_console_support.py reads the RADIUS sources with Python's own
parser to check that every code they can record has its sentence. A code unknown to this table
(an older record, a newer server) is shown as it is, with a sentence saying so.
"""

from __future__ import annotations

from portal.context import Page


def _(message: str) -> str:
    """Marks a sentence for extraction (pybabel); :func:`in_words` translates it."""
    return message


#: reason code → what it means for the citizen (English source, translated where shown)
SENTENCES: dict[str, str] = {
    "accepted": _("Accepted: the device was let in."),
    # the request itself
    "no_user_name": _("The device sent no user name at all (a misconfigured device or access point)."),
    "bad_user_name": _(
        "The user name the device sent cannot be an account's (it holds invisible or broken characters)."
    ),
    "no_credentials": _("The device sent a user name but no password."),
    "bad_user_password": _(
        "The password could not be read: the access point's shared secret is wrong (tell the network team)."
    ),
    "foreign_realm": _(
        "The user name ends with another organisation's realm: the device is set up for another network."
    ),
    "eap_unsupported": _("The device uses 802.1X (EAP), which this server is not set up for."),
    # credentials
    "bad_password": _("Wrong password."),
    "unknown_user": _("No account has this user name (a typo, or an account deleted)."),
    "bad_chap": _("Wrong password or one-time code (CHAP)."),
    "bad_token": _("The one-time access code is wrong, used already or expired."),
    "bad_mschapv2": _("Wrong password (MS-CHAPv2)."),
    "bad_mschap": _("Wrong password (MS-CHAP)."),
    "mac_mismatch": _("The device's address does not match the name it signed in with (MAC authentication)."),
    "unknown_device": _(
        "This device is not remembered, or no longer: the citizen signs in again on the portal."
    ),
    # too many failures
    "rate_limited": _(
        "Too many wrong passwords for this account from this device: refused for a few minutes."
    ),
    "device_rate_limited": _("Too many wrong passwords from this device: refused for a few minutes."),
    "nas_rate_limited": _("Too many wrong passwords at this access point: refused for a few minutes."),
    # the account and the rules
    "account_disabled": _("The account is disabled."),
    "account_locked": _("The account is locked: support can unlock it."),
    "account_unverified": _(
        "The email address was never verified and the grace period is over: resend the verification."
    ),
    "simultaneous_use": _("Too many devices connected at the same time for this account."),
    "daily_time_limit": _("The day's connection time at this place is used up."),
    "daily_octets_limit": _("The day's data volume at this place is used up."),
    # guests' vouchers
    "unknown_voucher": _("The device sent a voucher code that does not exist (mistyped, or guessed)."),
    "voucher_revoked": _("The voucher's batch was revoked by staff."),
    "voucher_not_yet_valid": _("The voucher's validity window has not started yet."),
    "voucher_expired": _("The voucher has expired: its window or its time since first use is over."),
    "voucher_wrong_place": _("The voucher does not work at this place (its batch names other places)."),
    "voucher_devices": _("The voucher is already in use on as many devices as it allows."),
    "voucher_volume": _("The voucher's data allowance is used up."),
    # 802.1X (EAP) conversations
    "realm_mismatch": _("The identity inside the secure tunnel is of another realm than the outer one."),
    "peer_rejected": _(
        "The device refused the server's proof: it does not trust this network's certificate or server."
    ),
    "inner_malformed": _("The device sent a broken message inside the secure tunnel."),
    "inner_method_not_allowed": _("The device chose an inner method this network does not allow."),
    "inner_no_common_method": _(
        "The device and the server have no inner method in common (check the device's 802.1X settings)."
    ),
    "inner_unsupported_avp": _("The device sent a mandatory setting the server does not know."),
    "inner_challenge_mismatch": _("The device's MS-CHAPv2 answer does not answer the server's challenge."),
    "eap_rounds": _("The 802.1X conversation took too many rounds."),
    "eap_timeout": _("The device stopped answering in the middle of the 802.1X conversation."),
    "eap_no_common_method": _("The device and the server have no 802.1X method in common."),
    "eap_malformed": _("The device sent a broken 802.1X message."),
    "tls_failed": _(
        "The secure connection failed: often the device does not trust the server's certificate."
    ),
    "certificate_refused": _(
        "The device's certificate is unknown, revoked or expired: forget the device and enrol it again."
    ),
    "eap_internal_error": _("An error on the server's side: tell the network team."),
}


def in_words(page: Page, reason: str) -> str:
    """The sentence for ``reason`` in the page's language; an unknown code says so."""
    sentence = SENTENCES.get(reason)
    if sentence is None:
        return page._("A reason this console does not know: %(code)s.", code=reason)
    return page._(sentence)
