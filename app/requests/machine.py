"""The request status machine, in one table: which side may move a request from which status to which.

    sent ──▶ acknowledged ──▶ in_progress ──▶ executed | partially_executed* | refused*
      └──────────┴──────────────┴──▶ withdrawn (requester)            * obstacle codes required

Every move not in TRANSITIONS (including any move out of a final status) is impossible: 409.
"""

from enum import StrEnum

from app.requests.schemas import Status


class Side(StrEnum):
    REQUESTER = "requester"
    ADDRESSEE = "addressee"


TRANSITIONS: dict[tuple[Status, Status], Side] = {
    (Status.SENT, Status.ACKNOWLEDGED): Side.ADDRESSEE,
    (Status.ACKNOWLEDGED, Status.IN_PROGRESS): Side.ADDRESSEE,
    (Status.IN_PROGRESS, Status.EXECUTED): Side.ADDRESSEE,
    (Status.IN_PROGRESS, Status.PARTIALLY_EXECUTED): Side.ADDRESSEE,
    (Status.IN_PROGRESS, Status.REFUSED): Side.ADDRESSEE,
    (Status.SENT, Status.WITHDRAWN): Side.REQUESTER,
    (Status.ACKNOWLEDGED, Status.WITHDRAWN): Side.REQUESTER,
    (Status.IN_PROGRESS, Status.WITHDRAWN): Side.REQUESTER,
}
NEEDS_OBSTACLES = frozenset({Status.REFUSED, Status.PARTIALLY_EXECUTED})
FINAL = frozenset({Status.EXECUTED, Status.PARTIALLY_EXECUTED, Status.REFUSED, Status.WITHDRAWN})


def allowed(current: Status, side: Side | None) -> list[Status]:
    """The statuses side may move a request in status current to."""
    return [to for (frm, to), who in TRANSITIONS.items() if frm == current and who == side]


def permits(current: Status, target: Status, side: Side | None) -> bool:
    return TRANSITIONS.get((current, target)) == side and side is not None
