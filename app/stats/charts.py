"""The statistics charts: each a table of numbers (shown under the chart, and as CSV) and a
server-rendered SVG drawn from the same table with pygal. No JavaScript: pygal's configuration script is
removed, and the SVG is shown as an image (<img>), where nothing in it could run anyway."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pygal
from pygal.style import Style
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.stats import service

SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)
# The portal's palette (app/web/static/portal.css), dark enough for text contrast on white.
STYLE = Style(background="#ffffff", plot_background="#ffffff", foreground="#1b1f24",
              foreground_strong="#1b1f24", foreground_subtle="#4a525c", opacity="1",
              opacity_hover="1", font_family='"Noto Sans", "DejaVu Sans", Arial, sans-serif',
              guide_stroke_color="#c4cad1", major_guide_stroke_color="#8a949e",
              colors=("#123a63", "#b3261e", "#1d6b38", "#8a5a00", "#5b2a86", "#00707a", "#4a525c"))


@dataclass
class Chart:
    """One chart's numbers: column headings, rows of cells, and how many cells were suppressed."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    suppressed: int
    svg: Callable[[], str]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns)
        writer.writerows(["" if c is None else c for c in row] for row in self.rows)
        return out.getvalue()


def clean_svg(svg: str) -> str:
    """pygal's SVG without its configuration script or comments (nothing executable, no dates)."""
    return COMMENT.sub("", SCRIPT.sub("", svg))


def _render(chart: Any) -> str:
    return clean_svg(chart.render(is_unicode=True))


def _config(title: str) -> dict[str, Any]:
    return {"js": [], "disable_xml_declaration": True, "style": STYLE, "title": title,
            "width": 800, "height": 420, "legend_at_bottom": True, "legend_at_bottom_columns": 4,
            "print_values": False, "no_prefix": False, "show_y_guides": True, "truncate_label": 24}


def _count_ticks(top: int) -> list[int]:
    """Whole-number ticks for a count axis (pygal would otherwise draw 0.1, 0.2, … for small counts)."""
    step = max(1, -(-max(top, 1) // 8))
    return list(range(0, max(top, 1) + step, step))


NAMES = ("assets-by-status", "notices-by-paragraph", "turnaround-by-priority")


def build(session: Session, principal: Principal, name: str, *, scope: service.Scope,
          year: int | None, gettext: Callable[[str], str], labels: dict[str, str],
          audit: bool = True) -> Chart:
    """The named chart over the scope (and year), its texts in the reader's language."""
    _ = gettext
    if name == "assets-by-status":
        table = service.asset_statistics(session, principal, by="month", scope=scope, year=year,
                                         audit=audit)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for row in table.rows:
            counts[(row["month"], row["status"])] += row["assets"]
        months = sorted({m for m, _s in counts})
        statuses = [s for s in service.ASSET_STATUSES if any(st == s for _m, st in counts)]
        title = _("Assets by status over time")

        def svg_assets() -> str:
            chart = pygal.StackedBar(**_config(title), x_title=_("Month first posted"),
                                     y_title=_("Assets"))
            chart.x_labels = months
            chart.y_labels = _count_ticks(max((sum(counts.get((m, s), 0) for s in statuses)
                                               for m in months), default=0))
            for status in statuses:
                chart.add(_(labels.get(status, status)), [counts.get((m, status), 0) for m in months])
            return _render(chart)

        return Chart(name, title, [_("Month"), *[_(labels.get(s, s)) for s in statuses]],
                     [[m, *[counts.get((m, s), 0) for s in statuses]] for m in months],
                     table.suppressed, svg_assets)
    if name == "notices-by-paragraph":
        table = service.notice_statistics(session, principal, by="paris_paragraph", scope=scope,
                                          year=year, audit=audit)
        rows = sorted(([r["paris_paragraph"], r["notices"]] for r in table.rows),
                      key=lambda r: _paragraph_order(r[0]))
        title = _("Notices per Paris Declaration paragraph")

        def svg_notices() -> str:
            chart = pygal.Bar(**_config(title), show_legend=False, x_title=_("Paragraph"),
                              y_title=_("Notices"))
            chart.x_labels = [r[0] for r in rows]
            chart.y_labels = _count_ticks(max((r[1] for r in rows), default=0))
            chart.add(_("Notices"), [r[1] for r in rows])
            return _render(chart)

        return Chart(name, title, [_("Paragraph"), _("Notices")], rows, table.suppressed, svg_notices)
    if name == "turnaround-by-priority":
        table = service.request_statistics(session, principal, by="priority", scope=scope, year=year,
                                           audit=audit)
        rows = [[_(labels.get(r["priority"], r["priority"])), r["requests"],
                 r["median_days_to_acknowledge"], r["median_days_to_close"],
                 r["closed_on_time_share"]] for r in table.rows]
        title = _("Request turnaround per priority")

        def svg_turnaround() -> str:
            chart = pygal.Bar(**_config(title), x_title=_("Priority"), y_title=_("Median days"))
            chart.x_labels = [r[0] for r in rows]
            chart.add(_("Median days to acknowledge"), [r[2] for r in rows])
            chart.add(_("Median days to close"), [r[3] for r in rows])
            return _render(chart)

        return Chart(name, title, [_("Priority"), _("Requests"), _("Median days to acknowledge"),
                                   _("Median days to close"), _("Share closed by the due date")],
                     rows, table.suppressed, svg_turnaround)
    raise KeyError(name)


def _paragraph_order(number: str) -> tuple[int, str]:
    digits = re.match(r"\d+", number)
    return (int(digits.group()) if digits else 0, number)
