"""`arx request …` and `arx obstacles …` commands: routing data only, never content."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import JsonOpt, emit, operator, run_in_unit_of_work
from app.requests.service import list_routing, load_obstacle_file

request_app = typer.Typer(help="Requests for cooperation (routing data only).", no_args_is_help=True)
obstacles_app = typer.Typer(help="The obstacle vocabulary of requests.", no_args_is_help=True)


@request_app.command("list")
def request_list(party: Annotated[str | None, typer.Option(help="Requests this party sent or received.")]
                 = None,
                 overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue ones.")] = False,
                 as_json: JsonOpt = False) -> None:
    """List requests: routing data only (parties, type, priority, status, dates), never content."""
    rows = run_in_unit_of_work(lambda s, rt: list_routing(
        s, operator(), party=party.strip().upper() if party else None, overdue=overdue))
    lines = [f"{r['id']}  {r['requester']:>4} -> {r['addressee']:<4} {r['type']:<12} {r['priority']:<8} "
             f"{r['status']:<18} due {r['due_at'][:16]}{'  OVERDUE' if r['overdue'] else ''}"
             for r in rows]
    emit(as_json, {"items": rows}, "\n".join(lines) if lines else "no requests")


@obstacles_app.command("load")
def obstacles_load(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
                   as_json: JsonOpt = False) -> None:
    """Load the obstacle vocabulary from a JSON file (see app/requests/obstacles.json)."""
    count = run_in_unit_of_work(lambda s, rt: load_obstacle_file(s, operator(), file))
    emit(as_json, {"loaded": count}, f"{count} obstacles loaded")
