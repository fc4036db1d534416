"""The RADIUS refusals' Reply-Message in the person's language (radius/attempt.py holds the English
source strings; the catalogs are the portal's, where the translators work)."""

from __future__ import annotations

from collections.abc import Sequence

from portal.i18n import load_catalogs
from radius.attempt import ReplyTexts


def reply_texts(languages: Sequence[str]) -> ReplyTexts:
    """Translates into ``language`` when offered, else into the first of ``languages``; each
    (message, language) once, then from a dict: a refusal costs no catalog lookup."""
    catalogs = load_catalogs(languages)
    default = languages[0]
    known: dict[tuple[str, str | None], str] = {}

    def texts(message: str, language: str | None) -> str:
        text = known.get((message, language))
        if text is None:
            chosen = language if language in catalogs else default
            text = catalogs[chosen].gettext(message)
            if len(known) < 1024:  # the messages are the core's constants: a handful, never the wire's
                known[(message, language)] = text
        return text

    return texts
