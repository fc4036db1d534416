"""What devices need to join the secure (WPA2/WPA3-Enterprise) network safely, for whoever writes
their profiles (a mobile-config generator, an onboarding tool, a help page): the CA that issued
the RADIUS server's certificate and the name the server's certificate carries. A device that
pins both cannot be talked into sending its credentials to an evil twin; one that pins neither
can (docs/eap.md, "What devices must pin").

* ``GET /eap/ca.pem``: the CA, PEM — while the server's CA changes, every CA devices pin, one
  PEM bundle, the one today's server certificate chains to first;
* ``GET /eap/ca.crt``: today's CA, DER, ``application/x-x509-ca-cert`` (what phones offer to
  install; a DER file holds one certificate, so during a change of CA it is the CA of today's
  server certificate: whoever pins by hand takes the bundle, or each CA by its fingerprint);
* ``GET /eap/ca/<sha256>.crt``: each pinned CA, DER, by its SHA-256 fingerprint (hex);
* ``GET /eap/server.json``: the server name(s), today's CA's SHA-256 fingerprint, subject and
  expiry, every pinned CA (``cas``: each with the same, and whether today's server certificate
  chains to it), and the methods offered.

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
    """The CA today's server certificate chains to, DER (phones offer to install it)."""
    return Response(_profile(portal).ca_der, media_type="application/x-x509-ca-cert", headers=CACHE)


@router.get(
    "/ca/{fingerprint}.crt",
    response_class=Response,
    responses={
        200: {"content": {"application/x-x509-ca-cert": {}}, "description": "one pinned CA, DER"},
        404: {"description": "no pinned CA has this fingerprint"},
    },
)
async def one_ca(portal: PortalDep, fingerprint: str) -> Response:
    """One of the CAs devices pin, DER, by its SHA-256 fingerprint in hex (any case, colons or not)."""
    wanted = fingerprint.replace(":", "").upper()
    for ca in _profile(portal).cas:
        if ca.sha256.replace(":", "") == wanted:
            return Response(ca.der, media_type="application/x-x509-ca-cert", headers=CACHE)
    return Response(status_code=404)


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
            "cas": [
                {
                    "sha256": ca.sha256,
                    "subject": ca.subject,
                    "not_after": ca.not_after.isoformat(),
                    "der": f"/eap/ca/{ca.sha256.replace(':', '')}.crt",
                    "signs_server_certificate": index == 0,
                }
                for index, ca in enumerate(profile.cas)
            ],
            "methods": list(profile.methods),
            "outer_identity": f"anonymous@{portal.config.realm}",
        },
        headers=CACHE,
    )
