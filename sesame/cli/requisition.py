"""``sesame requisition``: a records-signing certificate for trials, to sign judicial requisitions'
answers (docs/privacy.md, "Answering a judicial requisition")."""

from __future__ import annotations

from pathlib import Path

import typer

from accounts.errors import InvalidInput
from radius.eap.trialpki import make_ca, make_signer, write
from sesame.cli.context import FileUnreadable
from sesame.db import os_error_reason
from sesame.settings import get_settings

app = typer.Typer(
    help="Judicial requisitions: the certificate that signs their answers.", no_args_is_help=True
)

#: files ``make-signer`` writes, in the directory given
RECORDS_CA, SIGNER, SIGNER_KEY = "records-ca.pem", "records-signer.pem", "records-signer.key"


@app.command("make-signer")
def make_records_signer(
    directory: Path = typer.Argument(..., help="Where to write records-ca.pem, records-signer.pem and .key."),
    rsa: bool = typer.Option(False, "--rsa", help="RSA-2048 instead of ECDSA P-256."),
) -> None:
    """Make a CA and a records-signing certificate for a trial and print the settings that use them.
    Give records-ca.pem to whoever checks an answer (``openssl cms -verify … -CAfile records-ca.pem``).
    Existing files are never overwritten: answers already sent were signed under them. In production,
    use a certificate of the region's own PKI."""
    realm = get_settings().realm
    paths = [directory / name for name in (RECORDS_CA, SIGNER, SIGNER_KEY)]
    if any(path.exists() for path in paths):
        raise InvalidInput(f"{directory} already holds a records signer: move it away first")
    kind = "rsa" if rsa else "ec"
    ca = make_ca(f"{realm} records CA (trial)", organisation=realm, kind=kind)
    signer = make_signer(ca, f"{realm} connection records (trial)", kind=kind, days=3650)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        ca_path = write(paths[0], ca.certificate_pem())
        certificate = write(paths[1], signer.certificate_pem())
        key = write(paths[2], signer.key_pem(), secret=True)
    except OSError as exc:
        raise FileUnreadable(
            f"{directory}: cannot write the records signer: {os_error_reason(exc)}"
        ) from None
    typer.echo(f"a records signer for trials, valid 10 years: keep {key} to its owner only", err=True)
    typer.echo(f"the CA that checks its signatures: {ca_path.resolve()}", err=True)
    typer.echo(f"SESAME_REQUISITION_SIGNING_CERTIFICATE={certificate.resolve()}")
    typer.echo(f"SESAME_REQUISITION_SIGNING_KEY={key.resolve()}")
