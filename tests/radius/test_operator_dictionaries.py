"""Operators can load their own FreeRADIUS-format dictionaries after Sésame's."""

from __future__ import annotations

from pathlib import Path

import pytest

from radius import DICTIONARY
from radius.codec import Codec, UnknownAttribute
from sesame.settings import SettingsError, load_settings

ACME = """\
VENDOR          Acme            99999
BEGIN-VENDOR    Acme
ATTRIBUTE       Acme-Group      1       string
ATTRIBUTE       Acme-Quota      2       integer
END-VENDOR      Acme
"""


def test_an_operator_dictionary_adds_vendor_attributes(tmp_path: Path) -> None:
    extra = tmp_path / "dictionary.acme"
    extra.write_text(ACME)
    codec = Codec([DICTIONARY, extra])
    encoded = codec.encode((("Acme-Group", "staff"), ("Session-Timeout", 60)))
    # Vendor-Specific(26), length, vendor 99999, sub-type 1, sub-length, value
    assert encoded.startswith(
        bytes([26, 2 + 4 + 2 + 5]) + (99999).to_bytes(4, "big") + bytes([1, 7]) + b"staff"
    )
    assert encoded.endswith(bytes([27, 6]) + (60).to_bytes(4, "big"))
    with pytest.raises(UnknownAttribute):
        Codec([DICTIONARY]).encode((("Acme-Group", "staff"),))


def test_the_setting_names_a_missing_file(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")
    monkeypatch.setenv("SESAME_RADIUS_DICTIONARIES", str(tmp_path / "nope"))
    with pytest.raises(
        SettingsError, match=r"invalid setting SESAME_RADIUS_DICTIONARIES: .*no dictionary file"
    ):
        load_settings()
    extra = tmp_path / "dictionary.acme"
    extra.write_text(ACME)
    monkeypatch.setenv("SESAME_RADIUS_DICTIONARIES", str(extra))
    assert load_settings().radius.dictionary_files == [extra]
