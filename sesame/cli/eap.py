"""``sesame eap``: the server's certificates for a trial, and devices' EAP-TLS certificates."""

from __future__ import annotations

from pathlib import Path

import typer
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from accounts import certificates, users
from accounts.errors import InvalidInput
from accounts.models import utcnow
from radius.eap.trialpki import Issued, make_device, make_trial_pki, write
from sesame.cli.context import Context, FileUnreadable, run_command
from sesame.db import os_error_reason
from sesame.settings import get_settings

app = typer.Typer(help="EAP (PEAP, EAP-TTLS, EAP-TLS): certificates.", no_args_is_help=True)
device_cert = typer.Typer(help="Devices' EAP-TLS certificates.", no_args_is_help=True)
app.add_typer(device_cert, name="device-cert")


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileUnreadable(f"{path}: cannot read {what}: {os_error_reason(exc)}") from None


@app.command("make-certs")
def make_certs(
    directory: Path = typer.Argument(..., help="Where to write the files (created if missing)."),
    rsa: bool = typer.Option(False, "--rsa", help="RSA-2048 keys instead of ECDSA P-256."),
) -> None:
    """Make a CA, a server certificate (radius.<realm>) and a device CA, for a trial; print the
    settings that use them (SESAME_EAP_CA: the CA devices trust, published by the portal). In
    production, use the region's own PKI."""
    realm = get_settings().realm
    try:
        files = make_trial_pki(directory, realm=realm, kind="rsa" if rsa else "ec")
    except OSError as exc:
        raise FileUnreadable(f"{directory}: cannot write the certificates: {os_error_reason(exc)}") from None
    typer.echo(
        f"devices must trust the CA {files.ca} and check the server name radius.{realm} "
        "(the portal publishes both at /eap/)",
        err=True,
    )
    typer.echo(f"SESAME_EAP_CERTIFICATE={files.server_certificate}")
    typer.echo(f"SESAME_EAP_PRIVATE_KEY={files.server_key}")
    typer.echo(f"SESAME_EAP_CA={files.ca}")
    typer.echo(f"SESAME_EAP_DEVICE_CA={files.device_ca}")
    typer.echo(f"SESAME_ONBOARDING_DEVICE_CA_KEY={files.device_ca_key}")


@device_cert.command("issue")
def device_cert_issue(
    identity: str = typer.Argument(..., help="username or username@realm"),
    ca_dir: Path = typer.Option(..., "--ca-dir", help="The directory of `sesame eap make-certs`."),
    out: Path = typer.Option(..., "--out", help="File prefix: writes PREFIX.pem and PREFIX.key."),
    label: str = typer.Option("device", "--label", help="Which device it is for."),
) -> None:
    """Issue a device certificate with the trial device CA and register it (for trials; onboarding
    issues them in production)."""
    ca_cert = certificates.load_certificate(_read(ca_dir / "device-ca.pem", "the device CA"))
    try:
        ca_key = load_pem_private_key(_read(ca_dir / "device-ca.key", "the device CA's key"), None)
    except (ValueError, TypeError):
        raise InvalidInput(f"{ca_dir / 'device-ca.key'}: not an unencrypted PEM private key") from None
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise InvalidInput(f"{ca_dir / 'device-ca.key'}: an ECDSA or RSA key is needed")

    async def action(ctx: Context) -> tuple[str, int]:
        account = await users.find_account(ctx.session, identity, region=ctx.region)
        issued = make_device(Issued(ca_cert, ca_key), account.identity)
        row = await certificates.register_certificate(
            ctx.session, account=account, certificate=issued.certificate, label=label, now=utcnow()
        )
        try:
            write(out.with_suffix(".pem"), issued.certificate_pem())
            write(out.with_suffix(".key"), issued.key_pem(), secret=True)
        except OSError as exc:
            raise FileUnreadable(f"{out}: cannot write the certificate: {os_error_reason(exc)}") from None
        return account.identity, row.id

    who, number = run_command(action, audited="eap.device_cert.issue")
    typer.echo(f"certificate {number} for {who}: {out.with_suffix('.pem')}, key {out.with_suffix('.key')}")


@device_cert.command("add")
def device_cert_add(
    identity: str = typer.Argument(..., help="username or username@realm"),
    certificate: Path = typer.Argument(..., help="The device's certificate (PEM or DER)."),
    label: str = typer.Option("device", "--label", help="Which device it is for."),
) -> None:
    """Register a device certificate issued by the device CA for an account."""
    parsed = certificates.load_certificate(_read(certificate, "the certificate"))

    async def action(ctx: Context) -> str:
        account = await users.find_account(ctx.session, identity, region=ctx.region)
        row = await certificates.register_certificate(
            ctx.session, account=account, certificate=parsed, label=label, now=utcnow()
        )
        return f"certificate {row.id} registered for {account.identity}"

    typer.echo(run_command(action, audited="eap.device_cert.add"))


@device_cert.command("list")
def device_cert_list(identity: str = typer.Argument(..., help="username or username@realm")) -> None:
    """List an account's device certificates."""

    async def action(ctx: Context) -> list[str]:
        account = await users.find_account(ctx.session, identity, region=ctx.region)
        return [
            f"{c.id}  {c.label}  serial {c.serial}  until {c.not_after:%Y-%m-%d}  "
            f"{'revoked' if c.revoked_at else 'active'}"
            for c in await certificates.list_certificates(ctx.session, account=account)
        ]

    for line in run_command(action):
        typer.echo(line)


@device_cert.command("revoke")
def device_cert_revoke(
    identity: str = typer.Argument(..., help="username or username@realm"),
    number: int = typer.Argument(..., help="The certificate's number (see `device-cert list`)."),
) -> None:
    """Revoke a device certificate: its next handshake is refused, on every worker."""

    async def action(ctx: Context) -> str:
        account = await users.find_account(ctx.session, identity, region=ctx.region)
        await certificates.revoke_certificate(
            ctx.session, account=account, certificate_id=number, now=utcnow()
        )
        return f"certificate {number} of {account.identity} revoked"

    typer.echo(run_command(action, audited="eap.device_cert.revoke"))
