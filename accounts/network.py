"""Services for the network inventory: the home region, communes, sites and NAS clients.

Every function takes the caller's ``AsyncSession`` and keyword arguments, flushes so that
uniqueness problems surface as :class:`~accounts.errors.Conflict`, and never commits.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.identity import (
    display_name,
    fold_name,
    normalize_insee,
    normalize_nas_address,
    normalize_realm,
)
from accounts.models import Branding, Commune, Nas, Region, Site
from accounts.secretbox import SecretBox
from accounts.weburl import web_target

NAS_SECRET_PURPOSE = "nas-secret"  # noqa: S105 - a label, not a secret
MIN_NAS_SECRET = 8
MAX_NAS_SECRET = 128  # what RADIUS clients such as radclient and most controllers accept

UAM_SECRET_PURPOSE = "uam-secret"  # noqa: S105 - a label, not a secret

#: Portal hand-off styles an access point can use; the portal registers an integration for each
#: (checked at start-up).
HANDOFFS = ("none", "coovachilli", "form_post")

#: What an access point or controller may say it is (``nas.type``, FreeRADIUS's column): a known
#: product, or ``other``. A closed list so that a typo ("meraky") is refused, not stored and
#: silently treated as "other" by whatever reads the type.
VENDORS = (
    "other", "aruba", "cisco", "coovachilli", "fortinet", "meraki", "mikrotik", "omada", "openwrt",
    "opnsense", "pfsense", "ruckus", "unifi",
)  # fmt: skip


def check_vendor(vendor: str) -> str:
    """``vendor`` as stored (lower case), or :class:`InvalidInput` naming the known ones."""
    kind = vendor.strip().lower()
    if kind not in VENDORS:
        raise InvalidInput(f"unknown vendor: choose one of {', '.join(VENDORS)}")
    return kind


async def flush_or_conflict(session: AsyncSession, conflict: str) -> None:
    """Flush pending changes; a uniqueness violation becomes :class:`Conflict` with this message."""
    try:
        await session.flush()
    except IntegrityError:  # a concurrent writer won the race; the caller rolls back
        raise Conflict(conflict) from None


# -- region ---------------------------------------------------------------------------------


async def ensure_home_region(session: AsyncSession, *, realm: str, name: str | None = None) -> Region:
    """The region for our home realm, created on first use."""
    realm = normalize_realm(realm)
    found = select(Region).where(Region.realm == realm)
    region = await session.scalar(found)
    if region is None:
        try:
            async with session.begin_nested():  # a savepoint: losing the race keeps the transaction
                region = Region(realm=realm, name=name or realm)
                session.add(region)
        except IntegrityError:
            # another process created it at the same moment (two RADIUS workers starting on an
            # empty database): theirs is ours
            region = (await session.scalars(found)).one()
    return region


# -- communes -------------------------------------------------------------------------------


async def add_commune(session: AsyncSession, *, region: Region, name: str, insee_code: str) -> Commune:
    code = normalize_insee(insee_code)
    if await session.scalar(select(Commune.id).where(Commune.insee_code == code)) is not None:
        raise Conflict(f"a commune with INSEE code {code} already exists")
    commune = Commune(region=region, name=display_name(name, what="commune"), insee_code=code)
    session.add(commune)
    await flush_or_conflict(session, f"a commune with INSEE code {code} already exists")
    return commune


async def find_commune(session: AsyncSession, ref: str) -> Commune:
    """A commune by INSEE code or by name; a name shared by several communes must be disambiguated."""
    ref = ref.strip()
    try:
        code = normalize_insee(ref)
    except InvalidInput:
        code = None
    if code is not None:
        commune = await session.scalar(select(Commune).where(Commune.insee_code == code))
        if commune is not None:
            return commune
    matches = (await session.scalars(select(Commune).where(Commune.name_key == fold_name(ref)))).all()
    if not matches:
        raise NotFound(f"no commune named {ref!r}")
    if len(matches) > 1:
        codes = ", ".join(c.insee_code for c in matches)
        raise InvalidInput(f"several communes are named {ref!r} ({codes}): give the INSEE code")
    return matches[0]


async def list_communes(session: AsyncSession) -> Sequence[Commune]:
    return (await session.scalars(select(Commune).order_by(Commune.name, Commune.insee_code))).all()


# -- sites ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Coordinates:
    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise InvalidInput("coordinates are a latitude in [-90, 90] and a longitude in [-180, 180]")


async def add_site(
    session: AsyncSession,
    *,
    commune: Commune,
    name: str,
    address: str | None = None,
    coordinates: Coordinates | None = None,
) -> Site:
    name = display_name(name, what="site")
    await _check_site_name_free(session, commune_id=commune.id, name=name)
    site = Site(
        commune=commune,
        name=name,
        address=display_name(address, what="address", max_length=255) if address else None,
        latitude=coordinates.latitude if coordinates else None,
        longitude=coordinates.longitude if coordinates else None,
    )
    session.add(site)
    await flush_or_conflict(session, f"{commune.name} already has a site named {name!r}")
    return site


async def _check_site_name_free(
    session: AsyncSession, *, commune_id: int, name: str, site_id: int | None = None
) -> None:
    """Two sites of a commune may not have names that fold to the same key (``Gare``, ``GARE``,
    ``Gare`` with a zero-width space): ``--site NAME`` would not know which one is meant."""
    taken = await session.scalar(
        select(Site.name).where(
            Site.commune_id == commune_id, Site.name_key == fold_name(name), Site.id != (site_id or 0)
        )
    )
    if taken is not None:
        raise Conflict(f"the commune already has a site named {taken!r}, the same name as {name!r}")


async def rename_site(session: AsyncSession, *, site: Site, name: str) -> Site:
    name = display_name(name, what="site")
    await _check_site_name_free(session, commune_id=site.commune_id, name=name, site_id=site.id)
    site.name = name
    await flush_or_conflict(session, f"the commune already has a site named {name!r}")
    return site


async def find_site(session: AsyncSession, name: str, *, commune: Commune | None = None) -> Site:
    query = select(Site).where(Site.name_key == fold_name(name))
    if commune is not None:
        query = query.where(Site.commune_id == commune.id)
    matches = (await session.scalars(query.options(selectinload(Site.commune)))).all()
    if not matches:
        where = f" in {commune.name}" if commune else ""
        raise NotFound(f"no site named {name!r}{where}")
    if len(matches) > 1:
        raise InvalidInput(f"several communes have a site named {name!r}: name the commune too")
    return matches[0]


async def list_sites(session: AsyncSession, *, commune: Commune | None = None) -> Sequence[Site]:
    query = select(Site).options(selectinload(Site.commune)).order_by(Site.name)
    if commune is not None:
        query = query.where(Site.commune_id == commune.id)
    return (await session.scalars(query)).all()


# -- NAS clients ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressRules:
    """How wide an access point's range may be (``radius.nas_min_prefix_v4``/``_v6``)."""

    min_prefix_v4: int = 16
    min_prefix_v6: int = 48


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def _comparable(network: Network) -> Network:
    """An IPv4-mapped IPv6 range (``::ffff:10.1.0.0/120``) as the IPv4 range it is."""
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96 and network.subnet_of(_MAPPED):
        base = int(network.network_address) & 0xFFFFFFFF
        return ipaddress.IPv4Network((base, network.prefixlen - 96))
    return network


