"""Languages of the portal: French, Italian and English.

The source strings are English; ``portal/translations/<lang>/LC_MESSAGES/messages.po`` hold the
French and Italian catalogs (Babel). They are compiled in memory at start-up, so no build step
is needed; ``pybabel extract -F babel.cfg`` refreshes the template (see docs/translations.md).
The language is the one chosen with the switcher (a cookie), else the best match of the
browser's ``Accept-Language``, else the first one offered.
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from io import BytesIO
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = {"fr": "Français", "it": "Italiano", "en": "English"}
LANGUAGE_COOKIE = "sesame_lang"


def load_catalogs(languages: Sequence[str]) -> dict[str, gettext.NullTranslations]:
    """Each offered language's catalog (English needs none: it is the source)."""
    folder = resources.files("portal") / "translations"
    catalogs: dict[str, gettext.NullTranslations] = {}
    for language in languages:
        po = folder / language / "LC_MESSAGES" / "messages.po"
        if language == "en" or not po.is_file():
            catalogs[language] = gettext.NullTranslations()
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=language)
        compiled = BytesIO()
        write_mo(compiled, catalog, use_fuzzy=False)
        compiled.seek(0)
        catalogs[language] = Translations(fp=compiled)
    return catalogs


def negotiate(accept_language: str | None, offered: Sequence[str]) -> str:
    """The best offered language for an ``Accept-Language`` header (RFC 9110 §12.5.4)."""
    preferred: list[tuple[float, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            preferred.append((-quality + position * 1e-6, tag.strip().replace("_", "-")))
    choice = Locale.negotiate([tag for _, tag in sorted(preferred)], list(offered), sep="-")
    return str(choice.language) if choice is not None else offered[0]


@dataclass(frozen=True, slots=True)
class Translator:
    """The gettext functions of one language, as templates and views use them."""

    language: str
    catalog: gettext.NullTranslations

    def gettext(self, message: str, **values: Any) -> str:
        text = self.catalog.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        text = self.catalog.ngettext(singular, plural, n)
        return text % ({"num": n} | values)

    def template_globals(self) -> Mapping[str, Any]:
        return {"_": self.gettext, "gettext": self.gettext, "ngettext": self.ngettext, "lang": self.language}
