"""The French and Italian catalogs of the portal: complete, and safe to interpolate.

The template is extracted afresh from the sources (as docs/translations.md does it), so a string
added to a template or a view without a translation fails here. No database is needed; only
``portal.i18n`` is imported.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from portal.i18n import Translator, load_catalogs

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "portal" / "translations"
LANGUAGES = ["fr", "it"]
PLURAL_FORMS = {"fr": "nplurals=2; plural=(n > 1);", "it": "nplurals=2; plural=(n != 1);"}

PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
TAG = re.compile(r"<[^>]*>")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The messages of the current sources, extracted as docs/translations.md says."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    extraction = subprocess.run(
        [
            sys.executable, "-m", "babel.messages.frontend", "--quiet", "extract",
            "-F", "babel.cfg", "-o", str(pot), "--sort-output", "--no-wrap", "--no-location",
            "-k", "_", "-k", "gettext", "-k", "ngettext:1,2", ".",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert extraction.returncode == 0, extraction.stderr
    with pot.open("rb") as source:
        catalog = read_po(source)
    assert len([message for message in catalog if message.id]) > 50
    return catalog


def read_catalog(language: str) -> Catalog:
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=language)


def messages(catalog: Catalog) -> list[Message]:
    return [message for message in catalog if message.id]


def ids(message: Message) -> list[str]:
    """The source string, or the singular and the plural of a pluralizable one."""
    return [message.id] if isinstance(message.id, str) else list(message.id)


def key(message: Message) -> str:
    return ids(message)[0]


def forms(message: Message) -> list[str]:
    """The translation, one string per plural form; "" where there is none (None)."""
    if message.string is None or isinstance(message.string, str):
        return [message.string or ""]
    return list(message.string)


def placeholders(text: str) -> set[str]:
    """The named conversions of a %-format string, as written: {"%(num)d", "%(region)s"}."""
    return {match.group(0) for match in PLACEHOLDER.finditer(text)}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_source_string_is_translated(template: Catalog, language: str) -> None:
    catalog = read_catalog(language)
    translated = {key(message): message for message in messages(catalog)}
    missing = [key(message) for message in messages(template) if key(message) not in translated]
    assert missing == [], f"{language}: not in the catalog, run pybabel update (docs/translations.md)"
    for wanted in messages(template):
        message = translated[key(wanted)]
        assert message.pluralizable == wanted.pluralizable, message.id
        if wanted.pluralizable:
            assert ids(message)[1] == ids(wanted)[1], message.id
        assert not message.fuzzy, f"{language}: fuzzy (ignored at start-up): {message.id!r}"
        assert all(form.strip() for form in forms(message)), f"{language}: untranslated: {message.id!r}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_is_clean(language: str) -> None:
    catalog = read_catalog(language)
    assert catalog.plural_forms == PLURAL_FORMS[language]
    assert catalog.fuzzy is False
    for message in messages(catalog):
        assert not message.fuzzy, f"{language}: fuzzy: {message.id!r}"
        assert all(form.strip() for form in forms(message)), f"{language}: untranslated: {message.id!r}"
        assert len(forms(message)) == (catalog.num_plurals if message.pluralizable else 1), message.id
    problems = [(message.id, [str(error) for error in errors]) for message, errors in catalog.check()]
    assert problems == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_tags_and_line_breaks_are_kept(language: str) -> None:
    for message in messages(read_catalog(language)):
        if message.pluralizable:
            singular, plural = ids(message)
            wanted = placeholders(plural)
            for index, form in enumerate(forms(message)):
                found = placeholders(form)
                # The singular form may say "one" rather than "%(num)d" (Italian: only n == 1).
                allowed = [wanted, wanted - {"%(num)d"}] if index == 0 else [wanted]
                assert found in allowed, f"{language}: {form!r} vs {plural!r}"
            sources = [singular, plural]
        else:
            assert placeholders(forms(message)[0]) == placeholders(key(message)), (
                f"{language}: {message.string!r} vs {message.id!r}"
            )
            sources = [key(message)]
        for form in forms(message):
            assert Counter(TAG.findall(form)) == Counter(TAG.findall(sources[-1])), f"{language}: {form!r}"
            assert form.count("\n") == sources[-1].count("\n"), f"{language}: line breaks in {form!r}"
            # i18n.Translator formats plurals always (with "num"), other strings when given values.
            if message.pluralizable or placeholders(key(message)):
                values = dict.fromkeys(PLACEHOLDER.findall(sources[-1]), 1)
                assert isinstance(form % values, str)  # raises on a broken or unnamed conversion


def test_portal_loads_and_uses_the_catalogs() -> None:
    catalogs = load_catalogs(["fr", "it", "en"])
    assert set(catalogs) == {"fr", "it", "en"}
    french, italian, english = (Translator(code, catalogs[code]) for code in ("fr", "it", "en"))
    assert french.gettext("Log in") == "Se connecter"
    assert italian.gettext("Log in") == "Accedi"
    assert english.gettext("Log in") == "Log in"
    assert french.gettext("Version %(version)s", version="2") == "Version 2"
    assert italian.gettext("Version %(version)s", version="2") == "Versione 2"
    singular = "Please correct %(num)d field:"
    plural = "Please correct %(num)d fields:"
    assert french.ngettext(singular, plural, 1) == "Veuillez corriger 1 champ :"
    assert french.ngettext(singular, plural, 0) == "Veuillez corriger 0 champ :"  # French: n > 1
    assert french.ngettext(singular, plural, 2) == "Veuillez corriger 2 champs :"
    assert italian.ngettext(singular, plural, 3) == "Ci sono 3 campi da correggere:"
    assert english.ngettext(singular, plural, 1) == "Please correct 1 field:"
