"""``sesame onboarding``: what devices' profiles say of the secure network (SSIDs, Passpoint), and
a device CA for trials (docs/onboarding.md, "Operators: what to configure")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from accounts import network, onboarding
from accounts.errors import InvalidInput
from radius.eap.trialpki import make_ca, write
from sesame.cli.context import Context, FileUnreadable, run_command
from sesame.db import os_error_reason
from sesame.settings import get_settings

app = typer.Typer(
    help="Devices' profiles for the secure network: SSIDs, Passpoint, device CA.", no_args_is_help=True
)

#: files ``make-device-ca`` writes, in the directory given
DEVICE_CA, DEVICE_CA_KEY = "device-ca.pem", "device-ca.key"


def _shown(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(repr(v) for v in values) if values else "none"


@app.command("show")
def show(
    commune: str | None = typer.Option(None, "--commune", help="Also what applies in this commune."),
) -> None:
    """Show the region's description, and the communes with SSIDs of their own."""

    async def action(ctx: Context) -> list[str]:
        stored = await onboarding.region_onboarding(ctx.session, region=ctx.region)
        lines = [
            f"ssids: {_shown(stored.ssids)}",
            f"passpoint-fqdn: {stored.passpoint_fqdn or 'none (Passpoint off)'}",
            f"friendly-name: {stored.passpoint_friendly_name or '(the region name) ' + ctx.region.name}",
            f"nai-realm: {stored.nai_realm or '(the home realm) ' + ctx.region.realm}",
            f"rcoi: {_shown(stored.roaming_consortium_ois)}",
            f"eduroam: {'yes' if stored.eduroam else 'no'}",
            f"openroaming: {'yes' if stored.openroaming else 'no'}",
        ]
        if commune is not None:
            where = await network.find_commune(ctx.session, commune)
            own = await onboarding.commune_ssids(ctx.session, commune=where)
            lines.append(f"commune {where.name}: {_shown(own) if own else 'the region SSIDs'}")
        else:
            for place, ssids in await onboarding.commune_overrides(ctx.session, region=ctx.region):
                lines.append(f"commune {place.name} ({place.insee_code}): {_shown(ssids)}")
        return lines

    for line in run_command(action):
        typer.echo(line)


@app.command("set")
def set_(
    ssid: list[str] | None = typer.Option(
        None, "--ssid", help="A secure SSID (repeat for several, in order)."
    ),
    clear_ssids: bool = typer.Option(False, "--clear-ssids", help="No SSID (with --commune: the region's)."),
    commune: str | None = typer.Option(
        None, "--commune", help="Set this commune's own SSIDs instead (nothing else is per commune)."
    ),
    passpoint_fqdn: str | None = typer.Option(
        None, "--passpoint-fqdn", help="Passpoint's Home SP FQDN (turns Passpoint on)."
    ),
    friendly_name: str | None = typer.Option(None, "--friendly-name", help="The provider name devices show."),
    nai_realm: str | None = typer.Option(
        None, "--nai-realm", help="The NAI realm (default: the home realm)."
    ),
    rcoi: list[str] | None = typer.Option(
        None, "--rcoi", help="One of the region's own Roaming Consortium OIs, 6 or 10 hex digits (repeat)."
    ),
    eduroam: bool | None = typer.Option(
        None, "--eduroam/--no-eduroam", help="Also carry eduroam's OI (an eduroam identity provider only)."
    ),
    openroaming: bool | None = typer.Option(
        None, "--openroaming/--no-openroaming", help="Also carry OpenRoaming's OI (members only)."
    ),
    no_passpoint: bool = typer.Option(
        False, "--no-passpoint", help="Turn Passpoint off (clears its fields)."
    ),
) -> None:
    """Change the region's description (fields not given keep their value), or a commune's SSIDs.
    Audited."""
    if ssid and clear_ssids:
        raise InvalidInput("--ssid and --clear-ssids are contradictory")
    ssids = [] if clear_ssids else ssid
    changes: dict[str, Any] = {}
    if no_passpoint:
        if passpoint_fqdn or friendly_name or nai_realm or rcoi or eduroam or openroaming:
            raise InvalidInput("--no-passpoint clears Passpoint: give none of its options with it")
        changes |= {
            "passpoint_fqdn": None, "passpoint_friendly_name": None, "nai_realm": None,
            "roaming_consortium_ois": [], "eduroam": False, "openroaming": False,
        }  # fmt: skip
    given = {
        "ssids": ssids, "passpoint_fqdn": passpoint_fqdn, "passpoint_friendly_name": friendly_name,
        "nai_realm": nai_realm, "roaming_consortium_ois": rcoi,
        "eduroam": eduroam, "openroaming": openroaming,
    }  # fmt: skip
    changes |= {k: v for k, v in given.items() if v is not None}
    if commune is not None and set(changes) - {"ssids"}:
        raise InvalidInput("a commune has SSIDs of its own only: Passpoint is the region's")
    if not changes:
        raise InvalidInput("nothing to change: give --ssid, --passpoint-fqdn, … (see --help)")

    async def action(ctx: Context) -> str:
        if commune is not None:
            where = await network.find_commune(ctx.session, commune)
            own = await onboarding.set_commune_ssids(
                ctx.session, commune=where, ssids=changes["ssids"], actor=ctx.actor
            )
            return f"commune {where.name}: {_shown(own) if own else 'the region SSIDs'}"
        await onboarding.set_region_onboarding(
            ctx.session, region=ctx.region, changes=changes, actor=ctx.actor
        )
        return "onboarding of the region updated (sesame onboarding show)"

    typer.echo(run_command(action))


@app.command("make-device-ca")
def make_device_ca(
    directory: Path = typer.Argument(..., help="Where to write device-ca.pem and device-ca.key."),
    rsa: bool = typer.Option(False, "--rsa", help="RSA-2048 instead of ECDSA P-256."),
) -> None:
    """Make a device CA for a trial (it issues devices' EAP-TLS certificates) and print the settings
    that use it. An existing key is never overwritten: the certificates it issued would all stop
    working. In production, use a CA of the region's own PKI."""
    realm = get_settings().realm
    key_path = directory / DEVICE_CA_KEY
    if key_path.exists() or (directory / DEVICE_CA).exists():
        raise InvalidInput(f"{directory} already holds a device CA: move it away first (its devices use it)")
    ca = make_ca(f"{realm} device CA (trial)", organisation=realm, kind="rsa" if rsa else "ec")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        certificate = write(directory / DEVICE_CA, ca.certificate_pem())
        key = write(key_path, ca.key_pem(), secret=True)
    except OSError as exc:
        raise FileUnreadable(f"{directory}: cannot write the device CA: {os_error_reason(exc)}") from None
    typer.echo(f"a device CA for trials, valid 10 years: keep {key} to its owner only", err=True)
    typer.echo(f"SESAME_EAP_DEVICE_CA={certificate.resolve()}")
    typer.echo(f"SESAME_ONBOARDING_DEVICE_CA_KEY={key.resolve()}")
