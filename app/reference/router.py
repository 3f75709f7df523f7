"""GET /api/v1/paris-paragraphs."""

from fastapi import APIRouter
from pydantic import BaseModel

from app.api import CurrentPrincipal, DbSession
from app.reference.service import list_paragraphs

router = APIRouter(tags=["reference"])


class ParagraphRead(BaseModel):
    number: str
    addressee: str
    gist: str


class ParagraphList(BaseModel):
    items: list[ParagraphRead]


@router.get("/paris-paragraphs", response_model=ParagraphList)
def get_paragraphs(session: DbSession, principal: CurrentPrincipal) -> ParagraphList:
    """The loaded Paris Declaration vocabulary."""
    return ParagraphList(items=[ParagraphRead(number=p.number, addressee=p.addressee, gist=p.gist)
                                for p in list_paragraphs(session)])
