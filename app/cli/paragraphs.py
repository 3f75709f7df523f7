"""`arx paragraphs …` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import JsonOpt, emit, operator, run_in_unit_of_work
from app.reference.service import load_paragraph_file

paragraphs_app = typer.Typer(help="The Paris Declaration vocabulary.", no_args_is_help=True)


@paragraphs_app.command("load")
def paragraphs_load(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
                    as_json: JsonOpt = False) -> None:
    """Load the Paris Declaration vocabulary from a JSON file (see app/reference/paris_paragraphs.json)."""
    count = run_in_unit_of_work(lambda s, rt: load_paragraph_file(s, operator(), file))
    emit(as_json, {"loaded": count}, f"{count} paragraphs loaded")
