"""Reference data every signed-in user reads: the registered parties and the Paris Declaration
paragraphs (the same services as GET /api/v1/parties and /api/v1/paris-paragraphs)."""

from __future__ import annotations

from fastapi import Request, Response

from app.api import DbSession
from app.parties.service import list_parties
from app.reference.service import list_paragraphs
from app.web.deps import PagePrincipal, portal_router
from app.web.render import N_, NavItem, render

router = portal_router()
NAV = [NavItem("/parties", N_("Parties"), order=70),
       NavItem("/paris-paragraphs", N_("Paris Declaration"), order=75)]
KINDS = {"state": N_("State"), "court": N_("Court"), "organization": N_("Organisation")}


@router.get("/parties")
def parties(request: Request, session: DbSession, principal: PagePrincipal) -> Response:
    return render(request, "reference/parties.html", {"parties": list_parties(session),
                                                      "kinds": KINDS})


@router.get("/paris-paragraphs")
def paragraphs(request: Request, session: DbSession, principal: PagePrincipal) -> Response:
    return render(request, "reference/paragraphs.html", {"paragraphs": list_paragraphs(session)})
