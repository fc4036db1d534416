"""The map's background (portal/maptiles.py): none by default; an operator's tile URL only under
the rule every address a browser is sent to follows, and only its origin added to the CSP."""

from __future__ import annotations

import pytest

from accounts.errors import InvalidInput
from portal.maptiles import tile_source


def test_no_setting_no_background() -> None:
    assert tile_source("") is None
    assert tile_source("   ") is None


@pytest.mark.parametrize(
    ("template", "img_source"),
    [
        ("https://tiles.region.example/{z}/{x}/{y}.png", "https://tiles.region.example"),
        ("https://{s}.tiles.region.example/{z}/{x}/{y}{r}.png", "https://*.tiles.region.example"),
        ("http://10.20.0.5:8080/osm/{z}/{x}/{y}.png", "http://10.20.0.5:8080"),  # on the region's network
        ("/tiles/{z}/{x}/{y}.png", None),  # behind the same reverse proxy: 'self' already
    ],
)
def test_an_operators_tile_server_adds_only_its_origin(template: str, img_source: str | None) -> None:
    source = tile_source(template, attribution="© Région")
    assert source is not None and source.template == template and source.attribution == "© Région"
    assert source.img_source == img_source


@pytest.mark.parametrize(
    "template",
    [
        "http://tile.openstreetmap.example/{z}/{x}/{y}.png",  # plain http to a public host
        "https://tiles.example/{z}/{x}.png",  # no {y}
        "https://user:pw@tiles.example/{z}/{x}/{y}.png",
        "javascript:alert({z}{x}{y})",
        "//tiles.example/{z}/{x}/{y}.png",
        "https://tiles.example/{z}/{x}/{y}.png?a=<b>",
        "https://t-{s}.example/{z}/{x}/{y}.png",  # {s} that no CSP host-source can express
    ],
)
def test_other_templates_are_refused(template: str) -> None:
    with pytest.raises(InvalidInput):
        tile_source(template)


def test_the_attribution_is_plain_text() -> None:
    with pytest.raises(InvalidInput):
        tile_source("/tiles/{z}/{x}/{y}.png", attribution="<img src=x onerror=alert(1)>")