def _overlap(a: Network, b: Network) -> bool:
    if isinstance(a, ipaddress.IPv4Network) and isinstance(b, ipaddress.IPv4Network):
        return a.overlaps(b)
    if isinstance(a, ipaddress.IPv6Network) and isinstance(b, ipaddress.IPv6Network):
        return a.overlaps(b)
    # one of each: an IPv6 range wider than /96 can hold every IPv4-mapped address
    return any(isinstance(n, ipaddress.IPv6Network) and n.supernet_of(_MAPPED) for n in (a, b))


async def check_nas_address(
    session: AsyncSession,
    address: str,
    *,
    rules: AddressRules | None = None,
    allow_overlap: bool = False,
    site: Site | None = None,
    nas_id: int | None = None,
) -> str:
    """The canonical form of an access point's address, refused when wider than ``rules`` allow
    (``0.0.0.0/0`` would take every other access point's traffic and accounting) or when it
    overlaps another access point's address or range — IPv4 and IPv6, an IPv4-mapped IPv6 range
    counting as the IPv4 one — unless ``allow_overlap`` (for region admins, who must say so). The
    same address twice is always refused. ``nas_id``: the access point being changed, not counted."""
    rules = rules or AddressRules()
    nasname = normalize_nas_address(address)
    network = _comparable(ipaddress.ip_network(nasname))
    floor = rules.min_prefix_v4 if isinstance(network, ipaddress.IPv4Network) else rules.min_prefix_v6
    if network.prefixlen < floor:
        raise InvalidInput(
            f"{nasname} is too wide: an access point's range is at most a /{floor} "
            f"(radius.nas_min_prefix_v{network.version})"
        )
    rows = (
        await session.execute(
            select(Nas.id, Nas.shortname, Nas.nasname, Site.commune_id).join(Site, Site.id == Nas.site_id)
        )
    ).all()
    same_commune: list[str] = []
    elsewhere = 0
    for other_id, shortname, other, commune_id in rows:
        if other_id == nas_id:
            continue
        if other == nasname:
            raise Conflict(f"another access point already uses {nasname}")
        if _overlap(network, _comparable(ipaddress.ip_network(other))):
            if site is not None and commune_id == site.commune_id:
                same_commune.append(f"{shortname} ({other})")
            else:
                elsewhere += 1
    if (same_commune or elsewhere) and not allow_overlap:
        parts = same_commune + ([f"{elsewhere} in another commune"] if elsewhere else [])
        raise Conflict(
            f"{nasname} overlaps the addresses of other access points: {', '.join(parts)} "
            "(a region admin may allow it explicitly)"
        )
    return nasname


