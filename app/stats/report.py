"""The yearly report as JSON and CSV (the HTML, with its charts, is rendered by app/web/report.py)."""

from __future__ import annotations

import csv
import io
from typing import Any

from app.stats.service import YearlyReport


def report_json(report: YearlyReport) -> dict[str, Any]:
    """`{"year": Y, "scope": "platform", "sections": {name: {"rows": [...], "suppressed": N}}}`."""
    return {"year": report.year, "scope": "platform",
            "sections": {name: {"rows": table.rows, "suppressed": table.suppressed}
                         for name, table in report.sections.items()}}


def report_csv(report: YearlyReport) -> str:
    """One CSV of every section: a `section` column, then the union of the sections' columns (a row
    `suppressed` per section tells how many cells were withheld)."""
    columns: list[str] = []
    for table in report.sections.values():
        for row in table.rows:
            columns += [c for c in row if c not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["year", "section", *columns, "suppressed"],
                            lineterminator="\r\n", restval="")
    writer.writeheader()
    for name, table in report.sections.items():
        for row in table.rows:
            writer.writerow({"year": report.year, "section": name,
                             **{k: "" if v is None else v for k, v in row.items()}})
        writer.writerow({"year": report.year, "section": name, "suppressed": table.suppressed})
    return out.getvalue()
