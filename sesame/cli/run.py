"""``sesame serve`` and ``sesame demo``: run the service in the foreground."""

from __future__ import annotations

import contextlib
import logging
import os

import typer

from sesame import preflight, startup
from sesame.cli.context import Context, run_command
from sesame.demo import seed_demo
from sesame.logs import configure_logging
from sesame.settings import Settings, get_settings
from sesame.workers import run_event_loop

log = logging.getLogger("sesame")


def _run(settings: Settings) -> None:
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    if not settings.is_development:  # production: the preflight first, before the database is touched
        findings = preflight.check(settings)
        if preflight.blocking(findings):
            raise startup.StartupError(preflight.refusal(findings))
        for finding in findings:
            log.warning("check: %s", finding)
    startup.prepare_schema(settings)
    startup.check_secret_key(settings)
    with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C during shutdown
        run_event_loop(startup.serve(settings))


def serve(
    demo: bool = typer.Option(
        False, "--demo", help="Seed demo data first (development mode), as `sesame demo`."
    ),
    radius_workers: int | None = typer.Option(
        None,
        "--radius-workers",
        min=1,
        max=64,
        help="RADIUS worker processes sharing the ports (SO_REUSEPORT).",
    ),
) -> None:
    """Run every enabled service in the foreground until SIGTERM or Ctrl-C."""
    if radius_workers is not None:
        os.environ["SESAME_RADIUS_WORKERS"] = str(radius_workers)
        get_settings.cache_clear()
    if demo:
        _demo()
        return
    _run(get_settings())


def _demo() -> None:
    os.environ.setdefault("SESAME_ENVIRONMENT", "development")
    get_settings.cache_clear()
    settings = get_settings()
    startup.check_ports_free(settings)  # before the demo password changes: a second demo fails here

    async def action(ctx: Context) -> str:
        creds = await seed_demo(ctx.session, region=ctx.region, box=ctx.box, hasher=ctx.hasher)
        web = f"http://{settings.web.bind}:{settings.web.port}"
        return "\n".join(
            [
                "Sésame demo data is ready:",
                "  commune Valence (26362), site Médiathèque François Mitterrand",
                f"  access point demo-ap at {creds.nas_address}, shared secret {creds.nas_secret}",
                f"  account {creds.identity}, password {creds.password}",
                f"  health: {web}/healthz   readiness: {web}/readyz   API docs: {web}/api/docs",
                "  in another terminal: . .venv/bin/activate && export SESAME_ENVIRONMENT=development",
                "  then e.g.: radtest demo '<password>' 127.0.0.1 0 testing123 ;"
                " sesame token issue demo --nas demo-ap",
            ]
        )

    typer.echo(run_command(action))
    _run(settings)


def demo() -> None:
    """Seed a demo commune, site, access point (127.0.0.1) and account, print them, and serve."""
    _demo()


def check() -> None:
    """Is this configuration ready for production? One line per thing to change; exit 0 when
    ready, 2 when not (what `sesame serve` refuses to start with in production)."""
    findings = preflight.check(get_settings())
    for finding in findings:
        typer.echo(f"{'error' if finding.blocking else 'warning'}: {finding}", err=finding.blocking)
    if preflight.blocking(findings):
        raise typer.Exit(2)
    typer.echo("ready for production" + (" (with the warnings above)" if findings else ""))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("demo")(demo)
    app.command("check")(check)
