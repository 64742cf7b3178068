"""``ektp central-emulator``: a central system (SIAK's population register and ABIS's 1:N fingerprint
deduplication) that serves the API of docs/central-api.md with real logic, to develop and test a
deployment end to end without the national data centre.

* :mod:`.submission`: what makes a body ``400 malformed``, and its canonical hash (idempotency);
* :mod:`.verdicts`: the verdict rules (register checks, then the biometric search), pure;
* :mod:`.store`: its SQLite database (SQLAlchemy Core) in the ``--data`` folder;
* :mod:`.snapshot`: the matcher's gallery kept on a clean stop, loaded on start when it fits the database;
* :mod:`.service`: submission, the verdict worker, long polls, adjudication, cards;
* :mod:`.app`: the Flask application (:func:`create_app`) and :func:`serve`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click

from ektp_core import hookimpl
from ektp_core.errors import EktpError

#: The emulator's default port (outside the SBI range 4501-4600).
DEFAULT_PORT = 4800
#: The default data folder, in the current directory.
DEFAULT_DATA = "central-emulator-data"
#: The environment variable the token is read from (the ``http`` verifier's default ``token_env``).
TOKEN_ENV = "EKTP_CENTRAL_TOKEN"
#: Where a generated token is kept in the data folder, so a restart keeps it.
TOKEN_FILE = "token"


def emulator_token(data_dir: Path, given: str | None) -> tuple[str, bool]:
    """The token to serve with and whether it was generated: the given one, else the one generated
    on an earlier start (``DATA/token``), else a new random one written there (mode 0600)."""
    if given:
        return given, False
    path = data_dir / TOKEN_FILE
    if path.exists():
        stored = path.read_text("utf-8").strip()
        if stored:
            return stored, True
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return token, True


@click.command("central-emulator")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--data",
    "data_dir",
    default=DEFAULT_DATA,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of its database (created if missing).",
)
@click.option(
    "--token",
    default=None,
    envvar=TOKEN_ENV,
    show_envvar=True,
    help="The bearer token clients must send (default: generated once and kept in DATA/token).",
)
@click.option(
    "--config",
    "config_file",
    default=None,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A profile-like TOML file: [verification.matcher] and [lifecycle] eligibility_age.",
)
@click.option(
    "--register",
    "register_file",
    default=None,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A JSON Lines file of NIKs and their holders (and printed cards) to seed the register.",
)
def central_emulator_command(
    port: int, host: str, data_dir: Path, token: str | None, config_file: Path | None, register_file: Path | None
) -> None:
    """Run a central-system emulator (the API of docs/central-api.md) until Ctrl-C or SIGTERM."""
    import logging

    from ektp_plugins.verify.central.app import serve
    from ektp_plugins.verify.central.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(config_file)
        secret, generated = emulator_token(data_dir, token)
    except (EktpError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host} with plain HTTP: the token crosses the network unencrypted", err=True)

    def announce(line: str) -> None:
        click.echo(line)
        if line.startswith("ektp central emulator: http"):
            # Printed only when generated (the operator has no other way to learn it); a token given
            # by option or environment is never echoed.
            click.echo(
                f"token: {secret} (generated; kept in {data_dir / TOKEN_FILE})"
                if generated
                else f"token: the one given by --token or ${TOKEN_ENV} (not shown)"
            )

    try:
        serve(
            host=host,
            port=port,
            data_dir=data_dir,
            token=secret,
            settings=settings,
            register_file=register_file,
            announce=announce,
        )
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except (EktpError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@hookimpl
def ektp_register_commands(cli: click.Group) -> None:
    """Add ``ektp central-emulator``."""
    cli.add_command(central_emulator_command)


__all__ = [
    "DEFAULT_DATA",
    "DEFAULT_PORT",
    "TOKEN_ENV",
    "central_emulator_command",
    "ektp_register_commands",
    "emulator_token",
]
