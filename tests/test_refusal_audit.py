"""Refusals are audited by construction (issue 13, item 3; issue 11, item 4): the unit of work writes the
denied entry of any refused action, whichever entry point opened it (API, CLI, job)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from app import policy
from app.audit.models import AuditEntry
from app.audit.record import Action
from app.auth.principal import Principal, Role
from app.errors import Forbidden, NotFound
from app.parties.models import Party
from app.runtime import Runtime

AUDITOR = Principal(username="aud", party="FRA", role=Role.AUDITOR, request_id="req-refusal")


def entries(runtime: Runtime) -> list[tuple[str, str, str | None, str]]:
    with runtime.db.unit_of_work() as session:
        return [(e.username, e.action, e.object_id, e.outcome)
                for e in session.scalars(select(AuditEntry).where(AuditEntry.username == "aud"))]


def test_a_refusal_in_any_unit_of_work_leaves_its_denied_entry_and_nothing_else(
        runtime: Runtime) -> None:
    """As a CLI command or a job would run it: no API, no try/except at the call site."""
    def refused_use_case() -> None:
        with runtime.db.unit_of_work() as session:
            session.add(Party(code="XXA", name="half-written", kind="state"))
            session.flush()
            policy.require(policy.sees_content(AUDITOR), AUDITOR, Action.NOTICE_LIST)

    with pytest.raises(Forbidden):
        refused_use_case()
    assert entries(runtime) == [("aud", "notice.list", None, "denied")]
    with runtime.db.unit_of_work() as session:  # the refused transaction's own work is gone
        assert session.scalar(select(func.count()).select_from(Party).where(Party.code == "XXA")) == 0


def test_nested_units_of_work_write_the_entry_once(runtime: Runtime) -> None:
    target = str(uuid.uuid4())
    with pytest.raises(NotFound), runtime.db.unit_of_work(), runtime.db.unit_of_work():
        raise policy.refusal(AUDITOR, Action.NOTICE_READ, target, hidden=True)
    assert entries(runtime) == [("aud", "notice.read", target, "denied")]


@pytest.mark.parametrize("attempted", ["not-a-uuid", "Jean-Pierre Exemple", "OB0123456",
                                       str(uuid.uuid4()).upper(), "\x00" + str(uuid.uuid4())])
def test_an_attempted_id_is_kept_only_when_it_is_a_well_formed_uuid(runtime: Runtime,
                                                                    attempted: str) -> None:
    with pytest.raises(NotFound), runtime.db.unit_of_work():
        raise policy.refusal(AUDITOR, Action.NOTICE_READ, attempted, hidden=True)
    assert entries(runtime) == [("aud", "notice.read", None, "denied")]