async def set_nas_address(
    session: AsyncSession,
    *,
    nas: Nas,
    site: Site,
    address: str,
    rules: AddressRules | None = None,
    allow_overlap: bool = False,
) -> Nas:
    """Move an access point to another address or range, under :func:`check_nas_address`'s rules."""
    nas.nasname = await check_nas_address(
        session, address, rules=rules, allow_overlap=allow_overlap, site=site, nas_id=nas.id
    )
    await flush_or_conflict(session, f"another access point already uses {nas.nasname}")
    return nas


def check_nas_secret(secret: str) -> bytes:
    raw = secret.encode("utf-8")
    if not MIN_NAS_SECRET <= len(raw) <= MAX_NAS_SECRET:
        # RFC 2865 §3 asks for at least 16 octets; 8 is the floor we accept for legacy gear.
        raise InvalidInput(
            f"a shared secret has {MIN_NAS_SECRET} to {MAX_NAS_SECRET} bytes (16+ recommended)"
        )
    return raw


async def add_nas(
    session: AsyncSession,
    *,
    box: SecretBox,
    site: Site,
    name: str,
    address: str,
    secret: str,
    vendor: str = "other",
    handoff: str = "none",
    coa_port: int = 3799,
    require_message_authenticator: bool = True,
    description: str | None = None,
    rules: AddressRules | None = None,
    allow_overlap: bool = False,
) -> Nas:
    """Register an access point or controller; its secret is sealed before it reaches the session."""
    shortname = display_name(name, what="access point", max_length=64)
    kind = check_vendor(vendor)
    nasname = await check_nas_address(session, address, rules=rules, allow_overlap=allow_overlap, site=site)
    if handoff not in HANDOFFS:
        raise InvalidInput(f"unknown hand-off {handoff!r}; choose one of {', '.join(HANDOFFS)}")
    # a hand-off that needs a secret or targets (CoovaChilli, form POST) is set by set_handoff
    check_handoff(handoff, {}, has_uam_secret=False)
    if not 1 <= coa_port <= 65535:
        raise InvalidInput("the CoA port is between 1 and 65535")
    sealed = seal_nas_secret(box, secret)
    taken = await session.scalar(select(Nas.shortname).where(Nas.shortname_key == fold_name(shortname)))
    if taken is not None:
        raise Conflict(f"an access point named {taken!r} already exists (the same name as {shortname!r})")
    nas = Nas(
        site=site,
        shortname=shortname,
        nasname=nasname,
        type=kind,
        handoff=handoff,
        secret_ciphertext=sealed,
        coa_port=coa_port,
        require_message_authenticator=require_message_authenticator,
        description=description,
    )
    session.add(nas)
    await flush_or_conflict(session, f"an access point named {shortname!r} or at {nasname} already exists")
    return nas


