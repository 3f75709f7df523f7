"""Read-only audit endpoints, and a notice's access log for its author party."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query

from app.api import CurrentPrincipal, DbSession, RuntimeDep
from app.audit import service
from app.audit.checkpoint import audit_keys
from app.audit.schemas import (
    AccessLog,
    AccessOut,
    AuditKeyList,
    AuditKeyOut,
    CheckpointOut,
    ConsistencyProofOut,
    EntryOut,
    EntryPage,
    InclusionProofOut,
)
from app.errors import NotFound
from app.notices import service as notices

router = APIRouter(tags=["audit"])

Size = Annotated[int, Query(ge=0, le=2**62)]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@router.get("/audit/entries", response_model=EntryPage)
def list_entries(session: DbSession, principal: CurrentPrincipal, after: Annotated[int | None,
                 Query(ge=0, le=2**62)] = None,
                 limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = service.DEFAULT_PAGE) -> EntryPage:
    """Sealed audit entries in tree order (auditors only)."""
    items, next_index = service.list_entries(session, principal, after=after, limit=limit)
    return EntryPage(items=[EntryOut(index=e.index, timestamp=e.timestamp, username=e.username,
                                     party=e.party, role=e.role, action=e.action, object_id=e.object_id,
                                     outcome=e.outcome, leaf_hash=_b64(e.leaf_hash),
                                     leaf_input=_b64(e.leaf_input)) for e in items],
                     next=next_index)


@router.get("/audit/checkpoint", response_model=CheckpointOut)
def get_checkpoint(session: DbSession, principal: CurrentPrincipal) -> CheckpointOut:
    """The latest signed checkpoint (C2SP signed note), for any authenticated user to keep."""
    latest = service.latest_checkpoint(session)
    if latest is None:
        raise NotFound("No checkpoint has been signed yet.")
    return CheckpointOut(tree_size=latest.tree_size, root_hash=_b64(latest.root_hash),
                         timestamp=latest.created_at, key_version=latest.key_version, note=latest.note)


@router.get("/audit/keys", response_model=AuditKeyList)
def get_keys(runtime: RuntimeDep) -> AuditKeyList:
    """Every audit public key that signed or signs checkpoints (public, like the JWKS)."""
    ring = runtime.keys.current()
    active = ring.active_version("audit")
    return AuditKeyList(keys=[AuditKeyOut(key_id=k.key_id, version=k.version, name=k.name,
                                          public_key=_b64(k.public_key), vkey=k.vkey,
                                          active=k.version == active)
                              for k in audit_keys(ring, runtime.settings.audit_origin)])


@router.get("/audit/proofs/inclusion", response_model=InclusionProofOut)
def get_inclusion(session: DbSession, principal: CurrentPrincipal, index: Size,
                  tree_size: Size) -> InclusionProofOut:
    """RFC 9162 inclusion proof of leaf index in the tree of tree_size leaves."""
    leaf, proof = service.inclusion(session, index, tree_size)
    return InclusionProofOut(index=index, tree_size=tree_size, leaf_hash=_b64(leaf),
                             proof=[_b64(p) for p in proof])


@router.get("/audit/proofs/consistency", response_model=ConsistencyProofOut)
def get_consistency(session: DbSession, principal: CurrentPrincipal, first: Size,
                    second: Size) -> ConsistencyProofOut:
    """RFC 9162 consistency proof from the tree of first leaves to the tree of second leaves."""
    proof = service.consistency(session, first, second)
    return ConsistencyProofOut(first=first, second=second, proof=[_b64(p) for p in proof])


@router.get("/notices/{notice_id}/access-log", response_model=AccessLog)
def get_access_log(notice_id: str, session: DbSession, principal: CurrentPrincipal,
                   after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
                   limit: Annotated[int, Query(ge=1, le=notices.ACCESS_LOG_PAGE)] = notices.ACCESS_LOG_PAGE,
                   ) -> AccessLog:
    """Who (party, role) did what to the caller's own party's notice, and when."""
    items, next_cursor = notices.notice_access_log(session, principal, notice_id, after=after, limit=limit)
    return AccessLog(items=[AccessOut(timestamp=a.timestamp, party=a.party, role=a.role, action=a.action,
                                      outcome=a.outcome, index=a.index) for a in items],
                     next_cursor=next_cursor)
