"""The yearly report as one printable HTML document with its charts inline (`arx report --format
html`): the portal's report page, without the portal around it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.requests.service import list_obstacles
from app.stats import charts
from app.stats.service import YearlyReport
from app.web.i18n import translations
from app.web.pages.stats import COLUMNS, LABELS, SECTIONS
from app.web.render import environment


def report_document(session: Session, principal: Principal, report: YearlyReport, *,
                    lang: str = "en") -> str:
    gettext = translations(lang).gettext
    built = [charts.build(session, principal, name, scope="platform", year=report.year,
                          gettext=gettext, labels=LABELS, audit=False) for name in charts.NAMES]
    french = lang == "fr"
    obstacles = {o.code: (o.label_fr if french and o.label_fr else o.label)
                 for o in list_obstacles(session)}
    return environment(lang).get_template("stats/report_document.html").render(
        lang=lang, report=report, charts=built, sections=SECTIONS, columns=COLUMNS, labels=LABELS,
        obstacles=obstacles)
