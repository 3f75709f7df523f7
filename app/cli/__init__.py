"""The `arx` command line: parses, opens a unit of work, calls the same services as the API.

One module per command group; the shared helpers live in `app.cli.common`. See docs/architecture.md.
"""

from __future__ import annotations

import typer

from app import features  # noqa: F401  (registers every hook subscriber)
from app.cli.audit import audit_app
from app.cli.core import init, serve
from app.cli.export import export
from app.cli.keys import keys_app
from app.cli.legislation import legislation_app
from app.cli.paragraphs import paragraphs_app
from app.cli.party import party_app
from app.cli.request import obstacles_app, request_app
from app.cli.user import user_app

app = typer.Typer(help="ARX — Asset Recovery eXchange administration.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
app.command()(init)
app.command()(serve)
app.command()(export)
app.add_typer(party_app, name="party")
app.add_typer(user_app, name="user")
app.add_typer(paragraphs_app, name="paragraphs")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(legislation_app, name="legislation")
app.add_typer(request_app, name="request")
app.add_typer(obstacles_app, name="obstacles")


def main() -> None:
    app()
