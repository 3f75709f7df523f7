from pydantic import BaseModel


class PartyRead(BaseModel):
    code: str
    name: str
    kind: str


class PartyList(BaseModel):
    items: list[PartyRead]
