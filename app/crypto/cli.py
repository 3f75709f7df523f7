"""`arx keys …` commands."""

import typer

keys_app = typer.Typer(help="Key status and rotation.", no_args_is_help=True)
