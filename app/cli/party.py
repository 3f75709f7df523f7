"""`arx party …` commands."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import JsonOpt, emit, operator, run_in_unit_of_work
from app.parties.service import add_party

party_app = typer.Typer(help="Parties: States, the Court, organisations.", no_args_is_help=True)


@party_app.command("add")
def party_add(code: str, name: Annotated[str, typer.Option(help="Display name.")],
              kind: Annotated[str, typer.Option(help="state | court | organization")],
              as_json: JsonOpt = False) -> None:
    """Register a party."""
    party = run_in_unit_of_work(lambda s, rt: add_party(s, operator(), code=code, name=name, kind=kind))
    emit(as_json, {"code": party.code, "name": party.name, "kind": party.kind},
         f"party {party.code} registered")
