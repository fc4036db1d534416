"""The admin API's documentation page: Swagger UI served by this application, nothing from elsewhere.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script. This one
serves the files of the ``swagger-ui-bundle-v2`` package (installed with Sésame, so the page
works offline) and starts Swagger UI from ``static/api-docs.js``; its Content-Security-Policy
then allows scripts, styles and requests from this origin only, with no inline script at all.
ReDoc, which would load its own scripts and fonts, is not served.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

DOCS_URL = "/api/docs"
OPENAPI_URL = "/api/openapi.json"

_VENDOR = Path(str(swagger_ui_path))
_STATIC = Path(__file__).resolve().parent / "static"
#: the only files served under DOCS_URL (the package also holds a demo page pointing elsewhere)
ASSETS = {
    "swagger-ui.css": _VENDOR / "swagger-ui.css",
    "swagger-ui-bundle.js": _VENDOR / "swagger-ui-bundle.js",
    "favicon-32x32.png": _VENDOR / "favicon-32x32.png",
    "api-docs.js": _STATIC / "api-docs.js",
}

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # swagger-ui.css draws its icons as data: SVG
        "connect-src 'self'",  # the OpenAPI document and "Try it out"
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{docs}/swagger-ui.css">
<link rel="icon" type="image/png" href="{docs}/favicon-32x32.png">
</head>
<body>
<main id="swagger-ui" data-openapi-url="{openapi}"></main>
<script src="{docs}/swagger-ui-bundle.js"></script>
<script src="{docs}/api-docs.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


@router.get(DOCS_URL)
async def api_docs(request: Request) -> HTMLResponse:
    page = PAGE.format(title=html.escape(f"{request.app.title} – API"), docs=DOCS_URL, openapi=OPENAPI_URL)
    return HTMLResponse(page, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})


@router.get(DOCS_URL + "/{name}")
async def api_docs_asset(name: str) -> FileResponse:
    path = ASSETS.get(name)
    if path is None:
        raise HTTPException(status_code=404, detail="no such file")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})
