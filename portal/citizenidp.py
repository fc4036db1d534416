"""Citizens' sign-in through an identity provider: "S'identifier avec FranceConnect", or any
OpenID provider the region configures (docs/franceconnect.md). The protocol is
:mod:`portal.oidcclient`'s (authlib, PKCE S256, ``state``, ``nonce``, ``acr_values``, the ID
token and UserInfo verified against the provider's keys); the accounts are
:mod:`accounts.identitylinks`'.

* ``GET /idp/{slug}`` sends the browser to the provider; ``state``, ``nonce`` and the PKCE verifier
  stay in a signed *flow cookie* (path ``/idp``, ten minutes, ``SameSite=Lax``: the answer comes
  back as a top-level navigation from the provider's site). ``?link=1`` from "My account" links
  the provider's identity to the logged-in account instead of signing in.
* ``GET /idp/callback`` refuses, with a translated page and never a 500: another browser's or a
  stale ``state`` (or RFC 9207 ``iss``), a refused consent (``access_denied``), any other error of
  the provider, and a code or ID token that does not verify (expired or reused code, another
  ``nonce``, signature, issuer, audience, UserInfo of another subject). A known ``(provider, sub)``
  is logged in and goes on like a password log-in (to the hotspot's hand-off when it came from
  one); an unknown one is asked for a username and the terms (``/idp/welcome``), what the
  provider said waiting sealed in a cookie (:meth:`SecretBox.seal`: the person's civil identity,
  where kept, is not readable in it).
* At log-out (:func:`provider_logout`), where the provider has an ``end_session_endpoint``, the
  browser is sent there with the ID token as hint (FranceConnect requires it).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import identitylinks
from accounts.errors import Conflict, InvalidInput
from accounts.identity import split_identity
from accounts.secretbox import SecretBox
from accounts.selfservice import Consent
from portal import oidcclient as oidc
from portal.citizenidpconfig import CIVIL_CLAIMS, CitizenIdp
from portal.context import Page, PageDep, redirect, set_login, usable
from portal.forms import Errors, check_throttle, client_address, failed, read_form, show, signed_in
from portal.metrics import count
from portal.security import Signer
from portal.ssoconfig import SLUG

log = logging.getLogger(__name__)
router = APIRouter(prefix="/idp", include_in_schema=False)

FLOW_COOKIE = "sesame_idp_flow"
FLOW_PATH = "/idp"
FLOW_MAX_AGE = 600.0
PENDING_COOKIE = "sesame_idp_pending"
PENDING_MAX_AGE = 900.0
PENDING_PURPOSE = "idp-pending-signup"
#: the provider and ID token of the current log-in, for the provider's log-out
SESSION_COOKIE = "sesame_idp_session"


def _signer(page: Page, purpose: str) -> Signer:
    return Signer(page.portal.box, purpose=purpose)


def redirect_uri(page: Page) -> str:
    """The one callback every citizen provider is registered with."""
    return page.portal.config.public_url + "/idp/callback"


def _next_step(page: Page) -> str:
    return "/connect" if page.handoff is not None else "/account"


async def _refusal(page: Page, reason: str, *, status_code: int = 403) -> Response:
    _ = page._
    messages = {
        "provider": _("The identity provider did not sign you in, or its answer could not be verified. "
                      "Please try again."),
        "denied": _("You cancelled the sign-in, or refused to share your identity: you are not signed in."),
        "state": _("This sign-in was not started from this browser, or took too long. Please start again."),
        "expired": _("This sign-in took too long or was already used. Please start again."),
        "account": _("This account cannot be used: contact support."),
        "linked": _("This identity is already linked to another account."),
    }  # fmt: skip
    response = await show(
        page, "message.html", status_code=status_code, heading=_("Sign-in refused"), message=messages[reason]
    )
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


@router.get("/callback")
async def callback(page: PageDep) -> Response:
    portal, query = page.portal, page.request.query_params
    now = time.time()
    flow_data = _signer(page, "idp-flow").read(
        page.request.cookies.get(FLOW_COOKIE), now=now, max_age=FLOW_MAX_AGE
    )
    slug = str(flow_data.get("p", "")) if flow_data else ""
    idp = portal.config.citizen_idps.provider(slug)
    if flow_data is None or idp is None or query.get("state") != flow_data.get("s"):
        count("idp", "state")
        return await _refusal(page, "state", status_code=400)
    provider = idp.provider
    if "iss" in query and query["iss"] != provider.issuer:
        count("idp", "state")
        return await _refusal(page, "state", status_code=400)
    if "error" in query or "code" not in query:
        log.info("citizen idp %s: the provider answered %s", slug, query.get("error", "no code")[:40])
        count("idp", "denied")
        return await _refusal(page, "denied" if query.get("error") == "access_denied" else "provider")
    flow = oidc.Flow(state=str(flow_data["s"]), nonce=str(flow_data["n"]), verifier=str(flow_data["v"]))
    timeout = portal.config.citizen_idps.timeout
    try:
        endpoints = await oidc.discover(provider, seconds=timeout)
        claims = await oidc.id_token_claims(
            provider, endpoints, code=query["code"][:2048], flow=flow, redirect_uri=redirect_uri(page),
            seconds=timeout, userinfo=idp.userinfo_claims(),
        )  # fmt: skip
        subject = identitylinks.check_subject(slug, claims.get("sub"))
    except (oidc.OidcError, InvalidInput) as exc:
        log.warning("citizen idp %s: %s", slug, exc)
        count("idp", "refused")
        reason = "expired" if "refused the code" in str(exc) else "provider"
        return await _refusal(page, reason)
    kept = _kept(idp, claims)
    id_token = str(claims.get("_id_token", ""))
    if flow_data.get("l") is not None:
        return await _link(page, idp, subject, kept, account_id=flow_data.get("l"))
    async with portal.transaction() as session:
        account = await identitylinks.account_for(
            session, region=await portal.region(session), provider=slug, subject=subject
        )
        if account is not None and usable(account):
            await identitylinks.note_use(
                session, account=account, provider=slug, subject=subject, now=portal.now()
            )
    if account is not None and not usable(account):
        count("idp", "unusable")
        return await _refusal(page, "account")
    if account is None:
        pending = {"p": slug, "sub": subject, "at": now, "t": id_token, **kept}
        response = redirect(page, "/idp/welcome")
        response.set_cookie(
            PENDING_COOKIE, portal.box.seal(json.dumps(pending).encode(), purpose=PENDING_PURPOSE),
            max_age=int(PENDING_MAX_AGE), path=FLOW_PATH, httponly=True, samesite="lax",
            secure=portal.config.secure_cookies,
        )  # fmt: skip
    else:
        count("idp", "login")
        response = redirect(page, _next_step(page))
        set_login(page, response, account)
        _remember_session(page, response, slug, id_token)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


def _kept(idp: CitizenIdp, claims: dict[str, Any]) -> dict[str, Any]:
    """What of the answer is kept: the verified email if the region wants it, the civil identity
    only where it is turned on."""
    kept: dict[str, Any] = {}
    email = claims.get("email")
    if idp.use_email and isinstance(email, str) and claims.get("email_verified") is True:
        kept["email"] = email[:254]
    if idp.keep_civil_identity:
        civil = {k: claims[k] for k in CIVIL_CLAIMS if k in claims}
        kept["civil"] = {k: v for k, v in civil.items() if isinstance(v, str)}
    return kept


def _remember_session(page: Page, response: Response, slug: str, id_token: str) -> None:
    if not id_token or len(id_token) > 3000:
        return
    response.set_cookie(
        SESSION_COOKIE, _signer(page, "idp-session").sign({"p": slug, "t": id_token}, now=time.time()),
        max_age=int(page.portal.config.login_max_age), httponly=True, samesite="lax",
        secure=page.portal.config.secure_cookies,
    )  # fmt: skip


async def _link(
    page: Page, idp: CitizenIdp, subject: str, kept: dict[str, Any], *, account_id: object
) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        account = await page.account(session)
        if account is None or account.id != account_id:
            return await _refusal(page, "state", status_code=400)
        try:
            await identitylinks.link(
                session, box=portal.box, account=account, provider=idp.slug, subject=subject,
                civil=kept.get("civil"), now=portal.now(),
            )  # fmt: skip
        except Conflict:
            count("idp", "link_conflict")
            return await _refusal(page, "linked", status_code=409)
    count("idp", "linked")
    response = redirect(page, "/account")
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


def _pending(page: Page) -> dict[str, Any] | None:
    value = page.request.cookies.get(PENDING_COOKIE)
    if not value or len(value) > 8192:
        return None
    box: SecretBox = page.portal.box
    try:
        found = json.loads(box.open(value, purpose=PENDING_PURPOSE))
    except Exception:  # a forged, old-key or damaged cookie: start again
        return None
    if not isinstance(found, dict) or not isinstance(found.get("at"), (int, float)):
        return None
    if not 0 <= time.time() - found["at"] <= PENDING_MAX_AGE:
        return None
    return found if page.portal.config.citizen_idps.provider(str(found.get("p"))) else None


@router.get("/welcome")
async def welcome_form(page: PageDep) -> Response:
    pending = _pending(page)
    if pending is None:
        return await _refusal(page, "state", status_code=400)
    idp = page.portal.config.citizen_idps.provider(str(pending["p"]))
    values = {"username": identitylinks.suggest_username()}
    return await show(page, "idp_welcome.html", values=values, errors={}, idp=idp, email=pending.get("email"))


@router.post("/welcome")
async def welcome(page: PageDep) -> Response:
    portal = page.portal
    form = await read_form(page)
    keys = {"signup_ip": client_address(page)}  # as the email sign-up: limited by volume
    await check_throttle(page, keys)
    pending = _pending(page)
    if pending is None:
        return await _refusal(page, "state", status_code=400)
    idp = portal.config.citizen_idps.provider(str(pending["p"]))
    values = {"username": form.get("username", "").strip()[:64]}
    errors: Errors = {}
    try:
        split_identity(values["username"], home_realm=portal.config.realm)
    except InvalidInput:
        errors["username"] = page._(
            "A username has 3 to 64 characters: letters a-z, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit."
        )
    if form.get("terms") != "yes":
        errors["terms"] = page._("To create an account, accept the terms of use and the privacy notice.")
    context: dict[str, Any] = {"idp": idp, "email": pending.get("email")}
    if errors:
        return await show(page, "idp_welcome.html", values=values, errors=errors, status_code=422, **context)
    try:
        async with portal.transaction() as session:
            look = await page.look(session)
            account = await identitylinks.sign_up(
                session, hasher=portal.hasher, box=portal.box, region=await portal.region(session),
                provider=str(pending["p"]), subject=str(pending["sub"]), username=values["username"],
                consent=Consent(version=look.terms_version, accepted_at=portal.now()),
                email=pending.get("email"), civil=pending.get("civil"), locale=page.t.language,
            )  # fmt: skip
    except Conflict:
        errors["username"] = page._("This username is taken: choose another.")
        return await show(page, "idp_welcome.html", values=values, errors=errors, status_code=409, **context)
    except InvalidInput:  # this identity got an account meanwhile (another tab)
        return await _refusal(page, "expired", status_code=409)
    await failed(page, keys)
    count("idp", "signup")
    response = redirect(page, _next_step(page))
    set_login(page, response, account)
    _remember_session(page, response, str(pending["p"]), str(pending.get("t", "")))
    response.delete_cookie(PENDING_COOKIE, path=FLOW_PATH)
    return response


@router.post("/unlink")
async def unlink(page: PageDep) -> Response:
    """Forget the logged-in account's link to a provider (from My account); refused when it is
    the account's only way in."""
    form = await read_form(page)
    async with page.portal.transaction() as session:
        account = await signed_in(page, session)
        try:
            await identitylinks.unlink(session, account=account, provider=form.get("provider", "")[:32])
        except Conflict:
            message = page._("This is your account's only way in: it cannot be unlinked.")
            return await show(page, "message.html", status_code=409, heading=page._("Sorry"), message=message)
    count("idp", "unlinked")
    return redirect(page, "/account")


