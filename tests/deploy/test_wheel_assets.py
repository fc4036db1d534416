"""A wheel install serves the front-end files from itself: the wheel carries ``portal/vendor/``
(package data) with the manifest and the licences, an installed app serves them, and an install
that lost one does not start (``sesame serve`` exits 4 naming the file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from portal import assets

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

SERVE_ONE = """
import asyncio, json, httpx
from sqlalchemy.ext.asyncio import create_async_engine
import portal.assets as assets
from portal.app import create_app

async def main():
    app = create_app(engine=create_async_engine("sqlite+aiosqlite://"))
    url = assets.vendored().url("leaflet/images/marker-icon.png")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client:
        r = await client.get(url)
    print(json.dumps({"vendor": str(assets.VENDOR), "status": r.status_code,
                      "type": r.headers["content-type"], "body": r.content.hex()}))

asyncio.run(main())
"""


def test_the_wheel_carries_the_vendored_files_and_an_installed_app_serves_them(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        cwd=tmp_path,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("sesame_wifi-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.removeprefix("portal/vendor/") for n in names if n.startswith("portal/vendor/")}
    on_disk = {str(p.relative_to(assets.VENDOR)) for p in assets.VENDOR.rglob("*") if p.is_file()}
    assert shipped == on_disk
    assert {"manifest.json", "leaflet/LICENSE", "uplot/LICENSE", "htmx.org/LICENSE"} <= shipped

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESAME_")}
    env["PYTHONPATH"] = str(site)  # before the editable install of the source tree
    served = subprocess.run(
        [sys.executable, "-c", SERVE_ONE], check=True, capture_output=True, text=True, cwd=tmp_path, env=env
    )
    answer = json.loads(served.stdout)
    assert answer["vendor"] == str(site / "portal" / "vendor")
    assert (answer["status"], answer["type"]) == (200, "image/png")
    assert (
        bytes.fromhex(answer["body"])
        == (assets.VENDOR / "leaflet" / "images" / "marker-icon.png").read_bytes()
    )

    # an installation that lost a file stops at start, saying which
    (site / "portal" / "vendor" / "leaflet" / "leaflet.js").unlink()
    env |= {
        "SESAME_ENVIRONMENT": "development",
        "SESAME_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}",
    }
    started = subprocess.run(
        [sys.executable, "-m", "sesame", "serve"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert started.returncode == 4, started.stderr
    errors = [line for line in started.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "leaflet.js" in errors[0] and "scripts/vendor-assets" in errors[0], (
        started.stderr
    )
