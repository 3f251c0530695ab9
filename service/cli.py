"""The `instructforge` command."""

from __future__ import annotations

import msgspec
import typer

from service.client_cli import register as register_client_commands
from service.settings import SettingsError, public_settings, settings_from_env

SHUTDOWN_GRACE_S = 5  # seconds a stop (SIGTERM) waits for requests in flight

cli = typer.Typer(help="InstructForge: a synthetic instruction-data service.", no_args_is_help=True)


def _settings():
    try:
        return settings_from_env()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@cli.command()
def serve(
    host: str = typer.Option(None, help="Overrides INSTRUCTFORGE_HOST."),
    port: int = typer.Option(None, help="Overrides INSTRUCTFORGE_PORT."),
) -> None:
    """Serve the HTTP API."""
    import uvicorn

    from service.app import create_app
    from service.http_protocol import protocol_class
    from service.log_redaction import install_redaction
    from service.logging_setup import configure_logging

    settings = _settings()
    server = msgspec.structs.replace(
        settings.server, host=host or settings.server.host, port=port or settings.server.port
    )
    settings = msgspec.structs.replace(settings, server=server)
    install_redaction()  # no endpoint credentials in any log line
    log_config = configure_logging(server)  # INSTRUCTFORGE_LOG_FORMAT=json: JSON lines from here on
    config = uvicorn.Config(
        create_app(settings), host=server.host, port=server.port, log_level=server.log_level, http=protocol_class(),
        log_config=log_config,
        # Open job-event streams end only with their job: a stop waits this long for them, then cuts them.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )  # fmt: skip
    uvicorn.Server(config).run()


@cli.command("settings")
def show_settings() -> None:
    """Print the effective settings as JSON."""
    typer.echo(msgspec.json.format(msgspec.json.encode(public_settings(_settings()))))


@cli.command()
def migrate() -> None:
    """Create or upgrade the database file, then exit."""
    from store import Store

    settings = _settings()
    Store.open(settings.store.database_path).close()
    typer.echo(f"database ready: {settings.store.database_path}")


register_client_commands(cli)  # datasets, seeds, jobs, stats, export, snapshot: over HTTP (service.client_cli)


def main() -> None:
    cli()
