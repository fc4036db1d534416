"""The ``sesame`` command line (typer).

Every failure a person can cause — a bad argument, a bad setting, a refused change, an
unreachable database — ends in one ``error: …`` line on stderr and a non-zero exit code:

- 1: a refused or failed operation;
- 2: usage and configuration (``sesame check``: not ready for production; ``sesame serve`` in
  production refusing to start for the same reasons);
- 3: the database cannot be reached or used (:data:`EXIT_DATABASE`);
- 4: a file cannot be read or written (:data:`EXIT_FILE`);
- 5: the network: a peer refused, a name not found, a time-out (:data:`EXIT_NETWORK`);
- 130: interrupted.
"""

from __future__ import annotations

import errno
import socket
import ssl
import sys

import typer
from sqlalchemy.exc import DBAPIError

from accounts.errors import DomainError
from sesame.cli import (
    admins,
    credentials,
    db,
    eap,
    imports,
    network,
    onboarding,
    partners,
    policy,
    portal,
    requisition,
    retention,
    run,
    secrets,
    sessions,
    users,
)
from sesame.cli.context import FileUnreadable, safe_url, set_config_file
from sesame.db import DatabaseUnavailable, os_error_reason
from sesame.settings import SettingsError, get_settings
from sesame.startup import StartupError, StartupFileError

app = typer.Typer(
    name="sesame",
    help="Sésame: one public Wi-Fi identity for a whole region — RADIUS server, captive portal, admin API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    config: str | None = typer.Option(
        None, "--config", "-c", help="TOML configuration file (also SESAME_CONFIG).", metavar="PATH"
    ),
) -> None:
    if config is not None:
        set_config_file(config)


run.register(app)
app.add_typer(db.app, name="db")
app.add_typer(network.communes, name="commune")
app.add_typer(network.sites, name="site")
app.add_typer(network.nas, name="nas")
network.nas.command("handoff")(portal.nas_handoff)
network.sites.command("wifi4eu")(portal.site_wifi4eu)
app.add_typer(portal.brand, name="brand")
app.add_typer(users.app, name="user")
app.add_typer(credentials.device_app, name="device")
app.add_typer(credentials.credential_app, name="credential")
app.add_typer(credentials.token_app, name="token")
app.add_typer(policy.app, name="policy")
app.add_typer(retention.app, name="retention")
app.add_typer(secrets.app, name="secrets")
app.add_typer(sessions.app, name="session")
app.add_typer(admins.app, name="admin")
app.add_typer(partners.app, name="partner")
app.add_typer(eap.app, name="eap")
app.add_typer(onboarding.app, name="onboarding")
app.add_typer(requisition.app, name="requisition")
app.add_typer(imports.import_app, name="import")
app.add_typer(imports.export_app, name="export")


EXIT_DATABASE = 3
EXIT_FILE = 4
EXIT_NETWORK = 5

#: errors of a socket, not of a file (an ``OSError`` reaching :func:`main` carries no other hint)
_NETWORK_ERRNOS = {
    errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.ECONNREFUSED,
    errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EADDRINUSE, errno.EADDRNOTAVAIL,
}  # fmt: skip


def os_error_exit(exc: OSError) -> tuple[str, int]:
    """The line and exit code of an ``OSError`` no command turned into an error of its own."""
    if exc.filename is not None:
        return f"{exc.filename}: {os_error_reason(exc)}", EXIT_FILE
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror | socket.herror | ssl.SSLError) or (
        exc.errno in _NETWORK_ERRNOS
    ):
        return f"network: {os_error_reason(exc)}", EXIT_NETWORK
    return os_error_reason(exc), 1


def _fail(message: str, code: int) -> int:
    typer.echo(f"error: {message}", err=True)
    return code


def main(argv: list[str] | None = None) -> int:
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="sesame", standalone_mode=False)
    except typer.Abort:
        return _fail("interrupted", 130)
    except typer.TyperException as exc:  # usage errors: bad option, missing argument, bad value
        if not exc.format_message():  # no arguments at all: the help was printed
            return exc.exit_code
        ctx = getattr(exc, "ctx", None)
        where, hint = (f"{ctx.command_path}: ", f" (see '{ctx.command_path} --help')") if ctx else ("", "")
        return _fail(f"{where}{exc.format_message()}{hint}", exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except StartupFileError as exc:  # before StartupError, which it is
        return _fail(str(exc), EXIT_FILE)
    except (SettingsError, StartupError) as exc:
        return _fail(str(exc), 2)
    except DomainError as exc:
        return _fail(str(exc), 1)
    except DatabaseUnavailable as exc:
        return _fail(str(exc), EXIT_DATABASE)
    except DBAPIError as exc:  # once connected: a statement the database refused, a lost connection
        return _fail(f"database {safe_url(get_settings().database_url)}: {exc.orig}", EXIT_DATABASE)
    except FileUnreadable as exc:
        return _fail(str(exc), EXIT_FILE)
    except OSError as exc:
        return _fail(*os_error_exit(exc))
    return result if isinstance(result, int) else 0


def entry_point() -> None:
    sys.exit(main())
