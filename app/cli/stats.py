"""`arx report` (the yearly statistical report) and `arx stats rebuild` (recount the aggregates)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from app.cli.common import JsonOpt, emit, operator, out, run_in_unit_of_work, runtime_for
from app.runtime import Runtime
from app.stats.report import report_csv, report_json
from app.stats.service import yearly_report
from app.stats.tasks import rebuild_statistics
from app.web.report import report_document

stats_app = typer.Typer(help="Statistics aggregates.", no_args_is_help=True)


class Format(StrEnum):
    HTML = "html"
    CSV = "csv"
    JSON = "json"


def report(year: Annotated[int, typer.Option("--year", min=1900, max=9999, help="The calendar year.")],
           format: Annotated[Format, typer.Option("--format", help="html, csv or json.")] = Format.JSON,
           lang: Annotated[str, typer.Option("--lang", help="Language of the HTML: en or fr.")] = "en",
           ) -> None:
    """The platform-scope cooperation statistics of a year (small cells suppressed), on stdout."""
    if lang not in ("en", "fr"):
        raise typer.BadParameter("en or fr", param_hint="--lang")

    def produce(session: Session, runtime: Runtime) -> str:
        principal = operator()
        built = yearly_report(session, principal, year)
        if format == Format.JSON:
            return json.dumps(report_json(built), indent=2) + "\n"
        if format == Format.CSV:
            return report_csv(built)
        return report_document(session, principal, built, lang=lang)

    sys.stdout.write(run_in_unit_of_work(produce))


@stats_app.command("rebuild")
def stats_rebuild(as_json: JsonOpt = False) -> None:
    """Recount the aggregates from every notice's current revision (run with the service stopped)."""
    with runtime_for() as runtime:
        counted = rebuild_statistics(runtime, operator(),
                                     progress=None if as_json else
                                     lambda n: out.print(f"{n} notices counted", highlight=False))
    emit(as_json, {"notices": counted}, f"statistics rebuilt from {counted} notices")
