"""The front-end files the application serves itself (portal/assets.py, docs/console.md "Front-end
assets"): that they are the pinned npm packages' own bytes, that each is served with its type and
cached as immutable, that a missing or altered one stops the start, and that no page of the app
makes a browser fetch anything from another host."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from collections.abc import Iterator, Sequence
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute
from jinja2 import Environment
from starlette.routing import Route

from portal import assets
from tests.conftest import IN_CI
from tests.portal.conftest import PUBLIC_URL, Browser
from tests.portal.test_pages import sign_up

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # PNG 1.2 §12.12


def need_node_modules() -> Path:
    if not (NODE_MODULES / ".package-lock.json").is_file():
        message = "node_modules/ is needed: scripts/test runs npm ci (package-lock.json)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return NODE_MODULES


# --- the files are the pinned packages' ------------------------------------------------------------


def test_package_json_pins_exact_versions_that_the_lock_file_and_the_manifest_agree_on() -> None:
    declared = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    manifest = json.loads((assets.VENDOR / assets.MANIFEST).read_text())["packages"]
    wanted = {**declared["dependencies"], **declared["devDependencies"]}
    assert set(declared["dependencies"]) == set(assets.WANTED)
    for package, version in wanted.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{package}: {version} is not an exact version"
        locked = lock["packages"][f"node_modules/{package}"]
        assert locked["version"] == version
        algorithm, _, digest = locked["integrity"].partition("-")
        assert algorithm == "sha512" and len(base64.b64decode(digest)) == 64
        if package in assets.WANTED:
            assert manifest[package]["version"] == version


def test_the_vendored_files_are_byte_for_byte_those_npm_ci_installed(tmp_path: Path) -> None:
    """npm ci checked the tarballs against package-lock.json's SHA-512; the files served must be theirs."""
    node_modules = need_node_modules()
    assert assets.differences(node_modules) == []
    # and the comparison can fail: a vendored copy with one byte changed is caught
    altered = tmp_path / "vendor"
    shutil.copytree(assets.VENDOR, altered)
    target = altered / "leaflet" / "leaflet.js"
    target.write_bytes(target.read_bytes().replace(b"Leaflet", b"Leafl3t", 1))
    assert assets.differences(node_modules, altered) == [
        "leaflet/leaflet.js differs from the npm package's dist/leaflet.js"
    ]


def test_each_package_ships_its_licence_beside_its_files() -> None:
    manifest = json.loads((assets.VENDOR / assets.MANIFEST).read_text())["packages"]
    assert {p: manifest[p]["license"] for p in assets.WANTED} == {
        "htmx.org": "0BSD",
        "uplot": "MIT",
        "leaflet": "BSD-2-Clause",
    }
    for package in assets.WANTED:
        assert (assets.VENDOR / package / assets.LICENCE_FILE).stat().st_size > 100


# --- the start-up check ----------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["missing", "altered", "no manifest", "manifest without leaflet"])
def test_a_missing_or_altered_file_is_refused_with_its_name(tmp_path: Path, damage: str) -> None:
    copy = tmp_path / "vendor"
    shutil.copytree(assets.VENDOR, copy)
    assert assets.load(copy).versions == assets.vendored().versions  # intact: loads
    icon = copy / "leaflet" / "images" / "marker-icon.png"
    manifest = copy / assets.MANIFEST
    if damage == "missing":
        icon.unlink()
    elif damage == "altered":
        icon.write_bytes(icon.read_bytes()[:-1])
    elif damage == "no manifest":
        manifest.unlink()
    else:
        data = json.loads(manifest.read_text())
        del data["packages"]["leaflet"]
        manifest.write_text(json.dumps(data))
    with pytest.raises(assets.AssetsMissing) as refused:
        assets.load(copy)
    assert ("manifest" if "manifest" in damage else "marker-icon.png") in str(refused.value)
    assert "scripts/vendor-assets" in str(refused.value)


# --- served with their type and cached ------------------------------------------------------------


