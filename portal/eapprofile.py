"""What devices need to join the secure (WPA2/WPA3-Enterprise) network safely, for whoever writes
their profiles (a mobile-config generator, an onboarding tool, a help page): the CA that issued
the RADIUS server's certificate and the name the server's certificate carries. A device that
pins both cannot be talked into sending its credentials to an evil twin; one that pins neither
can (docs/eap.md, "What devices must pin").

* ``GET /eap/ca.pem``: the CA, PEM;
* ``GET /eap/ca.crt``: the same, DER, ``application/x-x509-ca-cert`` (what phones offer to install);
* ``GET /eap/server.json``: the server name(s), the CA's SHA-256 fingerprint, subject and expiry,
  and the methods offered.

Served only when ``SESAME_EAP_CA`` is set (else 404). Public: a CA certificate is no secret.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from portal.context import EapProfile, PortalDep

router = APIRouter(prefix="/eap", tags=["secure network profile"])

#: the CA changes seldom, and a stale copy is harmless for an hour
CACHE = {"Cache-Control": "public, max-age=3600"}


def _profile(portal: PortalDep) -> EapProfile:
    profile = portal.config.eap
    assert profile is not None  # the router is mounted only with a profile
    return profile


@router.get(
    "/ca.pem",
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {}}, "description": "the CA, PEM"}},
)
async def ca_pem(portal: PortalDep) -> Response:
    """The CA devices must trust for the secure network, PEM."""
    return Response(_profile(portal).ca_pem, media_type="application/x-pem-file", headers=CACHE)


@router.get(
    "/ca.crt",
    response_class=Response,
    responses={200: {"content": {"application/x-x509-ca-cert": {}}, "description": "the CA, DER"}},
)
async def ca_crt(portal: PortalDep) -> Response:
    """The CA devices must trust for the secure network, DER (phones offer to install it)."""
    return Response(_profile(portal).ca_der, media_type="application/x-x509-ca-cert", headers=CACHE)


@router.get("/server.json", response_class=JSONResponse)
async def server(portal: PortalDep) -> JSONResponse:
    """What a device's profile pins: the server's name and the CA, and the methods offered."""
    profile = _profile(portal)
    return JSONResponse(
        {
            "realm": portal.config.realm,
            "server_name": profile.server_names[0] if profile.server_names else None,
            "server_names": list(profile.server_names),
            "ca_sha256": profile.ca_sha256,
            "ca_subject": profile.ca_subject,
            "ca_not_after": profile.ca_not_after.isoformat(),
            "ca_pem": "/eap/ca.pem",
            "ca_der": "/eap/ca.crt",
            "methods": list(profile.methods),
            "outer_identity": f"anonymous@{portal.config.realm}",
        },
        headers=CACHE,
    )
