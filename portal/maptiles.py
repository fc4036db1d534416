"""Where the console's map may fetch a background from: nowhere, unless an operator says so.

Leaflet draws a map over tiles that the *browser* fetches. Every tile request tells the tile
server the staff member's address, when they work and which area they look at; a third party's
tile server (OpenStreetMap's, a commercial one) would learn it all, and would be a page that does
not work on a network with no internet. So by default there is no tile layer: the sites are
markers on a plain background, fitted to their bounds (docs/console.md, "Front-end assets").

An operator may configure a tile URL template — their own tile server on the region's network, or
a provider they have an agreement with (then that provider is a processor: docs/privacy.md). It is
an address a browser is sent to, so it follows the one rule of :mod:`accounts.weburl` (``https://``,
or ``http://`` to a private IP literal, or a path on this server), holds ``{z}``, ``{x}`` and
``{y}``, and its origin is the only one added to the page's Content-Security-Policy
(``img-src``). A key in its query string is seen by every staff browser: use a key bound to the
region's domain, or a tile proxy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from accounts.errors import InvalidInput
from accounts.weburl import web_target

#: Leaflet's placeholders: zoom, column, row, and the optional subdomain and retina suffix
_PLACEHOLDER = re.compile(r"\{(z|x|y|s|r)\}")
MAX_ATTRIBUTION = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class TileSource:
    """A configured background: Leaflet's ``L.tileLayer(template, {attribution})``."""

    template: str
    attribution: str

    @property
    def img_source(self) -> str | None:
        """What the page's ``img-src`` must allow beyond ``'self'`` (None: nothing). A ``{s}``
        subdomain (a.host, b.host, …) becomes the CSP wildcard ``*.host``."""
        if self.template.startswith("/"):
            return None
        parts = urlsplit(_PLACEHOLDER.sub(lambda m: "*" if m[1] == "s" else "0", self.template))
        return f"{parts.scheme}://{parts.netloc}"


def tile_source(template: str, *, attribution: str = "") -> TileSource | None:
    """The configured background, or None for none (an empty setting); :class:`InvalidInput` says
    why a template cannot be used."""
    template = template.strip()
    if not template:
        return None
    for needed in ("{z}", "{x}", "{y}"):
        if needed not in template:
            raise InvalidInput(f"a map tile URL holds {{z}}, {{x}} and {{y}}: {needed} is missing")
    web_target(_PLACEHOLDER.sub("0", template), what="the map tile URL", local_paths=True)
    host = urlsplit(_PLACEHOLDER.sub("0", template.replace("{s}", "S"))).netloc
    if host.startswith("["):
        raise InvalidInput("a CSP cannot name an IPv6 address: give the map tile server a host name")
    if "{s}" in template and not (host.startswith("S.") and template.count("{s}") == 1):
        raise InvalidInput("in a map tile URL, {s} may only be the host name's first label")
    return TileSource(template=template, attribution=attribution_text(attribution))


def attribution_text(attribution: str) -> str:
    """The attribution shown in the map's corner (Leaflet writes it as HTML): plain text, one
    line, at most :data:`MAX_ATTRIBUTION` characters; else :class:`InvalidInput`."""
    attribution = attribution.strip()
    if any(c in attribution for c in "<>") or not attribution.isprintable():
        raise InvalidInput("the map attribution is plain text on one line (no < or >)")
    if len(attribution) > MAX_ATTRIBUTION:
        raise InvalidInput(f"the map attribution is at most {MAX_ATTRIBUTION} characters")
    return attribution