def _media_type(header: str) -> tuple[str, str | None]:
    message = Message()
    message["Content-Type"] = header
    return message.get_content_type(), message.get_param("charset")  # type: ignore[return-value]


def _directives(cache_control: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        found[name.lower()] = value or None
    return found


async def test_every_vendored_file_is_served_with_its_type_and_cached_for_a_year(browser: Browser) -> None:
    expected = {
        ".js": ("text/javascript", "utf-8"),
        ".css": ("text/css", "utf-8"),
        ".png": ("image/png", None),
    }
    served = list(assets.vendored())
    assert {f"{a.package}/{a.name}" for a in served} == {
        f"{package}/{assets.served_name(source)}"
        for package, sources in assets.WANTED.items()
        for source in sources
    }
    for asset in served:
        on_disk = (assets.VENDOR / asset.package / asset.name).read_bytes()
        response = await browser.get(asset.url)
        assert response.status_code == 200, asset.url
        assert response.content == on_disk
        assert _media_type(response.headers["content-type"]) == expected[Path(asset.name).suffix]
        cache = _directives(response.headers["cache-control"])
        assert cache == {"public": None, "max-age": "31536000", "immutable": None}
        assert response.headers["x-content-type-options"] == "nosniff"
        if asset.name.endswith(".png"):
            assert on_disk.startswith(PNG_SIGNATURE)
        again = await browser.get(asset.url, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    # the URL carries the version: leaflet's is its package.json's
    version = json.loads((ROOT / "package.json").read_text())["dependencies"]["leaflet"]
    assert assets.vendored().url("leaflet/leaflet.css") == f"/assets/vendor/leaflet/{version}/leaflet.css"


@pytest.mark.parametrize(
    "path",
    [
        "/assets/vendor/leaflet/0.0.1/leaflet.css",  # another version: never the current bytes
        "/assets/vendor/leaflet/{v}/LICENSE",  # shipped, not served
        "/assets/vendor/leaflet/{v}/leaflet.js.map",
        "/assets/vendor/leaflet/{v}/../../manifest.json",
        "/assets/vendor/leaflet/{v}/%2e%2e/%2e%2e/manifest.json",
        "/assets/vendor/leaflet/{v}/images/../../../assets.py",
        "/assets/vendor/nothing/1.0.0/x.js",
    ],
)
async def test_nothing_else_is_served_under_the_prefix(browser: Browser, path: str) -> None:
    response = await browser.get(path.format(v=assets.vendored().versions["leaflet"]))
    assert response.status_code == 404


def test_templates_reference_a_file_by_name_with_its_integrity() -> None:
    env = Environment(autoescape=True)
    assets.vendored().install(env)
    page = env.from_string(
        '<script src="{{ asset_url("htmx.org/htmx.min.js") }}" '
        'integrity="{{ asset_integrity("htmx.org/htmx.min.js") }}"></script>'
    ).render()
    refs = _References()
    refs.feed(page)
    ((tag, _, url),) = [r for r in refs.found if r[1] == "src"]
    assert (tag, url) == ("script", assets.vendored().url("htmx.org/htmx.min.js"))
    body = (assets.VENDOR / "htmx.org" / "htmx.min.js").read_bytes()
    assert refs.integrity == ["sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode()]
    with pytest.raises(LookupError):
        env.from_string('{{ asset_url("htmx.org/htmx.js") }}').render()


# --- no page fetches anything from elsewhere ------------------------------------------------------

#: what the portal's own policy allows beyond this server, and why (anything else fails the test)
KNOWN_EXTERNAL_SOURCES = {
    # a commune's logo may be an https:// address (accounts.network: BRANDING_FIELDS, in the walled garden)
    ("img-src", "https:"),
}
URL_ATTRIBUTES = {"src", "href", "action", "formaction", "poster", "data", "srcset", "background", "manifest"}


class _References(HTMLParser):
    """Every URL a page names in an attribute, a meta refresh or a CSS ``url()``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str]] = []
        self.integrity: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            if name == "srcset":
                self.found += [(tag, name, c.strip().split()[0]) for c in value.split(",") if c.strip()]
            elif name in URL_ATTRIBUTES:
                self.found.append((tag, name, value.strip()))
            elif name == "style":
                self._css(tag, value)
            elif name == "integrity":
                self.integrity.append(value)
        if tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            _, _, target = values.get("content", "").partition("url=")
            self.found.append((tag, "refresh", target.strip()))
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._css("style", data)

    def _css(self, tag: str, css: str) -> None:
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
            self.found.append((tag, "url()", url.strip()))


def external(url: str, origin: str) -> bool:
    """Whether a browser would fetch ``url`` from another host than ``origin``."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "mailto", "tel") and not parts.netloc:
        return False
    if not parts.scheme and not parts.netloc:
        return False  # a path on this server
    return f"{parts.scheme or 'http'}://{parts.netloc}" != origin


def csp_sources(header: str) -> set[tuple[str, str]]:
    """(directive, source) for every source of a Content-Security-Policy that is not this server."""
    outside: set[tuple[str, str]] = set()
    for directive in filter(None, (d.strip() for d in header.split(";"))):
        name, *sources = directive.split()
        for source in sources:
            if source in ("'self'", "'none'", "data:") or re.fullmatch(r"'nonce-[A-Za-z0-9_\-]+'", source):
                continue
            outside.add((name.lower(), source))
    return outside


def get_paths(routes: Sequence[object], prefix: str = "") -> Iterator[str]:
    """The GET paths without a parameter of an app's routes, through included routers (FastAPI
    0.165 keeps an included router as one entry holding the original and its prefix)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from get_paths(inner.routes, prefix + getattr(route.include_context, "prefix", ""))  # type: ignore[attr-defined]
        elif isinstance(route, APIRoute | Route) and "GET" in (route.methods or ()) and "{" not in route.path:
            yield prefix + route.path


async def _html_pages(browser: Browser) -> dict[str, httpx.Response]:
    """Every GET route of the app without a path parameter, as this browser sees it."""
    pages: dict[str, httpx.Response] = {}
    for path in sorted(set(get_paths(browser.app.routes))):
        response = await browser.get(path, follow_redirects=True)
        if response.headers.get("content-type", "").startswith("text/html"):
            pages[path] = response
    return pages


async def test_no_page_of_the_app_references_another_host(browser: Browser) -> None:
    """Anonymous, then signed up and logged in: each page's HTML names only this server, and its
    CSP allows no other host than the known, explained exceptions. /api/docs included."""
    seen: dict[str, httpx.Response] = await _html_pages(browser)
    await sign_up(browser, "pages", "pages@example.fr")
    await browser.submit("/verify", {"code": await browser.last_code()})
    assert (await browser.get("/account")).status_code == 200  # logged in
    seen |= {f"{path} (logged in)": r for path, r in (await _html_pages(browser)).items()}
    assert {"/", "/login", "/signup", "/api/docs", "/account (logged in)"} <= set(seen)
    problems = []
    for path, response in seen.items():
        refs = _References()
        refs.feed(response.text)
        assert refs.found, f"{path}: no reference at all (the parser would be blind)"
        problems += [f"{path}: <{t} {a}={u!r}>" for t, a, u in refs.found if external(u, PUBLIC_URL)]
        policy = response.headers.get("content-security-policy", "")
        assert "default-src" in policy, path
        problems += [f"{path}: CSP {d} {s}" for d, s in csp_sources(policy) - KNOWN_EXTERNAL_SOURCES]
    assert problems == []
    # the checks can fail: a page naming a CDN script, and a policy allowing one, are caught
    refs = _References()
    refs.feed(
        '<link rel="stylesheet" href="//unpkg.com/leaflet.css"><div style="background:url(https://t.example/a.png)">'
    )
    assert [external(u, PUBLIC_URL) for _, _, u in refs.found] == [True, True]
    assert csp_sources("default-src 'self'; script-src 'self' https://cdn.example 'nonce-abc'") == {
        ("script-src", "https://cdn.example")
    }