@router.get("/{slug}")
async def start(page: PageDep, slug: str, link: str | None = None) -> Response:
    """Send the browser to the provider (a GET: starting a sign-in changes nothing)."""
    portal = page.portal
    idp = portal.config.citizen_idps.provider(slug) if SLUG.fullmatch(slug) else None
    if idp is None:
        return redirect(page, "/login")
    flow_fields: dict[str, Any] = {}
    if link == "1":
        if page.account_id is None:
            return redirect(page, "/login")
        flow_fields["l"] = page.account_id
    try:
        endpoints = await oidc.discover(idp.provider, seconds=portal.config.citizen_idps.timeout)
    except oidc.OidcError as exc:
        log.warning("citizen idp %s: %s", slug, exc)
        return await _refusal(page, "provider", status_code=502)
    url, flow = oidc.authorization_url(idp.provider, endpoints, redirect_uri=redirect_uri(page))
    response = redirect(page, url)
    value = _signer(page, "idp-flow").sign(
        {"p": slug, "s": flow.state, "n": flow.nonce, "v": flow.verifier, **flow_fields}, now=time.time()
    )
    response.set_cookie(
        FLOW_COOKIE, value, max_age=int(FLOW_MAX_AGE), path=FLOW_PATH, httponly=True,
        samesite="lax", secure=portal.config.secure_cookies,
    )  # fmt: skip
    return response


async def provider_logout(page: Page, response: Response) -> Response:
    """At the citizen's log-out: the provider's end-session URL when the log-in came through a
    provider that has one (else ``response`` as it is); the session cookie is dropped either way."""
    portal = page.portal
    found = _signer(page, "idp-session").read(
        page.request.cookies.get(SESSION_COOKIE), now=time.time(), max_age=portal.config.login_max_age
    )
    response.delete_cookie(SESSION_COOKIE)
    idp = portal.config.citizen_idps.provider(str(found.get("p", ""))) if found else None
    if found is None or idp is None:
        return response
    try:
        endpoints = await oidc.discover(idp.provider, seconds=portal.config.citizen_idps.timeout)
    except oidc.OidcError as exc:
        log.warning("citizen idp %s: no log-out at the provider: %s", idp.slug, exc)
        return response
    url = oidc.end_session_url(
        endpoints, id_token=str(found.get("t", "")), after=portal.config.public_url + "/login",
        state=secrets.token_urlsafe(16),
    )  # fmt: skip
    if url is None:
        return response
    out = redirect(page, url)
    set_login(page, out, None)
    out.delete_cookie(SESSION_COOKIE)
    return out
