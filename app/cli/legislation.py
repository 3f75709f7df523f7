"""`arx legislation …`: bulk import and export of legal profiles (JSON, the API's shape)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import JsonOpt, emit, fail, operator, run_in_unit_of_work
from app.legislation.service import export_profiles, import_profiles, parse_import

legislation_app = typer.Typer(help="The database of national legislation.", no_args_is_help=True)


@legislation_app.command("import")
def import_file(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
                as_json: JsonOpt = False) -> None:
    """Load profiles from a JSON file ({"items": [...]}, as export writes); all or nothing."""
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"{file}: not a JSON file ({exc.__class__.__name__})")
    actor = operator()
    revised, unchanged = run_in_unit_of_work(
        lambda s, rt: import_profiles(s, rt, actor, parse_import(raw)))
    emit(as_json, {"revised": revised, "unchanged": unchanged},
         f"{len(revised)} profiles revised, {len(unchanged)} unchanged")


@legislation_app.command("export")
def export(party: Annotated[str | None, typer.Option(help="Only this State's profile.")] = None,
           output: Annotated[Path | None, typer.Option("--output", "-o",
                                                       help="Write here instead of stdout.")] = None
           ) -> None:
    """Print the current profiles as JSON ({"items": [...]}), the format import reads."""
    actor = operator()
    items = run_in_unit_of_work(lambda s, rt: export_profiles(s, rt, actor, party))
    text = json.dumps({"items": items}, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
