"""The email, or the SMS, warning a person that their unused account will be deleted
(accounts/lifecycle.py), in the language they used the portal in."""

from __future__ import annotations

from accounts.lifecycle import Notice
from portal.i18n import Translator
from portal.mail import Mail


def inactivity_warning(t: Translator, notice: Notice, *, region_name: str, portal_url: str) -> Mail:
    """The warning: the identity, since when it is unused, the day it goes and how to keep it."""
    assert notice.email is not None
    return Mail(
        to=notice.email,
        subject=t.gettext("Your %(region)s public Wi-Fi account will be deleted", region=region_name),
        text=t.gettext(
            "Hello,\n\nYour %(region)s public Wi-Fi account %(identity)s has not been used since "
            "%(last_seen)s. To keep only the data that is needed, it will be deleted on "
            "%(deletion_on)s.\n\nTo keep it, connect to the Wi-Fi or log in on %(portal_url)s before "
            "then. If you no longer need it, do nothing: it will be deleted with its devices.",
            region=region_name,
            identity=notice.identity,
            last_seen=f"{notice.last_seen:%Y-%m-%d}",
            deletion_on=f"{notice.deletion_on:%Y-%m-%d}",
            portal_url=portal_url,
        ),
    )


def inactivity_sms(t: Translator, notice: Notice, *, region_name: str, portal_url: str) -> str:
    """The same warning in an SMS's few words (an account signed up with a mobile number)."""
    return t.gettext(
        "%(region)s Wi-Fi: your account %(identity)s is unused since %(last_seen)s and will be deleted "
        "on %(deletion_on)s. To keep it, connect or log in on %(portal_url)s.",
        region=region_name,
        identity=notice.identity,
        last_seen=f"{notice.last_seen:%Y-%m-%d}",
        deletion_on=f"{notice.deletion_on:%Y-%m-%d}",
        portal_url=portal_url,
    )
