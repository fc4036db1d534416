"""Signing in to the console through an OpenID provider (docs/console.md, "Single sign-on").

``/console/sso/{provider}`` sends the browser to the provider with a fresh ``state``, ``nonce``
and PKCE verifier, which it keeps in a signed *flow cookie* of its own (path ``/console/sso``,
ten minutes). That cookie is ``SameSite=Lax``, unlike the session's ``Strict``: the answer comes
back as a top-level navigation from the provider's site, and a Strict cookie would not come with
it. For the same reason the callback does not redirect to the console — a redirect in a chain
that a cross-site navigation started is still cross-site, and would arrive without the new
Strict session —: it answers a small page that moves on by itself (``<meta http-equiv=refresh>``,
no script) and has a link for those whose browser does not.

``/console/sso/callback`` refuses, with a page that says which of these it was and nothing more:
the provider's error (``error=access_denied`` when the person refused), an answer whose
``state`` (or RFC 9207 ``iss``) is not this browser's request, a code or ID token that does not
verify (reused or expired code, another ``nonce``, signature, issuer, audience), an email the
provider does not say it verified, and an email that is no active admin's. The last is told to
the person who just proved at the provider that the email is theirs — nothing an unauthenticated
visitor could ask about someone else's address. Every outcome with an email is audited
(:mod:`accounts.staffsignin`); the role and commune are Sésame's.

After the provider, the session counts as having a second factor (the provider's own MFA),
unless the region's settings say ``totp_after_sso``: then the TOTP step (or enrolment) follows as
after a password.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import staffsignin, twofactor
from portal import oidcclient as oidc
from portal.console import session as console_session
from portal.console.render import render
from portal.console.session import ASK_CODE, ASK_ENROL
from portal.context import Page, PageDep, redirect
from portal.security import Signer
from portal.ssoconfig import SLUG

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console/sso", include_in_schema=False)

FLOW_COOKIE = "sesame_console_sso"
FLOW_PATH = "/console/sso"
FLOW_MAX_AGE = 600.0


def _signer(page: Page) -> Signer:
    return Signer(page.portal.box, purpose="console-oidc-flow")


def redirect_uri(page: Page) -> str:
    """The one callback every provider is registered with."""
    return page.portal.config.public_url + "/console/sso/callback"


def _refusal(page: Page, reason: str, *, status_code: int = 403) -> Response:
    _ = page._
    messages = {
        "provider": _("The identity provider did not sign you in, or its answer could not be verified."),
        "denied": _("The identity provider says the sign-in was cancelled or refused."),
        "state": _("This sign-in was not started from this browser, or took too long. Please start again."),
        "unverified": _("The identity provider does not confirm that this email address is yours."),
        "unknown": _("No staff account may sign in with this identity. Ask your region's network team."),
    }
    response = render(
        page, "sso/refused.html", status_code=status_code, heading=_("Sign-in refused"),
        message=messages[reason],
    )  # fmt: skip
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


@router.get("/callback")
async def callback(page: PageDep) -> Response:
    portal, query = page.portal, page.request.query_params
    now = console_session.now_of(portal)
    flow_data = _signer(page).read(page.request.cookies.get(FLOW_COOKIE), now=now, max_age=FLOW_MAX_AGE)
    slug = str(flow_data.get("p", "")) if flow_data else ""
    provider = portal.config.sso.provider(slug)
    if flow_data is None or provider is None or query.get("state") != flow_data.get("s"):
        return _refusal(page, "state", status_code=400)
    if "iss" in query and query["iss"] != provider.issuer:
        return _refusal(page, "state", status_code=400)
    method = f"oidc:{provider.slug}"
    if "error" in query or "code" not in query:
        log.info(
            "console sso %s: the provider answered %s", provider.slug, query.get("error", "no code")[:40]
        )
        return _refusal(page, "denied" if query.get("error") == "access_denied" else "provider")
    flow = oidc.Flow(state=str(flow_data["s"]), nonce=str(flow_data["n"]), verifier=str(flow_data["v"]))
    timeout = portal.config.sso.timeout
    try:
        endpoints = await oidc.discover(provider, seconds=timeout)
        claims = await oidc.id_token_claims(
            provider,
            endpoints,
            code=query["code"],
            flow=flow,
            redirect_uri=redirect_uri(page),
            seconds=timeout,
        )
    except oidc.OidcError as exc:
        log.warning("console sso %s: %s", provider.slug, exc)
        return _refusal(page, "provider")
    email = claims.get("email")
    email = email.strip()[:254] if isinstance(email, str) else ""
    async with portal.transaction() as session:
        if not email or not provider.verified(claims):
            await staffsignin.record(
                session, email=email, method=method, refused="unverified", at=portal.now()
            )
            return _refusal(page, "unverified")
        admin = await staffsignin.admin_for_identity(session, email=email, now=portal.now())
        if admin is None:
            await staffsignin.record(session, email=email, method=method, refused="unknown", at=portal.now())
            return _refusal(page, "unknown")
        next_path, ask = "/console", None
        if portal.config.sso.totp_after_sso:
            if await twofactor.has_two_factor(session, admin=admin):
                next_path, ask = "/console/login/code", ASK_CODE
            elif (await portal.region(session)).require_two_factor:
                next_path, ask = "/console/enrol", ASK_ENROL
        response = render(page, "sso/continue.html", next_path=next_path, provider=provider.name)
        if ask is None:  # else the code step audits the sign-in, as "oidc:<provider>+totp"
            await staffsignin.record(session, email=email, method=method, admin=admin, at=portal.now())
            console_session.start_session(page, response, admin=admin, second_factor=True)
        else:
            console_session.start_pending(page, response, admin=admin, ask=ask, method=method)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


@router.get("/{slug}")
async def start(page: PageDep, slug: str) -> Response:
    """Send the browser to the provider (a GET: starting a sign-in changes nothing)."""
    portal = page.portal
    provider = portal.config.sso.provider(slug) if SLUG.fullmatch(slug) else None
    if provider is None:
        return redirect(page, "/console/login")
    try:
        endpoints = await oidc.discover(provider, seconds=portal.config.sso.timeout)
    except oidc.OidcError as exc:
        log.warning("console sso %s: %s", provider.slug, exc)
        return _refusal(page, "provider", status_code=502)
    url, flow = oidc.authorization_url(provider, endpoints, redirect_uri=redirect_uri(page))
    response = redirect(page, url)
    value = _signer(page).sign(
        {"p": provider.slug, "s": flow.state, "n": flow.nonce, "v": flow.verifier},
        now=console_session.now_of(portal),
    )
    response.set_cookie(
        FLOW_COOKIE, value, max_age=int(FLOW_MAX_AGE), path=FLOW_PATH, httponly=True,
        samesite="lax", secure=portal.config.secure_cookies,
    )  # fmt: skip
    return response