def seal_nas_secret(box: SecretBox, secret: str) -> str:
    """A shared secret checked and sealed for ``nas.secret_ciphertext`` (new or rotated)."""
    return box.seal(check_nas_secret(secret), purpose=NAS_SECRET_PURPOSE)


def nas_secret(box: SecretBox, nas: Nas) -> bytes:
    """The shared secret of a NAS, for the RADIUS server only: never log or return it."""
    return box.open(nas.secret_ciphertext, purpose=NAS_SECRET_PURPOSE)


def uam_secret(box: SecretBox, nas: Nas) -> bytes | None:
    """The controller's UAM secret, for the portal's hand-off only; None when there is none."""
    return (
        box.open(nas.uam_secret_ciphertext, purpose=UAM_SECRET_PURPOSE) if nas.uam_secret_ciphertext else None
    )


def handoff_options(nas: Nas) -> dict[str, str]:
    """The hand-off options :func:`set_handoff` stored (a JSON object of strings; else empty)."""
    try:
        value = json.loads(nas.handoff_options or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


async def find_nas(session: AsyncSession, name: str) -> Nas:
    nas = await session.scalar(
        select(Nas)
        .where(Nas.shortname_key == fold_name(name))
        .options(selectinload(Nas.site).selectinload(Site.commune))
    )
    if nas is None:
        raise NotFound(f"no access point named {name!r}")
    return nas


async def list_nas(session: AsyncSession) -> Sequence[Nas]:
    query = select(Nas).options(selectinload(Nas.site).selectinload(Site.commune)).order_by(Nas.shortname)
    return (await session.scalars(query)).all()


async def remove_nas(session: AsyncSession, *, name: str) -> None:
    await session.delete(await find_nas(session, name))
    await session.flush()


async def set_handoff(
    session: AsyncSession,
    *,
    box: SecretBox,
    nas: Nas,
    handoff: str,
    uam_secret: str | None = None,
    options: Mapping[str, str] | None = None,
) -> Nas:
    """How the captive portal hands people back to this access point: the integration, its UAM
    secret (sealed; ``""`` removes it, ``None`` keeps it) and its options (replaced when given).

    The result is checked as a whole (:func:`check_handoff`) before anything changes."""
    if handoff not in HANDOFFS:
        raise InvalidInput(f"unknown hand-off {handoff!r}; choose one of {', '.join(HANDOFFS)}")
    if uam_secret and not 1 <= len(uam_secret.encode()) <= 128:
        raise InvalidInput("a UAM secret has 1 to 128 bytes")
    if options is not None:
        for key, value in options.items():
            if not re.fullmatch(r"[a-z_]{1,40}", key) or len(value) > 500:
                raise InvalidInput(
                    f"hand-off option {key!r}: a lower-case name and a value of at most 500 characters"
                )
    has_secret = bool(uam_secret) if uam_secret is not None else nas.uam_secret_ciphertext is not None
    check_handoff(handoff, handoff_options(nas) if options is None else options, has_uam_secret=has_secret)
    nas.handoff = handoff
    if uam_secret is not None:
        nas.uam_secret_ciphertext = (
            box.seal(uam_secret.encode(), purpose=UAM_SECRET_PURPOSE) if uam_secret else None
        )
    if options is not None:
        nas.handoff_options = json.dumps(dict(options), sort_keys=True) if options else None
    await session.flush()
    return nas


#: the hand-off options that name where a browser (and a token) goes; True: a portal path is fine
HANDOFF_TARGETS = {"login_url": False, "uamserver": False, "done_url": True}


def check_handoff(handoff: str, options: Mapping[str, str], *, has_uam_secret: bool) -> None:
    """Refuse hand-off settings that could send a citizen's browser or token somewhere unsafe
    (issue 14): every target passes :func:`accounts.weburl.web_target`; CoovaChilli needs its UAM
    secret (else its links are unsigned and name any uamip and challenge); a form POST names a
    fixed ``login_url`` or a ``login_url_param`` with ``allowed_hosts``, never neither."""
    for key, local_paths in HANDOFF_TARGETS.items():
        if options.get(key):
            web_target(options[key], what=f"hand-off option {key}", local_paths=local_paths)
    if handoff == "coovachilli":
        if not has_uam_secret:
            raise InvalidInput("a CoovaChilli hand-off needs the controller's UAM secret")
        if options.get("auth", "pap") not in ("pap", "chap"):
            raise InvalidInput("the CoovaChilli option auth is pap or chap")
    elif handoff == "form_post":
        if bool(options.get("login_url")) == bool(options.get("login_url_param")):
            raise InvalidInput("a form POST hand-off needs login_url or login_url_param (not both)")
        hosts = [h.strip() for h in options.get("allowed_hosts", "").split(",") if h.strip()]
        if options.get("login_url_param") and not hosts:
            raise InvalidInput("login_url_param needs allowed_hosts (the controller's host names)")
        for host in hosts:
            name = host.strip("[]").lower().rstrip(".").removeprefix(".")
            if not re.fullmatch(r"[a-z0-9.:-]{1,253}", name) or name.startswith("-"):
                raise InvalidInput(f"allowed_hosts: {host!r} is not a host name or an IP address")


async def set_wifi4eu(session: AsyncSession, *, site: Site, network_id: str | None) -> Site:
    """The WiFi4EU network identifier of a site (its portal then embeds the Commission's snippet)."""
    if network_id is not None and not re.fullmatch(r"[A-Za-z0-9-]{1,64}", network_id.strip()):
        raise InvalidInput("a WiFi4EU network identifier has 1 to 64 letters, digits or '-'")
    site.wifi4eu_network_id = network_id.strip() if network_id else None
    await session.flush()
    return site


BRANDING_FIELDS = ("title", "logo_url", "color", "welcome_text", "terms_text", "terms_version")


BRANDING_LIMITS = {"title": 120, "terms_version": 32, "welcome_text": 2000, "terms_text": 50_000}


def check_branding(values: Mapping[str, str | None]) -> None:
    """Refuse branding a portal must not show: an unknown field, a colour that is not ``#rrggbb``,
    a logo elsewhere than an https:// address under the :mod:`accounts.weburl` rule or a /static/
    path, a text over its length. Also what the console's live preview of a draft checks."""
    unknown = set(values) - set(BRANDING_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown branding fields: {', '.join(sorted(unknown))}")
    color = values.get("color")
    if color and not re.fullmatch(r"#[0-9a-fA-F]{6}", color):
        raise InvalidInput("a colour is written #rrggbb")
    logo = values.get("logo_url")
    if logo and not (logo.startswith("/static/") or logo.startswith("https://")):
        raise InvalidInput("a logo is an https:// address (in the walled garden) or a /static/ path")
    if logo:
        web_target(logo, what="the logo", local_paths=True)
    for name, value in values.items():
        limit = BRANDING_LIMITS.get(name, 500)
        if value is not None and len(value.strip()) > limit:
            raise InvalidInput(f"{name}: at most {limit} characters")


async def set_branding(
    session: AsyncSession,
    *,
    commune: Commune | None = None,
    site: Site | None = None,
    values: Mapping[str, str | None],
) -> Branding:
    """Set fields of a commune's or a site's portal branding (``None`` or ``""`` clears a field)."""
    if (commune is None) == (site is None):
        raise InvalidInput("brand either a commune or a site")
    check_branding(values)
    if commune is not None:
        branding = await session.scalar(select(Branding).where(Branding.commune_id == commune.id))
    else:
        assert site is not None
        branding = await session.scalar(select(Branding).where(Branding.site_id == site.id))
    if branding is None:
        branding = Branding(commune_id=commune.id if commune else None, site_id=site.id if site else None)
        session.add(branding)
    for name, value in values.items():
        value = (value or "").strip() or None
        setattr(branding, name, value.lower() if name == "color" and value else value)
    await session.flush()
    return branding
