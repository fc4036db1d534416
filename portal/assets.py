"""Front-end libraries served by this application itself, never by a CDN (docs/console.md,
"Front-end assets").

The staff console must work on a network with no internet, and a page that loads a script from
elsewhere tells that other host who works when. So the few libraries the pages use — htmx for
partial updates, uPlot for charts, Leaflet for the map of the sites — come from npm, pinned:

* ``package.json`` names exact versions; ``package-lock.json`` pins each tarball's integrity
  (SHA-512), which ``npm ci`` checks;
* ``scripts/vendor-assets`` runs ``npm ci`` and then ``python -m portal.assets vendor``: the files
  listed in :data:`WANTED` (and each package's licence) are copied from ``node_modules/`` into
  ``portal/vendor/``, with ``manifest.json``: each package's version and licence, each file's
  SHA-256;
* ``portal/vendor/`` is committed, so a wheel (package data), the container build (offline) and
  ``scripts/run`` need no Node; ``tests/portal/test_assets.py`` checks after ``npm ci`` (which
  ``scripts/test`` runs) that they are byte for byte the pinned packages' files.

At start :func:`vendored` reads the manifest and checks every wanted file against its hash:
anything missing or altered is :class:`AssetsMissing`, and ``sesame serve`` stops with one line.
The files are then served from memory under URLs that carry the package's version
(``/assets/vendor/leaflet/1.9.4/leaflet.css``), cached by browsers for a year as immutable: a new
version is a new URL. Relative references between files of one package (``leaflet.css`` →
``images/layers.png``) keep working because a package's files share one folder. Templates name a
file by ``package/file`` through the Jinja2 globals :func:`Assets.install` adds:
``{{ asset_url("htmx.org/htmx.min.js") }}`` and ``{{ asset_integrity(…) }}`` (Subresource
Integrity, in case something between us and the browser alters a file).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from jinja2 import Environment

PREFIX = "/assets/vendor"
VENDOR = Path(__file__).resolve().parent / "vendor"
MANIFEST = "manifest.json"

#: npm package → its files that the application serves, as paths in the package. A leading
#: ``dist/`` is dropped when copied, so that a package's files keep their relative places.
WANTED: dict[str, tuple[str, ...]] = {
    "htmx.org": ("dist/htmx.min.js",),
    "uplot": ("dist/uPlot.iife.min.js", "dist/uPlot.min.css"),
    "leaflet": (
        "dist/leaflet.js",
        "dist/leaflet.css",
        "dist/images/layers.png",
        "dist/images/layers-2x.png",
        "dist/images/marker-icon.png",
        "dist/images/marker-icon-2x.png",
        "dist/images/marker-shadow.png",
    ),
}
#: copied beside the served files (the licences ask that their notice travel with the code), not served
LICENCE_FILE = "LICENSE"

#: what each served file is; nothing is left to the platform's MIME table
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}
CACHE_FOREVER = "public, max-age=31536000, immutable"


class AssetsMissing(Exception):
    """The vendored front-end files are absent, incomplete or altered: the service cannot start."""


def served_name(source: str) -> str:
    """Where a package's file lands in ``portal/vendor/<package>/``."""
    return source.removeprefix("dist/")


@dataclass(frozen=True, slots=True, kw_only=True)
class Asset:
    """One served file, held in memory (the whole set is about 300 kB)."""

    package: str
    version: str
    name: str
    body: bytes
    media_type: str
    sha256: bytes

    @property
    def url(self) -> str:
        return f"{PREFIX}/{self.package}/{self.version}/{self.name}"

    @property
    def integrity(self) -> str:
        """The value of a ``<script>``/``<link>`` ``integrity`` attribute (Subresource Integrity)."""
        return "sha256-" + base64.b64encode(self.sha256).decode()

    @property
    def etag(self) -> str:
        return '"' + self.sha256.hex()[:32] + '"'


class Assets:
    """The vendored files by ``package/name`` and by URL; what templates and the route read."""

    def __init__(self, assets: list[Asset], versions: dict[str, str]) -> None:
        self._by_key = {f"{a.package}/{a.name}": a for a in assets}
        self._by_url = {a.url: a for a in assets}
        self.versions = dict(versions)  # package → version, for docs and the health of the set-up

    def __iter__(self) -> Iterator[Asset]:
        return iter(self._by_key.values())

    def get(self, key: str) -> Asset:
        """The file a template names (``"leaflet/leaflet.css"``); a wrong name fails the render."""
        try:
            return self._by_key[key]
        except KeyError:
            raise LookupError(f"no vendored front-end file {key!r} (portal.assets.WANTED)") from None

    def url(self, key: str) -> str:
        return self.get(key).url

    def integrity(self, key: str) -> str:
        return self.get(key).integrity

    def at(self, url: str) -> Asset | None:
        return self._by_url.get(url)

    def install(self, env: Environment) -> None:
        """Give a Jinja2 environment ``asset_url(key)`` and ``asset_integrity(key)``."""
        env.globals["asset_url"] = self.url
        env.globals["asset_integrity"] = self.integrity


