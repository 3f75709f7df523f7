"""`arx audit …` commands."""

import typer

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