def load(directory: Path = VENDOR) -> Assets:
    """Every wanted file from ``directory``, checked against the manifest, else :class:`AssetsMissing`."""
    fix = "reinstall Sésame, or in a source tree run scripts/vendor-assets"
    try:
        manifest = json.loads((directory / MANIFEST).read_bytes())
        packages = manifest["packages"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        where = directory / MANIFEST
        raise AssetsMissing(f"the front-end files' manifest {where} cannot be read ({exc}): {fix}") from None
    assets: list[Asset] = []
    versions: dict[str, str] = {}
    for package, sources in WANTED.items():
        entry = packages.get(package) if isinstance(packages, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
            raise AssetsMissing(f"{package} is not in {directory / MANIFEST}: {fix}")
        versions[package] = version = str(entry["version"])
        for source in sources:
            name = served_name(source)
            path = directory / package / name
            try:
                body = path.read_bytes()
            except OSError:
                raise AssetsMissing(f"the front-end file {path} is missing: {fix}") from None
            digest = hashlib.sha256(body).digest()
            if entry["files"].get(name) != digest.hex():
                raise AssetsMissing(f"the front-end file {path} is not the one {MANIFEST} names: {fix}")
            media_type = MEDIA_TYPES[PurePosixPath(name).suffix]
            assets.append(
                Asset(
                    package=package,
                    version=version,
                    name=name,
                    body=body,
                    media_type=media_type,
                    sha256=digest,
                )
            )
    return Assets(assets, versions)


@functools.cache
def vendored() -> Assets:
    """The files this installation serves, read and checked once per process."""
    return load(VENDOR)


router = APIRouter(include_in_schema=False)


@router.get(PREFIX + "/{package}/{version}/{name:path}")
async def vendored_file(request: Request, package: str, version: str, name: str) -> Response:
    """Only the files of the manifest, by exact URL: no path from the request reaches the disk."""
    asset = vendored().at(f"{PREFIX}/{package}/{version}/{name}")
    if asset is None:  # another version (a page cached across an upgrade) is not served either
        raise HTTPException(status_code=404, detail="no such file")
    headers = {"Cache-Control": CACHE_FOREVER, "ETag": asset.etag}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


# --- set-up: from node_modules/ (after `npm ci`) to portal/vendor/ -----------------------------


def _package_version(node_modules: Path, package: str) -> tuple[str, str]:
    meta = json.loads((node_modules / package / "package.json").read_bytes())
    return str(meta["version"]), str(meta.get("license", ""))


def vendor(node_modules: Path, directory: Path = VENDOR) -> None:
    """Replace ``directory`` with the wanted files of the installed packages and their manifest."""
    if directory.exists():
        shutil.rmtree(directory)
    manifest: dict[str, dict[str, object]] = {}
    for package, sources in WANTED.items():
        version, licence = _package_version(node_modules, package)
        files: dict[str, str] = {}
        for source in sources:
            target = directory / package / served_name(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(node_modules / package / source, target)
            files[served_name(source)] = hashlib.sha256(target.read_bytes()).hexdigest()
        shutil.copyfile(node_modules / package / LICENCE_FILE, directory / package / LICENCE_FILE)
        manifest[package] = {"version": version, "license": licence, "files": files}
    text = json.dumps({"packages": manifest}, indent=2, sort_keys=True) + "\n"
    (directory / MANIFEST).write_text(text, encoding="utf-8")


def differences(node_modules: Path, directory: Path = VENDOR) -> list[str]:
    """How ``directory`` differs from what :func:`vendor` would make of ``node_modules`` (none: [])."""
    found: list[str] = []
    manifest = json.loads((directory / MANIFEST).read_bytes())["packages"]
    for package, sources in WANTED.items():
        version, _ = _package_version(node_modules, package)
        if manifest.get(package, {}).get("version") != version:
            found.append(f"{package}: vendored {manifest.get(package, {}).get('version')}, npm has {version}")
        for source in (*sources, LICENCE_FILE):
            ours = directory / package / served_name(source)
            if not ours.is_file() or ours.read_bytes() != (node_modules / package / source).read_bytes():
                found.append(f"{package}/{served_name(source)} differs from the npm package's {source}")
    return found


def main(argv: list[str]) -> int:
    """``python -m portal.assets vendor|check [NODE_MODULES]`` (scripts/vendor-assets)."""
    if len(argv) not in (1, 2) or argv[0] not in ("vendor", "check"):
        print("usage: python -m portal.assets vendor|check [node_modules]", file=sys.stderr)
        return 2
    node_modules = Path(argv[1] if len(argv) == 2 else "node_modules")
    if argv[0] == "vendor":
        vendor(node_modules)
        versions = load(VENDOR).versions  # what the app will check at start, checked now
        print(f"vendored into {VENDOR}: " + ", ".join(f"{p} {v}" for p, v in versions.items()))
        return 0
    found = differences(node_modules)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
